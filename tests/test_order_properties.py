"""Properties of order totals, over random orders created through the GraphQL API.

Whatever the lines (1-8 of them, quantities and unit prices with up to 4 decimals, line
discounts of either kind, tax rates including fractional ones) and the order discount, in EUR,
JPY or KWD: the lines add up to the order's totals exactly, grandTotal = netTotal + taxTotal,
every spread share (of the order discount and of each rate's tax) is within one minor unit of
its exact proportional value, every amount has exactly the currency's decimals, and every
figure is what the totals rule gives (computed here independently, in exact fractions).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.client import Api
from tests.orders_client import CREATE_ORDER, LINE_AMOUNT_FIELDS, read_order

MINOR_UNITS = {"EUR": 2, "JPY": 0, "KWD": 3}
RATES = ["0", "2.5", "7", "7.7", "19", "20"]
TOTALS = ("subtotal", "discountTotal", "orderDiscountAmount", "netTotal", "taxTotal", "grandTotal")


def four_places(low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Decimals low/10000 .. high/10000 (so with up to 4 decimals)."""
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-4))


QUANTITIES = st.one_of(
    st.integers(1, 12).map(Decimal),
    four_places(1, 50_000),  # 0.0001 .. 5
    four_places(1, 10_000_000),  # up to 1000
)
PRICES = st.one_of(four_places(0, 100_000), four_places(0, 100_000_000))
PERCENTS = st.one_of(
    st.sampled_from(["0", "5", "10", "12.5", "33.3333", "100"]).map(Decimal),
    st.integers(0, 100).map(Decimal),
    four_places(0, 1_000_000),
)
# A fixed discount is drawn as per-mille of what it applies to, so it can never exceed it.
DISCOUNTS = st.one_of(
    st.none(),
    st.tuples(st.just("PERCENT"), PERCENTS),
    st.tuples(st.just("AMOUNT"), st.integers(0, 1000)),
)
LINES = st.fixed_dictionaries(
    {
        "quantity": QUANTITIES,
        "price": PRICES,
        "rate": st.sampled_from(RATES),
        "discount": DISCOUNTS,
    }
)
ORDERS = st.fixed_dictionaries(
    {
        "currency": st.sampled_from(sorted(MINOR_UNITS)),
        # Lines drawn from a small pool repeat, and equal lines make remainders tie.
        "lines": st.one_of(
            st.lists(LINES, min_size=1, max_size=8),
            st.lists(LINES, min_size=1, max_size=3).flatmap(
                lambda pool: st.lists(st.sampled_from(pool), min_size=2, max_size=8)
            ),
        ),
        "discount": DISCOUNTS,
    }
)


def half_up(value: Fraction) -> int:
    """`value` (non-negative) rounded half up to a whole number."""
    return math.floor(value + Fraction(1, 2))


def text(value: Decimal) -> str:
    return f"{value:f}"


def spread(total: int, weights: list[int]) -> list[int]:
    """Largest remainder; the earlier index first on equal remainders."""
    whole = sum(weights)
    if whole == 0:
        return [0] * len(weights)
    exact = [Fraction(total * w, whole) for w in weights]
    shares = [math.floor(x) for x in exact]
    ranked = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in ranked[: total - sum(shares)]:
        shares[i] += 1
    return shares


class TooLarge(Exception):
    """A fixed discount larger than what it applies to: the server must refuse it."""


Line = tuple[Fraction, Fraction, tuple[str, Fraction] | None, Decimal]


def rule(places: int, lines: list[Line], discount: tuple[str, Fraction] | None) -> dict[str, Any]:
    """The totals rule, in exact fractions: the expected figures in minor units."""
    scale = 10**places
    amounts, line_discounts = [], []
    for quantity, price, line_discount, _ in lines:
        amount = half_up(quantity * price * scale)
        cut = 0
        if line_discount is not None:
            kind, value = line_discount
            cut = half_up(amount * value / 100) if kind == "PERCENT" else int(value * scale)
            if cut > amount:
                raise TooLarge
        amounts.append(amount)
        line_discounts.append(cut)
    nets = [a - d for a, d in zip(amounts, line_discounts, strict=True)]
    order_discount = 0
    if discount is not None:
        kind, value = discount
        order_discount = (
            half_up(sum(nets) * value / 100) if kind == "PERCENT" else int(value * scale)
        )
        if order_discount > sum(nets):
            raise TooLarge
    shares = spread(order_discount, nets)
    taxable = [n - s for n, s in zip(nets, shares, strict=True)]
    taxes = [0] * len(lines)
    for rate in {line[3].normalize() for line in lines}:
        at = [i for i, line in enumerate(lines) if line[3] == rate]
        rate_tax = half_up(sum(taxable[i] for i in at) * Fraction(rate) / 100)
        for i, share in zip(at, spread(rate_tax, [taxable[i] for i in at]), strict=True):
            taxes[i] = share
    return {
        "lines": [
            (amounts[i], line_discounts[i], shares[i], taxable[i], taxes[i], taxable[i] + taxes[i])
            for i in range(len(lines))
        ],
        "totals": (
            sum(amounts),
            sum(line_discounts) + order_discount,
            order_discount,
            sum(taxable),
            sum(taxes),
            sum(taxable) + sum(taxes),
        ),
    }


def discount_input(drawn: tuple[str, Any] | None, base: int, places: int) -> dict[str, str] | None:
    """A DiscountInput for a drawn discount; a fixed one is per-mille of `base` minor units."""
    if drawn is None:
        return None
    kind, raw = drawn
    if kind == "PERCENT":
        return {"kind": kind, "value": text(raw)}
    return {"kind": kind, "value": text(Decimal(base * raw // 1000).scaleb(-places))}


def line_input(drawn: dict[str, Any], places: int) -> dict[str, Any]:
    amount = half_up(Fraction(drawn["quantity"]) * Fraction(drawn["price"]) * 10**places)
    return {
        "description": "Item",
        "quantity": text(drawn["quantity"]),
        "unitPrice": text(drawn["price"]),
        "taxRate": drawn["rate"],
        "discount": discount_input(drawn["discount"], amount, places),
    }


def parsed(discount: dict[str, Any] | None) -> tuple[str, Fraction] | None:
    return None if discount is None else (discount["kind"], Fraction(Decimal(discount["value"])))


def as_line(values: dict[str, Any]) -> Line:
    """A line as the rule takes it, from an OrderLineInput or an OrderLine."""
    price = values["unitPrice"]
    return (
        Fraction(Decimal(values["quantity"])),
        Fraction(Decimal(price["amount"] if isinstance(price, dict) else price)),
        parsed(values["discount"]),
        Decimal(values["taxRate"]).normalize(),
    )


def build(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The createOrder input for `spec`, and the expected figures in minor units."""
    places = MINOR_UNITS[spec["currency"]]
    lines = [line_input(line, places) for line in spec["lines"]]
    inputs = [as_line(line) for line in lines]
    nets = [line[0] - line[1] for line in rule(places, inputs, None)["lines"]]
    discount = discount_input(spec["discount"], sum(nets), places)
    values = {"currency": spec["currency"], "discount": discount, "lines": lines}
    return values, rule(places, inputs, parsed(discount))


def units(money: dict[str, Any], currency: str) -> int:
    """A Money in minor units, checking it is in `currency` with exactly its decimals."""
    places = MINOR_UNITS[currency]
    assert money["currency"] == currency, money
    pattern = r"\d+" if places == 0 else rf"\d+\.\d{{{places}}}"
    assert re.fullmatch(pattern, money["amount"]), money
    value = Decimal(money["amount"]).scaleb(places)
    assert value == value.to_integral_value()
    return int(value)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(spec=ORDERS)
async def test_random_orders_add_up(api: Api, admin_token: str, spec: dict[str, Any]) -> None:
    values, expected = build(spec)
    payload = (await api.ok(CREATE_ORDER, {"i": values}, admin_token))["createOrder"]
    assert payload["userErrors"] == [], (values, payload)
    order = payload["order"]
    assert await read_order(api, admin_token, order["id"]) == order
    currency = spec["currency"]
    lines = [tuple(units(line[f], currency) for f in LINE_AMOUNT_FIELDS) for line in order["lines"]]
    total = dict(zip(TOTALS, (units(order[f], currency) for f in TOTALS), strict=True))

    # The lines add up to the order, exactly.
    assert sum(line[0] for line in lines) == total["subtotal"]
    assert sum(line[1] + line[2] for line in lines) == total["discountTotal"]
    assert sum(line[2] for line in lines) == total["orderDiscountAmount"]
    assert sum(line[3] for line in lines) == total["netTotal"]
    assert sum(line[4] for line in lines) == total["taxTotal"]
    assert sum(line[5] for line in lines) == total["grandTotal"]
    assert total["grandTotal"] == total["netTotal"] + total["taxTotal"]
    assert total["netTotal"] == total["subtotal"] - total["discountTotal"]
    for amount, discount, share, net, tax, gross in lines:
        assert net == amount - discount - share >= 0
        assert gross == net + tax and tax >= 0

    # Each share is within one minor unit of its exact proportional value.
    nets = [line[0] - line[1] for line in lines]
    for line, weight in zip(lines, nets, strict=True):
        exact = Fraction(total["orderDiscountAmount"] * weight, sum(nets) or 1)
        assert abs(line[2] - exact) < 1, (line, exact)
    for rate in set(RATES):
        at = [
            i for i, line in enumerate(order["lines"]) if Decimal(line["taxRate"]) == Decimal(rate)
        ]
        base = sum(lines[i][3] for i in at)
        rate_tax = sum(lines[i][4] for i in at)
        assert rate_tax == half_up(base * Fraction(Decimal(rate)) / 100), (rate, base)
        for i in at:
            exact = Fraction(rate_tax * lines[i][3], base or 1)
            assert abs(lines[i][4] - exact) < 1, (rate, lines[i], exact)

    # And every figure is the one the rule gives.
    assert lines == expected["lines"]
    assert tuple(total.values()) == expected["totals"]


# --- after any sequence of changes ----------------------------------------------------------

INDEXES = st.integers(0, 7)
FIXED_OR_PERCENT = st.one_of(
    st.tuples(st.just("PERCENT"), PERCENTS), st.tuples(st.just("AMOUNT"), st.integers(0, 1000))
)
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), LINES, INDEXES),
        st.tuples(st.just("quantity"), INDEXES, QUANTITIES),
        st.tuples(st.just("unitPrice"), INDEXES, PRICES),
        st.tuples(st.just("taxRate"), INDEXES, st.sampled_from(RATES)),
        st.tuples(st.just("discount"), INDEXES, FIXED_OR_PERCENT),
        st.tuples(st.just("remove"), INDEXES),
        st.tuples(st.just("reorder"), st.permutations(range(8))),
        st.tuples(st.just("order discount"), DISCOUNTS),
    ),
    min_size=1,
    max_size=6,
)
LINE_OPERATION = """mutation($i: %s!) { %s(input: $i) { order { id } userErrors { code } } }"""


def figures(order: dict[str, Any]) -> dict[str, Any]:
    """The order's line amounts and totals in minor units."""
    currency = order["currency"]
    return {
        "lines": [
            tuple(units(line[f], currency) for f in LINE_AMOUNT_FIELDS) for line in order["lines"]
        ],
        "totals": tuple(units(order[f], currency) for f in TOTALS),
    }


def plan(
    order: dict[str, Any], operation: tuple[Any, ...]
) -> tuple[str, dict[str, Any], list[Line], tuple[str, Fraction] | None]:
    """The mutation for `operation` on `order`, and the lines and discount it should leave."""
    places = MINOR_UNITS[order["currency"]]
    lines = [as_line(line) for line in order["lines"]]
    discount = parsed(order["discount"])
    kind, *args = operation
    if kind == "order discount":
        nets = [line[0] - line[1] for line in rule(places, lines, None)["lines"]]
        new = discount_input(args[0], sum(nets), places)
        values = {"id": order["id"], "expectedVersion": order["version"], "discount": new}
        return "updateOrder", values, lines, parsed(new)
    if kind == "add":
        line = line_input(args[0], places)
        position = args[1] % (len(lines) + 1) + 1
        lines.insert(position - 1, as_line(line))
        values = {"orderId": order["id"], "position": position, **line}
        return "addOrderLine", values, lines, discount
    if not lines:
        return "", {}, lines, discount
    if kind == "reorder":
        # The drawn permutation covers the first 8 lines; later ones keep their places.
        permutation = [i for i in args[0] if i < len(lines)] + list(range(8, len(lines)))
        ids = [order["lines"][i]["id"] for i in permutation]
        values = {"orderId": order["id"], "expectedVersion": order["version"], "lineIds": ids}
        return "reorderOrderLines", values, [lines[i] for i in permutation], discount
    index = args[0] % len(lines)
    target = order["lines"][index]
    values = {"id": target["id"], "expectedVersion": target["version"]}
    if kind == "remove":
        del lines[index]
        return "removeOrderLine", values, lines, discount
    quantity, price, line_discount, rate = lines[index]
    if kind == "quantity":
        quantity, values["quantity"] = Fraction(args[1]), text(args[1])
    elif kind == "unitPrice":
        price, values["unitPrice"] = Fraction(args[1]), text(args[1])
    elif kind == "taxRate":
        rate, values["taxRate"] = Decimal(args[1]).normalize(), args[1]
    else:
        amount = rule(places, [lines[index]], None)["lines"][0][0]
        values["discount"] = discount_input(args[1], amount, places)
        line_discount = parsed(values["discount"])
    lines[index] = (quantity, price, line_discount, rate)
    return "updateOrderLine", values, lines, discount


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(spec=ORDERS, operations=OPERATIONS)
async def test_totals_stay_exact_through_any_changes(
    api: Api, admin_token: str, spec: dict[str, Any], operations: list[tuple[Any, ...]]
) -> None:
    values, _ = build(spec)
    order = (await api.mutate("createOrder", CREATE_ORDER, {"i": values}, admin_token))["order"]
    places = MINOR_UNITS[order["currency"]]
    for operation in operations:
        name, values, lines, discount = plan(order, operation)
        if not name:
            continue
        try:
            expected: dict[str, Any] | None = rule(places, lines, discount)
        except TooLarge:
            expected = None
        document = LINE_OPERATION % (name[0].upper() + name[1:] + "Input", name)
        payload = (await api.ok(document, {"i": values}, admin_token))[name]
        after = await read_order(api, admin_token, order["id"])
        assert after is not None
        if expected is None:  # a fixed discount now larger than what it applies to
            assert [e["code"] for e in payload["userErrors"]] == ["INVALID"], (operation, payload)
            assert after == order, operation
            continue
        assert payload["userErrors"] == [], (operation, values, payload)
        assert [as_line(line) for line in after["lines"]] == lines, operation
        assert figures(after) == expected, (operation, order, after)
        assert [line["position"] for line in after["lines"]] == list(range(1, len(lines) + 1))
        order = after
