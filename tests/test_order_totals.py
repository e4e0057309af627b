"""Order totals through the GraphQL API, each figure computed by hand from the totals rule.

All amounts are in the currency's minor unit, rounded half up: a line's amount is
quantity x unit price; a line discount is a percentage of it or a fixed amount; the order
discount (a percentage of the lines' nets or a fixed amount) is spread over the lines in
proportion to their nets by largest remainder; tax is computed once per tax rate on the sum of
the taxable amounts at that rate and spread the same way. Several orders below are chosen so
that rounding each line on its own would be a minor unit off; the naive figure is given.

Tuples of line amounts read (amount, line discount, order-discount share, net, tax, gross).
Invalid numbers are refused with INVALID (precision) or OUT_OF_RANGE, and change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.client import Api
from tests.orders_client import (
    ADD_LINE,
    CREATE_ORDER,
    LINE_AMOUNT_FIELDS,
    ORDERS,
    REMOVE_LINE,
    UPDATE_LINE,
    UPDATE_ORDER,
    add_line,
    amounts,
    codes,
    create_order,
    create_product,
    event_cursor,
    line_amounts,
    read_order,
    remove_line,
    update_line,
    update_order,
)

Lines = list[tuple[str, str, str, str, str, str]]


def totals(
    subtotal: str, discount: str, order_discount: str, net: str, tax: str, grand: str
) -> dict[str, str]:
    return {
        "subtotal": subtotal,
        "discountTotal": discount,
        "orderDiscountAmount": order_discount,
        "netTotal": net,
        "taxTotal": tax,
        "grandTotal": grand,
    }


def check(order: dict[str, Any], lines: Lines, expected: dict[str, str]) -> None:
    """Every line's amounts and every total, in the order's currency."""
    assert [line_amounts(line) for line in order["lines"]] == lines
    assert amounts(order) == expected
    currencies = {line[name]["currency"] for line in order["lines"] for name in LINE_AMOUNT_FIELDS}
    currencies |= {order[name]["currency"] for name in expected}
    assert currencies == {order["currency"]}


async def created(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    """The order as createOrder returned it, checked to be what a fresh read returns."""
    order = await create_order(api, token, **fields)
    assert await read_order(api, token, order["id"]) == order
    return order


def free(price: str, rate: str, quantity: str = "1", **fields: Any) -> dict[str, Any]:
    return {
        "description": "Item",
        "unitPrice": price,
        "taxRate": rate,
        "quantity": quantity,
        **fields,
    }


def pct(value: str) -> dict[str, str]:
    return {"kind": "PERCENT", "value": value}


def fixed(value: str) -> dict[str, str]:
    return {"kind": "AMOUNT", "value": value}


# --- hand-computed orders -------------------------------------------------------------------


async def test_decimal_quantities_and_four_decimal_prices_round_half_up(
    api: Api, admin_token: str
) -> None:
    order = await created(
        api,
        admin_token,
        lines=[
            free("3.3333", "19", "2.5"),  # 8.33325 -> 8.33
            free("12.5000", "19", "0.3333"),  # 4.166625 -> 4.17
            free("0.0050", "19", "5"),  # 0.025 -> 0.03 half up (half even would say 0.02)
        ],
    )
    assert [line["quantity"] for line in order["lines"]] == ["2.5", "0.3333", "5"]
    assert [line["unitPrice"]["amount"] for line in order["lines"]] == ["3.3333", "12.50", "0.005"]
    # Tax 19 % of 12.53 = 2.3807 -> 2.38, spread 158.2 / 79.2 / 0.57 -> 158, 79, 0 + 1.
    check(
        order,
        [
            ("8.33", "0.00", "0.00", "8.33", "1.58", "9.91"),
            ("4.17", "0.00", "0.00", "4.17", "0.79", "4.96"),
            ("0.03", "0.00", "0.00", "0.03", "0.01", "0.04"),
        ],
        totals("12.53", "0.00", "0.00", "12.53", "2.38", "14.91"),
    )


async def test_percent_and_fixed_line_discounts_at_two_rates(api: Api, admin_token: str) -> None:
    order = await created(
        api,
        admin_token,
        lines=[
            free("19.99", "19", "3", discount=pct("15")),  # 59.97, 15 % = 8.9955 -> 9.00
            free("100.00", "7", discount=fixed("12.35")),  # 100.00 - 12.35 = 87.65
            free("4.99", "19", "2", discount=pct("12.5")),  # 9.98, 12.5 % = 1.2475 -> 1.25
        ],
    )
    assert [line["discount"] for line in order["lines"]] == [
        {"kind": "PERCENT", "value": "15"},
        {"kind": "AMOUNT", "value": "12.35"},
        {"kind": "PERCENT", "value": "12.5"},
    ]
    # 19 %: (50.97 + 8.73) x 19 % = 11.343 -> 11.34; 7 %: 87.65 x 7 % = 6.1355 -> 6.14.
    check(
        order,
        [
            ("59.97", "9.00", "0.00", "50.97", "9.68", "60.65"),
            ("100.00", "12.35", "0.00", "87.65", "6.14", "93.79"),
            ("9.98", "1.25", "0.00", "8.73", "1.66", "10.39"),
        ],
        totals("169.95", "22.60", "0.00", "147.35", "17.48", "164.83"),
    )


async def test_fixed_order_discount_is_spread_by_largest_remainder(
    api: Api, admin_token: str
) -> None:
    order = await created(
        api,
        admin_token,
        discount={"kind": "AMOUNT", "value": "10.00", "reason": "Loyalty"},
        lines=[free("10.00", "19") for _ in range(3)],
    )
    assert order["discount"] == {"kind": "AMOUNT", "value": "10.00", "reason": "Loyalty"}
    # Shares 3.33 1/3 each -> 3.34, 3.33, 3.33. Tax 19 % of 20.00 = 3.80, spread over
    # 6.66 / 6.67 / 6.67 -> 1.26, 1.27, 1.27. Per line: 1.2654 -> 1.27, 1.2673 -> 1.27
    # thrice, so naive rounding says 3.81.
    check(
        order,
        [
            ("10.00", "0.00", "3.34", "6.66", "1.26", "7.92"),
            ("10.00", "0.00", "3.33", "6.67", "1.27", "7.94"),
            ("10.00", "0.00", "3.33", "6.67", "1.27", "7.94"),
        ],
        totals("30.00", "10.00", "10.00", "20.00", "3.80", "23.80"),
    )


async def test_percent_order_discount_goes_to_the_largest_remainders(
    api: Api, admin_token: str
) -> None:
    order = await created(
        api,
        admin_token,
        discount=pct("10"),
        lines=[free("12.34", "19"), free("28.39", "7", "2"), free("9.99", "7")],
    )
    # 10 % of 79.11 = 7.911 -> 7.91; exact shares 1.2338, 5.6773, 0.9989 -> floors 1.23,
    # 5.67, 0.99 and the two cents left to the largest remainders (lines 3 and 2).
    # Tax 7 % of 51.10 + 8.99 = 4.2063 -> 4.21 -> 3.5801 / 0.6299 -> 3.58, 0.63.
    check(
        order,
        [
            ("12.34", "0.00", "1.23", "11.11", "2.11", "13.22"),
            ("56.78", "0.00", "5.68", "51.10", "3.58", "54.68"),
            ("9.99", "0.00", "1.00", "8.99", "0.63", "9.62"),
        ],
        totals("79.11", "7.91", "7.91", "71.20", "6.32", "77.52"),
    )


async def test_equal_remainders_go_to_the_earlier_lines(api: Api, admin_token: str) -> None:
    order = await created(
        api, admin_token, discount=fixed("0.02"), lines=[free("10.00", "19") for _ in range(3)]
    )
    # Each exact share is 0.0066...: floors 0, and the two cents go to lines 1 and 2. Tax
    # 19 % of 29.98 = 5.6962 -> 5.70, exact 1.8994 / 1.8994 / 1.9013 -> 1.89, 1.89, 1.90,
    # and the two cents left to the largest remainders (lines 1 and 2).
    check(
        order,
        [
            ("10.00", "0.00", "0.01", "9.99", "1.90", "11.89"),
            ("10.00", "0.00", "0.01", "9.99", "1.90", "11.89"),
            ("10.00", "0.00", "0.00", "10.00", "1.90", "11.90"),
        ],
        totals("30.00", "0.02", "0.02", "29.98", "5.70", "35.68"),
    )


async def test_percent_order_discount_rounds_once_not_per_line(api: Api, admin_token: str) -> None:
    order = await created(
        api, admin_token, discount=pct("10"), lines=[free("0.05", "0") for _ in range(3)]
    )
    # 10 % of 0.15 = 0.015 -> 0.02; per line 0.005 -> 0.01 thrice would say 0.03.
    check(
        order,
        [
            ("0.05", "0.00", "0.01", "0.04", "0.00", "0.04"),
            ("0.05", "0.00", "0.01", "0.04", "0.00", "0.04"),
            ("0.05", "0.00", "0.00", "0.05", "0.00", "0.05"),
        ],
        totals("0.15", "0.02", "0.02", "0.13", "0.00", "0.13"),
    )


async def test_tax_is_rounded_once_per_rate(api: Api, admin_token: str) -> None:
    order = await created(api, admin_token, lines=[free("1.05", "10") for _ in range(3)])
    # 10 % of 3.15 = 0.315 -> 0.32; per line 0.105 -> 0.11 thrice would say 0.33.
    check(
        order,
        [
            ("1.05", "0.00", "0.00", "1.05", "0.11", "1.16"),
            ("1.05", "0.00", "0.00", "1.05", "0.11", "1.16"),
            ("1.05", "0.00", "0.00", "1.05", "0.10", "1.15"),
        ],
        totals("3.15", "0.00", "0.00", "3.15", "0.32", "3.47"),
    )


async def test_one_rate_written_differently_is_one_rate(api: Api, admin_token: str) -> None:
    rates = ["19", "19.0", "19.0000"]
    order = await created(api, admin_token, lines=[free("0.03", rate) for rate in rates])
    assert [line["taxRate"] for line in order["lines"]] == ["19", "19", "19"]
    # One rate: 0.09 x 19 % = 0.0171 -> 0.02 (three rates would make it 3 x 0.01 = 0.03).
    assert order["taxTotal"]["amount"] == "0.02"


async def test_fractional_tax_rates_with_every_kind_of_discount(api: Api, admin_token: str) -> None:
    order = await created(
        api,
        admin_token,
        currency="CHF",
        discount=pct("3.5"),
        lines=[
            free("80.1234", "8.1", "1.25"),  # 100.154250 -> 100.15
            free("19.95", "2.6", "4", discount=pct("7.5")),  # 79.80, 7.5 % = 5.985 -> 5.99
            free("12.3456", "8.1", "0.75", discount=fixed("0.99")),  # 9.2592 -> 9.26
            free("4.4444", "2.6", "3"),  # 13.3332 -> 13.33
            free("50", "3.8"),
        ],
    )
    assert [line["taxRate"] for line in order["lines"]] == ["8.1", "2.6", "8.1", "2.6", "3.8"]
    # Nets 100.15 + 73.81 + 8.27 + 13.33 + 50.00 = 245.56; 3.5 % = 8.5946 -> 8.59.
    # 8.1 %: 104.63 -> 8.47503 -> 8.48; 2.6 %: 84.09 -> 2.18634 -> 2.19; 3.8 %: 48.25 ->
    # 1.8335 -> 1.83. Total 12.50; per line 7.83 + 1.85 + 0.65 + 0.33 + 1.83 = 12.49.
    check(
        order,
        [
            ("100.15", "0.00", "3.50", "96.65", "7.83", "104.48"),
            ("79.80", "5.99", "2.58", "71.23", "1.86", "73.09"),
            ("9.26", "0.99", "0.29", "7.98", "0.65", "8.63"),
            ("13.33", "0.00", "0.47", "12.86", "0.33", "13.19"),
            ("50.00", "0.00", "1.75", "48.25", "1.83", "50.08"),
        ],
        totals("252.54", "15.57", "8.59", "236.97", "12.50", "249.47"),
    )


async def test_a_yen_order_has_no_decimals(api: Api, admin_token: str) -> None:
    order = await created(
        api,
        admin_token,
        currency="JPY",
        discount=pct("5"),
        lines=[
            free("333.3333", "10", "3"),  # 999.9999 -> 1000
            free("1001", "8", "0.5", discount=fixed("100")),  # 500.5 -> 501 (half up)
            free("99.99", "10", "7", discount=pct("5")),  # 699.93 -> 700, 5 % = 35
        ],
    )
    # Nets 1000 + 401 + 665 = 2066, 5 % = 103.3 -> 103: exact 49.85 / 19.99 / 33.15 ->
    # 49, 19, 33 + one each to lines 2 and 1. 10 %: 950 + 632 = 1582 -> 158.2 -> 158,
    # spread 94.88 / 63.12 -> 95, 63; 8 %: 381 -> 30.48 -> 30.
    check(
        order,
        [
            ("1000", "0", "50", "950", "95", "1045"),
            ("501", "100", "20", "381", "30", "411"),
            ("700", "35", "33", "632", "63", "695"),
        ],
        totals("2201", "238", "103", "1963", "188", "2151"),
    )


async def test_a_kuwaiti_dinar_order_has_three_decimals(api: Api, admin_token: str) -> None:
    order = await created(
        api,
        admin_token,
        currency="KWD",
        discount=fixed("0.250"),
        lines=[
            free("2.3335", "5", "1.5"),  # 3.50025 -> 3.500
            free("0.1235", "5", "7", discount=pct("2.5")),  # 0.8645 -> 0.865; 0.021625 -> 0.022
            free("10.0005", "0", "2", discount=fixed("0.125")),  # 20.001
        ],
    )
    # Nets 3.500 + 0.843 + 19.876 = 24.219: shares of 0.250 exact 0.0361 / 0.0087 / 0.2052
    # -> 36, 8 + 1 (largest remainder), 205 fils. 5 %: 3.464 + 0.834 = 4.298 -> 0.2149 ->
    # 0.215, spread 173.28 / 41.72 -> 173, 42 fils.
    check(
        order,
        [
            ("3.500", "0.000", "0.036", "3.464", "0.173", "3.637"),
            ("0.865", "0.022", "0.009", "0.834", "0.042", "0.876"),
            ("20.001", "0.125", "0.205", "19.671", "0.000", "19.671"),
        ],
        totals("24.366", "0.397", "0.250", "23.969", "0.215", "24.184"),
    )


async def test_an_empty_order_totals_zero_in_its_currency(api: Api, admin_token: str) -> None:
    for currency, zero in (("EUR", "0.00"), ("JPY", "0"), ("KWD", "0.000")):
        order = await created(api, admin_token, currency=currency)
        assert order["lines"] == [] and order["lineCount"] == 0
        check(order, [], totals(zero, zero, zero, zero, zero, zero))


# --- recomputed on every change -------------------------------------------------------------

L10 = ("10.00", "0.00", "2.50", "7.50")


async def test_totals_follow_added_updated_and_removed_lines(api: Api, admin_token: str) -> None:
    order = await created(
        api, admin_token, discount=fixed("10.00"), lines=[free("10.00", "19") for _ in range(3)]
    )
    added = await add_line(api, admin_token, order["id"], **free("10.00", "19"))
    # 10.00 over four nets of 10.00: 2.50 each. Tax 19 % of 30.00 = 5.70 -> 142.5 each:
    # the two cents left go to lines 1 and 2 (per line 1.425 -> 1.43 four times: 5.72).
    four = [(*L10, "1.43", "8.93")] * 2 + [(*L10, "1.42", "8.92")] * 2
    check(added["order"], four, totals("40.00", "10.00", "10.00", "30.00", "5.70", "35.70"))
    assert line_amounts(added["line"]) == four[3]
    assert await read_order(api, admin_token, order["id"]) == added["order"]

    second = added["order"]["lines"][1]
    updated = await update_line(api, admin_token, second["id"], quantity="2")
    eight = ("10.00", "0.00", "2.00", "8.00", "1.52", "9.52")
    check(
        updated["order"],
        [eight, ("20.00", "0.00", "4.00", "16.00", "3.04", "19.04"), eight, eight],
        totals("50.00", "10.00", "10.00", "40.00", "7.60", "47.60"),
    )
    assert updated["line"]["version"] == second["version"] + 1
    assert await read_order(api, admin_token, order["id"]) == updated["order"]

    first = added["order"]["lines"][0]
    removed = await remove_line(api, admin_token, first["id"], expectedVersion=first["version"])
    assert removed["line"] is None
    # Shares 5.00 / 2.50 / 2.50; tax 5.70 -> 2.85 / 1.425 / 1.425: the cent left goes to the
    # earlier of the tied lines.
    check(
        removed["order"],
        [
            ("20.00", "0.00", "5.00", "15.00", "2.85", "17.85"),
            (*L10, "1.43", "8.93"),
            (*L10, "1.42", "8.92"),
        ],
        totals("40.00", "10.00", "10.00", "30.00", "5.70", "35.70"),
    )
    assert [line["position"] for line in removed["order"]["lines"]] == [1, 2, 3]
    assert await read_order(api, admin_token, order["id"]) == removed["order"]


async def test_totals_follow_the_order_discount(api: Api, admin_token: str) -> None:
    order = await created(
        api,
        admin_token,
        discount=fixed("10.00"),
        lines=[free("10.00", "19", "2"), free("10.00", "19"), free("10.00", "19")],
    )
    assert order["orderDiscountAmount"]["amount"] == "10.00"
    halves = ("10.00", "0.00", "1.25", "8.75", "1.66", "10.41")
    changed = await update_order(api, admin_token, order["id"], discount=pct("12.5"))
    # 12.5 % of 40.00 = 5.00 -> 2.50 / 1.25 / 1.25; tax 19 % of 35.00 = 6.65.
    check(
        changed,
        [("20.00", "0.00", "2.50", "17.50", "3.33", "20.83"), halves, halves],
        totals("40.00", "5.00", "5.00", "35.00", "6.65", "41.65"),
    )
    assert changed["discount"] == {"kind": "PERCENT", "value": "12.5", "reason": None}

    third = changed["lines"][2]
    discounted = await update_line(api, admin_token, third["id"], discount=pct("33.3333"))
    # Line 3: 33.3333 % of 10.00 = 3.33333 -> 3.33, net 6.67; nets 36.67 -> 12.5 % = 4.58375
    # -> 4.58 spread 2.4980 / 1.2490 / 0.8331 -> 2.49 + 1, 1.24 + 1, 0.83; tax 19 % of
    # 32.09 = 6.0971 -> 6.10.
    check(
        discounted["order"],
        [
            ("20.00", "0.00", "2.50", "17.50", "3.33", "20.83"),
            halves,
            ("10.00", "3.33", "0.83", "5.84", "1.11", "6.95"),
        ],
        totals("40.00", "7.91", "4.58", "32.09", "6.10", "38.19"),
    )

    cleared = await update_order(api, admin_token, order["id"], discount=None)
    assert cleared["discount"] is None
    # Line 3 keeps its 3.33; tax 19 % of 36.67 = 6.9673 -> 6.97 -> 3.80 / 1.90 / 1.27.
    check(
        cleared,
        [
            ("20.00", "0.00", "0.00", "20.00", "3.80", "23.80"),
            ("10.00", "0.00", "0.00", "10.00", "1.90", "11.90"),
            ("10.00", "3.33", "0.00", "6.67", "1.27", "7.94"),
        ],
        totals("40.00", "3.33", "0.00", "36.67", "6.97", "43.64"),
    )


async def test_a_product_line_takes_the_product_price_and_rate(api: Api, admin_token: str) -> None:
    product = await create_product(
        api, admin_token, unitPrice={"amount": "12.3456", "currency": "EUR"}, defaultTaxRate="7.7"
    )
    order = await created(api, admin_token, lines=[{"productId": product["id"], "quantity": "2.5"}])
    # 2.5 x 12.3456 = 30.864 -> 30.86; 7.7 % = 2.37622 -> 2.38.
    check(
        order,
        [("30.86", "0.00", "0.00", "30.86", "2.38", "33.24")],
        totals("30.86", "0.00", "0.00", "30.86", "2.38", "33.24"),
    )
    (line,) = order["lines"]
    assert (line["description"], line["taxRate"], line["unitPrice"]["amount"]) == (
        "Widget",
        "7.7",
        "12.3456",
    )


# --- bad numbers change nothing -------------------------------------------------------------

BAD_LINE_VALUES = [
    ({"quantity": "1.00001"}, "INVALID", "quantity"),
    ({"quantity": "0"}, "OUT_OF_RANGE", "quantity"),
    ({"quantity": "-2"}, "OUT_OF_RANGE", "quantity"),
    ({"unitPrice": "0.00001"}, "INVALID", "unitPrice"),
    ({"unitPrice": "-0.01"}, "OUT_OF_RANGE", "unitPrice"),
    ({"taxRate": "19.00001"}, "INVALID", "taxRate"),
    ({"taxRate": "100.01"}, "OUT_OF_RANGE", "taxRate"),
    ({"taxRate": "-1"}, "OUT_OF_RANGE", "taxRate"),
    ({"discount": pct("10.00001")}, "INVALID", "value"),
    ({"discount": pct("100.5")}, "OUT_OF_RANGE", "value"),
    ({"discount": pct("-1")}, "OUT_OF_RANGE", "value"),
    ({"discount": fixed("0.005")}, "INVALID", "value"),  # finer than a cent
    ({"discount": fixed("-1.00")}, "OUT_OF_RANGE", "value"),
    ({"discount": fixed("20.01")}, "INVALID", "value"),  # more than the line's 20.00
]


async def unchanged_after(
    api: Api, token: str, order: dict[str, Any], document: str, name: str, values: dict[str, Any]
) -> list[dict[str, Any]]:
    """The userErrors of a refused mutation, checking that it changed and announced nothing."""
    before = await read_order(api, token, order["id"])
    cursor = await event_cursor(api, token)
    payload = (await api.ok(document, {"i": values}, token))[name]
    assert payload["userErrors"], payload
    assert payload.get("line") is None, payload
    assert await read_order(api, token, order["id"]) == before
    assert await event_cursor(api, token) == cursor, "a refused change wrote an event"
    errors: list[dict[str, Any]] = payload["userErrors"]
    return errors


@pytest.mark.parametrize(("values", "code", "field"), BAD_LINE_VALUES)
async def test_a_bad_number_on_a_new_line_changes_nothing(
    api: Api, admin_token: str, values: dict[str, Any], code: str, field: str
) -> None:
    order = await created(api, admin_token, lines=[free("5.00", "19")])
    line = {**free("10.00", "19", "2"), **values}
    errors = await unchanged_after(
        api, admin_token, order, ADD_LINE, "addOrderLine", {"orderId": order["id"], **line}
    )
    assert codes(errors) == [code], errors
    assert errors[0]["field"][-1] == field, errors


@pytest.mark.parametrize(("values", "code", "field"), BAD_LINE_VALUES)
async def test_a_bad_number_on_a_line_update_changes_nothing(
    api: Api, admin_token: str, values: dict[str, Any], code: str, field: str
) -> None:
    order = await created(api, admin_token, lines=[free("10.00", "19", "2")])
    (line,) = order["lines"]
    errors = await unchanged_after(
        api,
        admin_token,
        order,
        UPDATE_LINE,
        "updateOrderLine",
        {"id": line["id"], "expectedVersion": line["version"], **values},
    )
    assert codes(errors) == [code], errors
    assert errors[0]["field"][-1] == field, errors


@pytest.mark.parametrize(
    ("discount", "code"),
    [
        (pct("100.01"), "OUT_OF_RANGE"),
        (pct("12.34567"), "INVALID"),
        (fixed("0.001"), "INVALID"),
        (fixed("30.01"), "INVALID"),  # more than the lines' 30.00 after their discounts
        (fixed("-5"), "OUT_OF_RANGE"),
    ],
)
async def test_a_bad_order_discount_changes_nothing(
    api: Api, admin_token: str, discount: dict[str, str], code: str
) -> None:
    order = await created(
        api, admin_token, lines=[free("10.00", "19"), free("25.00", "7", discount=fixed("5.00"))]
    )
    values = {"id": order["id"], "expectedVersion": order["version"], "discount": discount}
    errors = await unchanged_after(api, admin_token, order, UPDATE_ORDER, "updateOrder", values)
    assert codes(errors) == [code], errors


async def test_amount_discounts_follow_the_currencys_minor_unit(api: Api, admin_token: str) -> None:
    for currency, too_fine, fine in (("JPY", "0.5", "1"), ("KWD", "0.0005", "0.125")):
        order = await created(api, admin_token, currency=currency, lines=[free("100", "0")])
        (line,) = order["lines"]
        values = {"id": line["id"], "expectedVersion": line["version"]}
        errors = await unchanged_after(
            api, admin_token, order, UPDATE_LINE, "updateOrderLine",
            {**values, "discount": fixed(too_fine)},
        )  # fmt: skip
        assert codes(errors) == ["INVALID"], (currency, errors)
        done = await update_line(api, admin_token, line["id"], discount=fixed(fine))
        assert done["line"]["discountAmount"]["amount"] == fine


async def test_a_discount_that_would_outgrow_the_lines_is_refused(
    api: Api, admin_token: str
) -> None:
    order = await created(
        api, admin_token, discount=fixed("15.00"), lines=[free("10.00", "0"), free("10.00", "0")]
    )
    first, second = order["lines"]
    # Removing a line would leave 10.00 of lines under a 15.00 order discount.
    errors = await unchanged_after(
        api, admin_token, order, REMOVE_LINE, "removeOrderLine",
        {"id": second["id"], "expectedVersion": second["version"]},
    )  # fmt: skip
    assert codes(errors) == ["INVALID"], errors
    # So would a line discount that takes the nets below it, or a fixed line discount above
    # the line's amount once its quantity shrinks.
    discounted = await update_line(api, admin_token, first["id"], discount=fixed("2.50"))
    order = discounted["order"]
    first = discounted["line"]
    errors = await unchanged_after(
        api, admin_token, order, UPDATE_LINE, "updateOrderLine",
        {"id": first["id"], "expectedVersion": first["version"], "quantity": "0.2"},
    )  # fmt: skip
    assert codes(errors) == ["INVALID"], errors
    errors = await unchanged_after(
        api, admin_token, order, UPDATE_LINE, "updateOrderLine",
        {"id": first["id"], "expectedVersion": first["version"], "discount": fixed("6.00")},
    )  # fmt: skip
    assert codes(errors) == ["INVALID"], errors


async def test_an_order_created_with_a_bad_line_is_not_created(api: Api, admin_token: str) -> None:
    await created(api, admin_token, lines=[free("1.00", "0")])
    cursor = await event_cursor(api, admin_token)
    values = {"currency": "EUR", "lines": [free("1.00", "0"), free("2.00", "0", "0")]}
    payload = (await api.ok(CREATE_ORDER, {"i": values}, admin_token))["createOrder"]
    assert codes(payload["userErrors"]) == ["OUT_OF_RANGE"] and payload["order"] is None
    assert payload["userErrors"][0]["field"][-1] == "quantity"
    too_much = {"currency": "EUR", "discount": fixed("3.01"), "lines": [free("3.00", "0")]}
    payload = (await api.ok(CREATE_ORDER, {"i": too_much}, admin_token))["createOrder"]
    assert codes(payload["userErrors"]) == ["INVALID"] and payload["order"] is None
    listed = (await api.ok(ORDERS, {}, admin_token))["orders"]
    assert listed["totalCount"] == 1
    assert await event_cursor(api, admin_token) == cursor
