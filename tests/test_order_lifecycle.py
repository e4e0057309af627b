"""An order's life through the GraphQL API: statuses, what may change when, versions, lines,
orders from opportunities, the product catalogue, and listing orders.

DRAFT -> CONFIRMED | CANCELLED, CONFIRMED -> FULFILLED | CANCELLED, FULFILLED -> INVOICED;
every other move is INVALID_TRANSITION. Only a DRAFT order changes (NOT_EDITABLE otherwise).
A stale version is a CONFLICT whose payload holds the current order, and nothing changes.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from tests.client import Api
from tests.orders_client import (
    ADD_LINE,
    CREATE_FROM_OPPORTUNITY,
    CREATE_ORDER,
    MARK_LOST,
    ORDERS,
    REMOVE_LINE,
    REORDER_LINES,
    SET_STATUS,
    UPDATE_LINE,
    UPDATE_ORDER,
    add_line,
    amounts,
    codes,
    company_id,
    contact_id,
    create_opportunity,
    create_order,
    link_participant,
    opportunity_version,
    read_order,
    reorder_lines,
    set_status,
    update_line,
    update_order,
)

STATUSES = ["DRAFT", "CONFIRMED", "FULFILLED", "INVOICED", "CANCELLED"]
PATHS = {
    "DRAFT": [],
    "CONFIRMED": ["CONFIRMED"],
    "FULFILLED": ["CONFIRMED", "FULFILLED"],
    "INVOICED": ["CONFIRMED", "FULFILLED", "INVOICED"],
    "CANCELLED": ["CANCELLED"],
}
ALLOWED = {
    ("DRAFT", "CONFIRMED"),
    ("DRAFT", "CANCELLED"),
    ("CONFIRMED", "FULFILLED"),
    ("CONFIRMED", "CANCELLED"),
    ("FULFILLED", "INVOICED"),
}
OPPORTUNITY_ORDERS = "query($id: ID!) { opportunity(id: $id) { orders { id opportunity { id } } } }"


def item(description: str = "Item", price: str = "10.00", **fields: Any) -> dict[str, Any]:
    return {"description": description, "unitPrice": price, "taxRate": "0", **fields}


async def payload_of(
    api: Api, document: str, name: str, token: str, /, **values: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.ok(document, {"i": values}, token))[name]
    return payload


async def order_in(api: Api, token: str, status: str, lines: int = 2) -> dict[str, Any]:
    """An order with a company and `lines` lines, moved along to `status`."""
    order = await create_order(
        api,
        token,
        companyId=await company_id(api, token),
        lines=[item(f"Item {n}") for n in range(1, lines + 1)],
    )
    for step in PATHS[status]:
        order = await set_status(api, token, order["id"], step, expectedVersion=order["version"])
    assert order["status"] == status
    return order


# --- statuses -------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "target"), list(itertools.product(STATUSES, STATUSES)))
async def test_status_transition(api: Api, admin_token: str, start: str, target: str) -> None:
    order = await order_in(api, admin_token, start)
    values = {"id": order["id"], "status": target, "expectedVersion": order["version"]}
    payload = await payload_of(api, SET_STATUS, "setOrderStatus", admin_token, **values)
    if (start, target) in ALLOWED:
        assert payload["userErrors"] == []
        moved = payload["order"]
        assert (moved["status"], moved["version"]) == (target, order["version"] + 1)
        assert amounts(moved) == amounts(order) and moved["lines"] == order["lines"]
        assert await read_order(api, admin_token, order["id"]) == moved
    else:
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("INVALID_TRANSITION", ["status"])
        ]
        assert await read_order(api, admin_token, order["id"]) == order


async def test_confirming_needs_a_line_and_a_company(api: Api, admin_token: str) -> None:
    empty = await create_order(api, admin_token, companyId=await company_id(api, admin_token))
    payload = await payload_of(
        api, SET_STATUS, "setOrderStatus", admin_token, id=empty["id"], status="CONFIRMED"
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["lines"])]
    assert await read_order(api, admin_token, empty["id"]) == empty

    nobody = await create_order(api, admin_token, lines=[item()])
    payload = await payload_of(
        api, SET_STATUS, "setOrderStatus", admin_token, id=nobody["id"], status="CONFIRMED"
    )
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("REQUIRED", ["companyId"])]
    assert await read_order(api, admin_token, nobody["id"]) == nobody
    acme = await company_id(api, admin_token, "Acme 2")
    await update_order(api, admin_token, nobody["id"], companyId=acme)
    confirmed = await set_status(api, admin_token, nobody["id"], "CONFIRMED")
    assert confirmed["status"] == "CONFIRMED" and confirmed["company"] == {"id": acme}


@pytest.mark.parametrize("status", ["CONFIRMED", "FULFILLED", "INVOICED", "CANCELLED"])
async def test_only_a_draft_order_changes(api: Api, admin_token: str, status: str) -> None:
    order = await order_in(api, admin_token, status)
    first, second = order["lines"]
    line = {"id": first["id"], "expectedVersion": first["version"]}
    version = order["version"]
    attempts = {
        "notes": (UPDATE_ORDER, "updateOrder", {"id": order["id"], "expectedVersion": version,
                                                "notes": "late"}),
        "discount": (UPDATE_ORDER, "updateOrder", {"id": order["id"], "expectedVersion": version,
                                                   "discount": {"kind": "PERCENT", "value": "5"}}),
        "company": (UPDATE_ORDER, "updateOrder", {"id": order["id"], "expectedVersion": version,
                                                  "companyId": None}),
        "add line": (ADD_LINE, "addOrderLine", {"orderId": order["id"], **item("Late")}),
        "update line": (UPDATE_LINE, "updateOrderLine", {**line, "quantity": "5"}),
        "remove line": (REMOVE_LINE, "removeOrderLine", line),
        "reorder": (REORDER_LINES, "reorderOrderLines", {"orderId": order["id"],
                    "expectedVersion": version, "lineIds": [second["id"], first["id"]]}),
    }  # fmt: skip
    for change, (document, name, values) in attempts.items():
        payload = await payload_of(api, document, name, admin_token, **values)
        assert codes(payload["userErrors"]) == ["NOT_EDITABLE"], (change, payload)
        assert await read_order(api, admin_token, order["id"]) == order, change


# --- versions -------------------------------------------------------------------------------


async def test_a_stale_order_version_is_a_conflict(api: Api, admin_token: str) -> None:
    order = await order_in(api, admin_token, "DRAFT")
    stale = order["version"]
    current = await update_order(
        api, admin_token, order["id"], notes="First", expectedVersion=stale
    )
    assert current["version"] == stale + 1 and current["notes"] == "First"
    first, second = current["lines"]
    attempts = [
        (UPDATE_ORDER, "updateOrder", {"id": order["id"], "notes": "Second"}),
        (SET_STATUS, "setOrderStatus", {"id": order["id"], "status": "CANCELLED"}),
        (ADD_LINE, "addOrderLine", {"orderId": order["id"], **item("Late")}),
        (REORDER_LINES, "reorderOrderLines",
         {"orderId": order["id"], "lineIds": [second["id"], first["id"]]}),
    ]  # fmt: skip
    for document, name, values in attempts:
        payload = await payload_of(
            api, document, name, admin_token, expectedVersion=stale, **values
        )
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("CONFLICT", ["expectedVersion"])
        ], name
        assert payload["order"] == current, f"{name}: the payload holds the current order"
        assert await read_order(api, admin_token, order["id"]) == current, name
    values = {"orderId": order["id"], "expectedVersion": current["version"], **item("On time")}
    added = await api.mutate("addOrderLine", ADD_LINE, {"i": values}, admin_token)
    assert added["order"]["version"] == current["version"] + 1


async def test_a_stale_line_version_is_a_conflict(api: Api, admin_token: str) -> None:
    order = await create_order(
        api, admin_token, lines=[item("A", taxRate="19"), item("B", taxRate="7")]
    )
    first, second = order["lines"]
    changed = await update_line(api, admin_token, first["id"], quantity="2", expectedVersion=1)
    assert changed["line"]["version"] == 2
    current = changed["order"]
    for document, name, values in (
        (UPDATE_LINE, "updateOrderLine", {"quantity": "3"}),
        (REMOVE_LINE, "removeOrderLine", {}),
    ):
        payload = await payload_of(
            api, document, name, admin_token, id=first["id"], expectedVersion=1, **values
        )
        assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
            ("CONFLICT", ["expectedVersion"])
        ], name
        assert payload["order"] == current and payload["line"] is None, name
        assert await read_order(api, admin_token, order["id"]) == current, name
    # The other line's version is its own: still 1 after its neighbour changed.
    other = await update_line(api, admin_token, second["id"], quantity="4", expectedVersion=1)
    assert other["line"]["version"] == 2 and other["line"]["quantity"] == "4"


async def test_concurrent_edits_of_one_line_one_wins(api: Api, admin_token: str) -> None:
    order = await create_order(
        api, admin_token, lines=[item("A", "10.00", taxRate="19"), item("B", "5.00")]
    )
    line = order["lines"][0]
    results = await asyncio.gather(
        *(
            payload_of(
                api, UPDATE_LINE, "updateOrderLine", admin_token,
                id=line["id"], expectedVersion=line["version"], quantity=quantity,
            )
            for quantity in ("2", "3")
        )
    )  # fmt: skip
    won = [r for r in results if r["userErrors"] == []]
    lost = [r for r in results if r["userErrors"] != []]
    assert len(won) == 1 and len(lost) == 1, results
    assert codes(lost[0]["userErrors"]) == ["CONFLICT"]
    winner = won[0]
    final = await read_order(api, admin_token, order["id"])
    assert final is not None and final == winner["order"]
    assert final["lines"][0]["quantity"] == winner["line"]["quantity"]
    assert final["lines"][0]["version"] == line["version"] + 1
    expected = {"2": ("20.00", "3.80", "28.80"), "3": ("30.00", "5.70", "40.70")}
    subtotal, tax, grand = expected[winner["line"]["quantity"]]
    assert final["lines"][0]["amount"]["amount"] == subtotal
    assert (final["taxTotal"]["amount"], final["grandTotal"]["amount"]) == (tax, grand)
    assert lost[0]["order"] == final


async def test_concurrent_header_edits_one_wins(api: Api, admin_token: str) -> None:
    order = await create_order(api, admin_token)
    results = await asyncio.gather(
        *(
            payload_of(
                api, UPDATE_ORDER, "updateOrder", admin_token,
                id=order["id"], expectedVersion=order["version"], notes=notes,
            )
            for notes in ("Mine", "Yours")
        )
    )  # fmt: skip
    assert sorted(codes(r["userErrors"]) for r in results) == [[], ["CONFLICT"]], results
    won = next(r for r in results if not r["userErrors"])
    final = await read_order(api, admin_token, order["id"])
    assert final == won["order"] and final is not None
    assert final["version"] == order["version"] + 1


async def test_concurrent_line_additions_all_land_in_distinct_positions(
    api: Api, admin_token: str
) -> None:
    order = await create_order(api, admin_token, lines=[item("First")])
    added = await asyncio.gather(
        *(add_line(api, admin_token, order["id"], **item(f"L{n}", f"{n}.00")) for n in range(2, 7))
    )
    final = await read_order(api, admin_token, order["id"])
    assert final is not None and final["lineCount"] == 6
    assert [line["position"] for line in final["lines"]] == [1, 2, 3, 4, 5, 6]
    assert sorted(a["line"]["position"] for a in added) == [2, 3, 4, 5, 6]
    assert final["version"] == order["version"] + 5
    assert final["subtotal"]["amount"] == "30.00"  # 10 + 2 + 3 + 4 + 5 + 6


async def test_numbers_and_required_fields(api: Api, admin_token: str) -> None:
    numbers = [(await create_order(api, admin_token))["number"] for _ in range(3)]
    assert all(len(n) == 10 and n[:4] == "ORD-" and n[4:].isdigit() for n in numbers), numbers
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    for values, field in (
        ({"currency": None}, "currency"),
        ({"lines": [{"unitPrice": "1"}]}, "description"),
        ({"lines": [{"description": "Loose"}]}, "unitPrice"),
    ):
        payload = await payload_of(
            api, CREATE_ORDER, "createOrder", admin_token, **{"currency": "EUR", **values}
        )
        assert codes(payload["userErrors"]) == ["REQUIRED"] and payload["order"] is None, values
        assert payload["userErrors"][0]["field"][-1] == field
    assert (await api.ok(ORDERS, {}, admin_token))["orders"]["totalCount"] == 3


async def test_the_currency_changes_only_while_there_are_no_lines(
    api: Api, admin_token: str
) -> None:
    order = await create_order(api, admin_token)
    changed = await update_order(api, admin_token, order["id"], currency="JPY")
    assert changed["currency"] == "JPY" and changed["grandTotal"] == {
        "amount": "0",
        "currency": "JPY",
    }
    added = await add_line(api, admin_token, order["id"], **item(price="100"))
    before = added["order"]
    values = {"id": order["id"], "expectedVersion": before["version"], "currency": "EUR"}
    payload = await payload_of(api, UPDATE_ORDER, "updateOrder", admin_token, **values)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["currency"])]
    assert await read_order(api, admin_token, order["id"]) == before


# --- line order -----------------------------------------------------------------------------


async def test_lines_are_reordered(api: Api, admin_token: str) -> None:
    order = await create_order(
        api, admin_token, lines=[item("A"), item("B"), item("C")],
        discount={"kind": "AMOUNT", "value": "0.02"},
    )  # fmt: skip
    a, b, c = (line["id"] for line in order["lines"])
    shares = [line["orderDiscountAmount"]["amount"] for line in order["lines"]]
    assert shares == ["0.01", "0.01", "0.00"], "equal remainders: the earlier lines first"
    moved = await reorder_lines(api, admin_token, order["id"], [c, a, b], order["version"])
    assert [(line["id"], line["position"]) for line in moved["lines"]] == [(c, 1), (a, 2), (b, 3)]
    shares = [line["orderDiscountAmount"]["amount"] for line in moved["lines"]]
    assert shares == ["0.01", "0.01", "0.00"], "the ties follow the new positions"
    assert moved["version"] == order["version"] + 1
    assert amounts(moved) == amounts(order)
    assert await read_order(api, admin_token, order["id"]) == moved

    other = await create_order(api, admin_token, lines=[item("X")])
    for wrong in ([c, a], [c, a, b, b], [c, a, other["lines"][0]["id"]], [c, a, b, c]):
        values = {"orderId": order["id"], "expectedVersion": moved["version"], "lineIds": wrong}
        payload = await payload_of(api, REORDER_LINES, "reorderOrderLines", admin_token, **values)
        assert codes(payload["userErrors"]) == ["INVALID"], wrong
        assert await read_order(api, admin_token, order["id"]) == moved


async def test_a_line_inserted_at_a_position_moves_later_lines_down(
    api: Api, admin_token: str
) -> None:
    order = await create_order(
        api, admin_token, lines=[item("A"), item("B")], discount={"kind": "AMOUNT", "value": "0.02"}
    )
    first = await add_line(api, admin_token, order["id"], position=1, **item("Top"))
    assert first["line"]["position"] == 1
    # 0.02 over three equal lines: the cents go to the first two positions, Top and A.
    shares = [line["orderDiscountAmount"]["amount"] for line in first["order"]["lines"]]
    assert shares == ["0.01", "0.01", "0.00"]
    middle = await add_line(api, admin_token, order["id"], position=3, **item("Mid"))
    end = await add_line(api, admin_token, order["id"], **item("End"))
    assert end["line"]["position"] == 5
    lines = end["order"]["lines"]
    assert [(line["description"], line["position"]) for line in lines] == [
        ("Top", 1), ("A", 2), ("Mid", 3), ("B", 4), ("End", 5),
    ]  # fmt: skip
    assert middle["line"]["id"] == lines[2]["id"]
    shares = [line["orderDiscountAmount"]["amount"] for line in lines]
    assert shares == ["0.01", "0.01", "0.00", "0.00", "0.00"]
    before = await read_order(api, admin_token, order["id"])
    for position in (0, 7):
        values = {"orderId": order["id"], "position": position, **item("Nowhere")}
        payload = await payload_of(api, ADD_LINE, "addOrderLine", admin_token, **values)
        assert payload["userErrors"] and payload["line"] is None, position
        assert await read_order(api, admin_token, order["id"]) == before


# --- orders from opportunities --------------------------------------------------------------


async def test_an_order_from_an_opportunity_takes_its_customer_contact_owner_and_currency(
    api: Api, admin_token: str
) -> None:
    olga_id, _ = await api.create_user(admin_token, "olga@example.com")
    acme = await company_id(api, admin_token, "Acme")
    beta = await company_id(api, admin_token, "Beta")
    ann = await contact_id(api, admin_token, beta, "Ann")
    bob = await contact_id(api, admin_token, beta, "Bob")
    opportunity = await create_opportunity(
        api, admin_token, ownerId=olga_id, expectedValue={"amount": "500", "currency": "USD"}
    )
    await link_participant(api, admin_token, opportunity, ann, "DECISION_MAKER")
    await link_participant(api, admin_token, opportunity, acme, "CUSTOMER")
    await link_participant(api, admin_token, opportunity, beta, "PARTNER")
    await link_participant(api, admin_token, opportunity, bob, "CHAMPION", primary=True)
    payload = await api.mutate(
        "createOrderFromOpportunity",
        CREATE_FROM_OPPORTUNITY,
        {"i": {"opportunityId": opportunity}},
        admin_token,
    )
    order = payload["order"]
    assert (order["status"], order["currency"], order["lines"]) == ("DRAFT", "USD", [])
    assert order["company"] == {"id": acme}, "the first linked company"
    assert order["contact"] == {"id": bob}, "the primary contact"
    assert order["owner"] == {"id": olga_id}, "the opportunity's owner"
    assert order["opportunity"] == {"id": opportunity}
    assert order["number"].startswith("ORD-")
    # createOrder with the opportunity defaults to its currency too.
    second = await create_order(api, admin_token, currency=None, opportunityId=opportunity)
    assert second["currency"] == "USD" and second["opportunity"] == {"id": opportunity}
    await create_order(api, admin_token)  # an order of no opportunity
    data = await api.ok(OPPORTUNITY_ORDERS, {"id": opportunity}, admin_token)
    assert data["opportunity"]["orders"] == [
        {"id": order["id"], "opportunity": {"id": opportunity}},
        {"id": second["id"], "opportunity": {"id": opportunity}},
    ]


async def test_without_a_linked_company_the_primary_contacts_company_is_the_customer(
    api: Api, admin_token: str
) -> None:
    gamma = await company_id(api, admin_token, "Gamma")
    ann = await contact_id(api, admin_token, gamma, "Ann")
    opportunity = await create_opportunity(api, admin_token)
    await link_participant(api, admin_token, opportunity, ann, "DECISION_MAKER", primary=True)
    payload = await api.mutate(
        "createOrderFromOpportunity",
        CREATE_FROM_OPPORTUNITY,
        {"i": {"opportunityId": opportunity}},
        admin_token,
    )
    order = payload["order"]
    assert (order["company"], order["contact"]) == ({"id": gamma}, {"id": ann})
    assert order["currency"] == "EUR"


async def test_a_lost_opportunity_cannot_become_an_order(api: Api, admin_token: str) -> None:
    opportunity = await create_opportunity(api, admin_token)
    version = await opportunity_version(api, admin_token, opportunity)
    await api.mutate(
        "markOpportunityLost", MARK_LOST, {"i": {"id": opportunity, "expectedVersion": version}},
        admin_token,
    )  # fmt: skip
    payload = await payload_of(
        api, CREATE_FROM_OPPORTUNITY, "createOrderFromOpportunity", admin_token,
        opportunityId=opportunity,
    )  # fmt: skip
    assert codes(payload["userErrors"]) == ["INVALID_STATE"] and payload["order"] is None
    assert (await api.ok(ORDERS, {}, admin_token))["orders"]["totalCount"] == 0
    assert (await api.ok(OPPORTUNITY_ORDERS, {"id": opportunity}, admin_token))["opportunity"][
        "orders"
    ] == []


# --- listing --------------------------------------------------------------------------------


async def listed(api: Api, token: str, **variables: Any) -> list[str]:
    data = (await api.ok(ORDERS, variables, token))["orders"]
    ids = [node["id"] for node in data["nodes"]]
    assert data["totalCount"] == len(ids), data
    return ids


async def walk(api: Api, token: str, **variables: Any) -> list[str]:
    """Every order through pages of 2."""
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = (await api.ok(ORDERS, {**variables, "first": 2, "after": after}, token))["orders"]
        assert len(page["nodes"]) <= 2
        seen += [node["id"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError(f"too many pages: {seen}")


async def test_orders_are_filtered_sorted_and_paged(api: Api, admin_token: str) -> None:
    acme = await company_id(api, admin_token, "Acme")
    beta = await company_id(api, admin_token, "Beta")
    deal = await create_opportunity(api, admin_token)
    specs = [  # (date, company, opportunity, status, total)
        ("2030-01-05", acme, None, "DRAFT", "10"),
        ("2030-01-10", beta, None, "CONFIRMED", "30"),
        ("2030-01-15", acme, deal, "CANCELLED", "20"),
        ("2030-01-20", None, None, "DRAFT", "50"),
        ("2030-01-25", beta, deal, "DRAFT", "40"),
    ]
    ids = []
    for day, company, opportunity, status, total in specs:
        order = await create_order(
            api, admin_token, orderDate=day, companyId=company, opportunityId=opportunity,
            lines=[item(price=total)],
        )  # fmt: skip
        if status != "DRAFT":
            await set_status(api, admin_token, order["id"], status)
        ids.append(order["id"])
    o1, o2, o3, o4, o5 = ids
    assert await listed(api, admin_token) == [o5, o4, o3, o2, o1], "newest order date first"
    assert set(await listed(api, admin_token, filter={"status": ["DRAFT"]})) == {o1, o4, o5}
    both = {"status": ["CONFIRMED", "CANCELLED"]}
    assert set(await listed(api, admin_token, filter=both)) == {o2, o3}
    assert set(await listed(api, admin_token, filter={"companyId": acme})) == {o1, o3}
    assert set(await listed(api, admin_token, filter={"opportunityId": deal})) == {o3, o5}
    window = {"dateFrom": "2030-01-10", "dateTo": "2030-01-20"}
    assert set(await listed(api, admin_token, filter=window)) == {o2, o3, o4}, "inclusive"
    assert set(await listed(api, admin_token, filter={"dateFrom": "2030-01-21"})) == {o5}
    assert set(await listed(api, admin_token, filter={"dateTo": "2030-01-05"})) == {o1}
    combined = {"status": ["DRAFT"], "companyId": beta}
    assert await listed(api, admin_token, filter=combined) == [o5]
    body = await api.gql(
        ORDERS, {"filter": {"dateFrom": "2030-01-20", "dateTo": "2030-01-10"}}, admin_token
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body

    def by(field: str, direction: str) -> dict[str, Any]:
        return {"orderBy": [{"field": field, "direction": direction}]}

    assert await walk(api, admin_token) == [o5, o4, o3, o2, o1]
    assert await walk(api, admin_token, **by("GRAND_TOTAL", "ASC")) == [o1, o3, o2, o5, o4]
    assert await walk(api, admin_token, **by("GRAND_TOTAL", "DESC")) == [o4, o5, o2, o3, o1]
    assert await walk(api, admin_token, **by("NUMBER", "ASC")) == ids
    assert await walk(api, admin_token, **by("NUMBER", "DESC")) == ids[::-1]
    assert await walk(api, admin_token, **by("ORDER_DATE", "ASC")) == ids
    assert await walk(api, admin_token, **by("CREATED_AT", "ASC")) == ids
    assert await walk(api, admin_token, **by("CREATED_AT", "DESC")) == ids[::-1]
    for field in ("STATUS", "UPDATED_AT"):  # ties: every order once, none twice
        for direction in ("ASC", "DESC"):
            seen = await walk(api, admin_token, **by(field, direction))
            assert sorted(seen) == sorted(ids), (field, direction, seen)
    drafts = await walk(api, admin_token, filter={"status": ["DRAFT"]}, **by("GRAND_TOTAL", "ASC"))
    assert drafts == [o1, o5, o4]


async def test_pages_hold_every_order_once_whatever_the_ties(api: Api, admin_token: str) -> None:
    ids = [
        (await create_order(api, admin_token, orderDate="2030-03-01", lines=[item(price="12.34")]))[
            "id"
        ]
        for _ in range(5)
    ]
    for field in ("ORDER_DATE", "NUMBER", "GRAND_TOTAL", "STATUS", "CREATED_AT", "UPDATED_AT"):
        for direction in ("ASC", "DESC"):
            order_by = [{"field": field, "direction": direction}]
            seen = await walk(api, admin_token, orderBy=order_by)
            assert sorted(seen) == sorted(ids) and len(seen) == 5, (field, direction, seen)
