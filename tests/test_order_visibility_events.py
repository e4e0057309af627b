"""Who sees an order, and the live events every order change writes.

An order with an opportunity is visible exactly to who may see that opportunity; to anybody
else it behaves like a missing one (null by ID, NOT_FOUND from every mutation with the very
same error, absent from lists and counts, no subscription). An order without an opportunity
is everybody's. Each change writes one event, delivered on `orderEvents` and, for an order
with an opportunity, on `opportunityEvents` too. Events are read back by subscribing with
`since` = the `eventCursor` read before the action, so "exactly these events" needs no sleep.
"""

from __future__ import annotations

import base64
import itertools
from decimal import Decimal
from typing import Any

from tests.client import Api
from tests.orders_client import (
    ADD_LINE,
    CREATE_FROM_OPPORTUNITY,
    CREATE_ORDER,
    OPPORTUNITY_EVENTS,
    ORDER,
    ORDER_EVENTS_FULL,
    ORDERS,
    REMOVE_LINE,
    REORDER_LINES,
    SET_STATUS,
    UPDATE_LINE,
    UPDATE_OPPORTUNITY,
    UPDATE_ORDER,
    add_line,
    company_id,
    contact_id,
    create_opportunity,
    create_order,
    event_cursor,
    link_participant,
    opportunity_version,
    order_events_since,
    read_order,
    remove_line,
    reorder_lines,
    set_status,
    team_with,
    update_line,
    update_order,
)

MISSING_ORDER = base64.b64encode(b"Order:999999").decode()
MISSING_LINE = base64.b64encode(b"OrderLine:999999").decode()
MISSING_OPPORTUNITY = base64.b64encode(b"Opportunity:999999").decode()
NODE = "query($id: ID!) { node(id: $id) { id } }"
DELETE_OPPORTUNITY = """mutation($i: DeleteOpportunityInput!) { deleteOpportunity(input: $i) {
  opportunity { id } userErrors { field code message } } }"""


def item(description: str = "Item", price: str = "10.00", rate: str = "19") -> dict[str, Any]:
    return {"description": description, "unitPrice": price, "taxRate": rate}


async def me(api: Api, token: str) -> str:
    user_id: str = (await api.ok("{ me { id } }", token=token))["me"]["id"]
    return user_id


async def private_order(api: Api, admin_token: str) -> dict[str, Any]:
    """Alice's PRIVATE opportunity with Carol's team and Dan linked, and Alice's order of it;
    Bob is an outsider."""
    alice_id, alice = await api.create_user(admin_token, "alice@example.com")
    _, bob = await api.create_user(admin_token, "bob@example.com")
    carol_id, carol = await api.create_user(admin_token, "carol@example.com")
    dan_id, dan = await api.create_user(admin_token, "dan@example.com")
    opportunity = await create_opportunity(api, alice, visibility="PRIVATE")
    team = await team_with(api, admin_token, carol_id)
    await link_participant(api, alice, opportunity, team, "SALES_REP")
    await link_participant(api, alice, opportunity, dan_id, "PRESALES")
    order = await create_order(api, alice, opportunityId=opportunity, lines=[item("A", "5.00")])
    return {
        "alice": alice,
        "alice_id": alice_id,
        "bob": bob,
        "carol": carol,
        "dan": dan,
        "opportunity": opportunity,
        "order": order,
    }


async def subscription_errors(
    api: Api, token: str, document: str, variables: dict[str, Any]
) -> list[dict[str, Any]]:
    """The errors a subscription is refused with."""
    async with api.subscriber(token) as sub:
        await sub.subscribe(document, variables)
        message = await sub.receive()
    if message["type"] == "error":
        errors: list[dict[str, Any]] = message["payload"]
        return errors
    assert message["type"] == "next" and message["payload"].get("errors"), message
    errors = message["payload"]["errors"]
    return errors


async def opportunity_events_since(
    api: Api, token: str, since: str, count: int, opportunity_id: str | None = None
) -> list[dict[str, Any]]:
    async with api.subscriber(token) as sub:
        variables = {"opportunityId": opportunity_id, "since": since}
        await sub.subscribe(OPPORTUNITY_EVENTS, variables)
        events = [(await sub.next())["opportunityEvents"] for _ in range(count)]
        await sub.expect_silence(0.3)
    return events


# --- visibility -----------------------------------------------------------------------------


async def test_an_outsider_cannot_see_an_order_of_a_private_opportunity(
    api: Api, admin_token: str
) -> None:
    s = await private_order(api, admin_token)
    bob, order = s["bob"], s["order"]
    public = await create_order(api, admin_token)  # no opportunity: everybody's
    for token in (s["alice"], s["carol"], s["dan"], admin_token):
        assert await read_order(api, token, order["id"]) == order
        listed = (await api.ok(ORDERS, {}, token))["orders"]
        assert {n["id"] for n in listed["nodes"]} == {order["id"], public["id"]}
        assert listed["totalCount"] == 2
    assert await read_order(api, bob, order["id"]) is None
    assert (await api.ok(NODE, {"id": order["id"]}, bob))["node"] is None
    assert (await api.ok(NODE, {"id": order["lines"][0]["id"]}, bob))["node"] is None
    listed = (await api.ok(ORDERS, {}, bob))["orders"]
    assert [n["id"] for n in listed["nodes"]] == [public["id"]] and listed["totalCount"] == 1
    mine = {"opportunityId": s["opportunity"]}
    assert (await api.ok(ORDERS, {"filter": mine}, bob))["orders"]["totalCount"] == 0


async def test_an_outsider_gets_the_same_errors_as_for_a_missing_order(
    api: Api, admin_token: str
) -> None:
    s = await private_order(api, admin_token)
    bob, order = s["bob"], s["order"]
    line = order["lines"][0]

    def attempts(order_id: str, line_id: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (UPDATE_ORDER, "updateOrder", {"id": order_id, "expectedVersion": 1, "notes": "x"}),
            (SET_STATUS, "setOrderStatus", {"id": order_id, "status": "CANCELLED"}),
            (ADD_LINE, "addOrderLine", {"orderId": order_id, **item()}),
            (UPDATE_LINE, "updateOrderLine", {"id": line_id, "expectedVersion": 1,
                                              "quantity": "2"}),
            (REMOVE_LINE, "removeOrderLine", {"id": line_id}),
            (REORDER_LINES, "reorderOrderLines", {"orderId": order_id, "expectedVersion": 1,
                                                  "lineIds": [line_id]}),
        ]  # fmt: skip

    hidden = attempts(order["id"], line["id"])
    missing = attempts(MISSING_ORDER, MISSING_LINE)
    for (document, name, values), (_, _, absent) in zip(hidden, missing, strict=True):
        got = (await api.ok(document, {"i": values}, bob))[name]
        expected = (await api.ok(document, {"i": absent}, bob))[name]
        assert [e["code"] for e in got["userErrors"]] == ["NOT_FOUND"], (name, got)
        assert got == expected, name
    for document, name in (
        (CREATE_ORDER, "createOrder"),
        (CREATE_FROM_OPPORTUNITY, "createOrderFromOpportunity"),
    ):
        created = (await api.ok(document, {"i": {"opportunityId": s["opportunity"]}}, bob))[name]
        expected = (await api.ok(document, {"i": {"opportunityId": MISSING_OPPORTUNITY}}, bob))[
            name
        ]
        assert [e["code"] for e in created["userErrors"]] == ["NOT_FOUND"], (name, created)
        assert created == expected, name
    assert await read_order(api, s["alice"], order["id"]) == order, "nothing changed"
    assert (await api.ok(ORDERS, {}, admin_token))["orders"]["totalCount"] == 1

    refused = await subscription_errors(api, bob, ORDER_EVENTS_FULL, {"orderId": order["id"]})
    unknown = await subscription_errors(api, bob, ORDER_EVENTS_FULL, {"orderId": MISSING_ORDER})
    assert refused[0]["extensions"]["code"] == "BAD_USER_INPUT", refused
    assert [e["message"] for e in refused] == [e["message"] for e in unknown]


async def test_an_order_without_an_opportunity_is_everybodys(api: Api, admin_token: str) -> None:
    _, mia = await api.create_user(admin_token, "mia@example.com")
    cursor = await event_cursor(api, admin_token)
    order = await create_order(api, admin_token, lines=[item()])
    assert await read_order(api, mia, order["id"]) == order
    listed = (await api.ok(ORDERS, {}, mia))["orders"]
    assert [n["id"] for n in listed["nodes"]] == [order["id"]] and listed["totalCount"] == 1
    added = await add_line(api, mia, order["id"], **item("Mine"))
    assert added["order"]["lineCount"] == 2
    events = await order_events_since(api, mia, order["id"], cursor, 2)
    assert [e["kind"] for e in events] == ["ORDER_CREATED", "ORDER_LINE_ADDED"]
    assert [e["opportunityId"] for e in events] == [None, None]
    assert events[1]["actor"]["id"] == await me(api, mia)
    # Such an order's events are not on the opportunity streams: only the marker is.
    marker = await create_opportunity(api, admin_token, name="Marker")
    (only,) = await opportunity_events_since(api, mia, cursor, 1)
    assert (only["kind"], only["opportunityId"], only["order"]) == ("CREATED", marker, None)


# --- live -----------------------------------------------------------------------------------


async def test_a_teammate_sees_a_line_added_with_the_new_totals(api: Api, admin_token: str) -> None:
    s = await private_order(api, admin_token)
    order = s["order"]
    cursor = await event_cursor(api, s["carol"])
    async with api.subscriber(s["carol"]) as sub:
        await sub.subscribe(ORDER_EVENTS_FULL, {"orderId": order["id"], "since": cursor})
        await update_order(api, s["alice"], order["id"], notes="Warm-up")
        warm_up = (await sub.next())["orderEvents"]
        assert (warm_up["kind"], warm_up["version"]) == ("ORDER_UPDATED", order["version"] + 1)
        added = await add_line(api, s["alice"], order["id"], quantity="2", **item("B"))
        event = (await sub.next())["orderEvents"]
        await sub.expect_silence(0.3)
    assert (event["kind"], event["orderId"], event["opportunityId"]) == (
        "ORDER_LINE_ADDED", order["id"], s["opportunity"],
    )  # fmt: skip
    assert event["version"] == order["version"] + 2 == added["order"]["version"]
    assert event["actor"]["id"] == s["alice_id"]
    changes = {c["field"]: c for c in event["changes"]}
    assert sorted(changes) == ["line", "totals"]
    line = changes["line"]
    assert line["old"] is None
    new = line["new"]
    assert (new["id"], new["orderId"], new["position"]) == (added["line"]["id"], order["id"], 2)
    assert (new["quantity"], new["unitPrice"], new["amount"]) == ("2", "10.00", "20.00")
    assert (new["netAmount"], new["taxAmount"], new["grossAmount"]) == ("20.00", "3.80", "23.80")
    # 5.00 at 19 % = 0.95; then 25.00 at 19 % = 4.75.
    assert changes["totals"]["old"] == {
        "subtotal": "5.00", "discountTotal": "0.00", "orderDiscount": "0.00",
        "netTotal": "5.00", "taxTotal": "0.95", "grandTotal": "5.95",
    }  # fmt: skip
    assert changes["totals"]["new"] == {
        "subtotal": "25.00", "discountTotal": "0.00", "orderDiscount": "0.00",
        "netTotal": "25.00", "taxTotal": "4.75", "grandTotal": "29.75",
    }  # fmt: skip
    assert event["order"]["grandTotal"] == {"amount": "29.75", "currency": "EUR"}
    assert event["order"]["lineCount"] == 2


async def rename(api: Api, token: str, opportunity_id: str, name: str) -> None:
    version = await opportunity_version(api, token, opportunity_id)
    values = {"id": opportunity_id, "expectedVersion": version, "name": name}
    await api.mutate("updateOpportunity", UPDATE_OPPORTUNITY, {"i": values}, token)


async def test_order_events_reach_the_opportunitys_subscribers_only(
    api: Api, admin_token: str
) -> None:
    s = await private_order(api, admin_token)
    alice, order = s["alice"], s["order"]
    public = await create_opportunity(api, admin_token, name="Open deal")
    cursor = await event_cursor(api, admin_token)
    async with api.subscriber(s["carol"]) as carol, api.subscriber(s["bob"]) as bob:
        for sub in (carol, bob):
            await sub.subscribe(OPPORTUNITY_EVENTS, {"since": cursor})
        await rename(api, admin_token, public, "Marker 1")
        for sub in (carol, bob):  # both subscriptions are live now
            first = (await sub.next())["opportunityEvents"]
            assert (first["kind"], first["opportunityId"]) == ("UPDATED", public)
        added = await add_line(api, alice, order["id"], **item("B"))
        await update_order(api, alice, order["id"], companyId=await company_id(api, alice))
        await rename(api, admin_token, public, "Marker 2")
        # Carol (through her team) gets both order events, then the marker.
        seen = [(await carol.next())["opportunityEvents"] for _ in range(3)]
        # Bob, an outsider, gets the marker and nothing of the private opportunity's order.
        outsider = (await bob.next())["opportunityEvents"]
        await bob.expect_silence(0.3)
        await carol.expect_silence(0.1)
    assert [(e["kind"], e["opportunityId"]) for e in seen] == [
        ("ORDER_LINE_ADDED", s["opportunity"]),
        ("ORDER_UPDATED", s["opportunity"]),
        ("UPDATED", public),
    ]
    version = added["order"]["version"]
    assert seen[0]["order"] == {"id": order["id"], "version": version}
    assert seen[1]["order"] == {"id": order["id"], "version": version + 1}
    assert seen[2]["order"] is None
    assert (outsider["kind"], outsider["opportunityId"]) == ("UPDATED", public)
    assert outsider["cursor"] == seen[2]["cursor"]
    # Replayed, the outsider's stream is as silent about the order as live.
    replayed = await opportunity_events_since(api, s["bob"], cursor, 2)
    assert [(e["kind"], e["opportunityId"]) for e in replayed] == [("UPDATED", public)] * 2
    # Subscribed to that one opportunity, Alice gets exactly the order's events.
    own = await opportunity_events_since(api, alice, cursor, 2, s["opportunity"])
    assert [e["cursor"] for e in own] == [e["cursor"] for e in seen[:2]]


async def test_order_visibility_follows_the_opportunity(api: Api, admin_token: str) -> None:
    _, mia = await api.create_user(admin_token, "mia@example.com")
    opportunity = await create_opportunity(api, admin_token)  # PUBLIC
    order = await create_order(api, admin_token, opportunityId=opportunity, lines=[item()])
    assert await read_order(api, mia, order["id"]) == order
    cursor = await event_cursor(api, admin_token)
    async with api.subscriber(mia) as sub:
        await sub.subscribe(ORDER_EVENTS_FULL, {"orderId": order["id"], "since": cursor})
        order = await update_order(api, admin_token, order["id"], notes="Public still")
        assert (await sub.next())["orderEvents"]["kind"] == "ORDER_UPDATED"  # live now
        version = await opportunity_version(api, admin_token, opportunity)
        values = {"id": opportunity, "expectedVersion": version, "visibility": "PRIVATE"}
        await api.mutate("updateOpportunity", UPDATE_OPPORTUNITY, {"i": values}, admin_token)
        order = (await add_line(api, admin_token, order["id"], **item("Secret")))["order"]
        await sub.expect_silence(0.5)
    events = await order_events_since(api, admin_token, order["id"], cursor, 2)
    assert events[1]["kind"] == "ORDER_LINE_ADDED", "the admin does get the event"
    assert await read_order(api, mia, order["id"]) is None
    assert (await api.ok(ORDERS, {}, mia))["orders"]["totalCount"] == 0
    refused = await add_line_errors(api, mia, order["id"])
    assert [e["code"] for e in refused] == ["NOT_FOUND"]
    assert await read_order(api, admin_token, order["id"]) == order


async def add_line_errors(api: Api, token: str, order_id: str) -> list[dict[str, Any]]:
    payload = (await api.ok(ADD_LINE, {"i": {"orderId": order_id, **item()}}, token))[
        "addOrderLine"
    ]
    errors: list[dict[str, Any]] = payload["userErrors"]
    return errors


async def test_a_deleted_opportunity_leaves_its_order(api: Api, admin_token: str) -> None:
    opportunity = await create_opportunity(api, admin_token)
    order = await create_order(api, admin_token, opportunityId=opportunity, lines=[item()])
    version = await opportunity_version(api, admin_token, opportunity)
    await api.mutate(
        "deleteOpportunity", DELETE_OPPORTUNITY,
        {"i": {"id": opportunity, "expectedVersion": version}}, admin_token,
    )  # fmt: skip
    kept = await read_order(api, admin_token, order["id"])
    assert kept is not None and kept["opportunity"] is None
    assert {**kept, "opportunity": order["opportunity"]} == order


# --- exactly these events -------------------------------------------------------------------


async def test_every_order_action_writes_its_event(api: Api, admin_token: str) -> None:
    admin_id = await me(api, admin_token)
    opportunity = await create_opportunity(api, admin_token)
    acme = await company_id(api, admin_token)
    cursor = await event_cursor(api, admin_token)
    order = await create_order(
        api, admin_token, opportunityId=opportunity, discount={"kind": "AMOUNT", "value": "1.00"},
        lines=[item("A")],
    )  # fmt: skip
    a = order["lines"][0]["id"]
    await update_order(api, admin_token, order["id"], notes="Rush")
    b = (await add_line(api, admin_token, order["id"], **item("B")))["line"]["id"]
    await update_line(api, admin_token, b, quantity="3")
    await reorder_lines(api, admin_token, order["id"], [b, a], 4)
    await update_order(api, admin_token, order["id"], discount={"kind": "AMOUNT", "value": "2.00"})
    await remove_line(api, admin_token, a)
    await update_order(api, admin_token, order["id"], companyId=acme)
    await set_status(api, admin_token, order["id"], "CONFIRMED", expectedVersion=8)

    events = await order_events_since(api, admin_token, order["id"], cursor, 9)
    summary = [(e["kind"], e["version"], sorted(c["field"] for c in e["changes"])) for e in events]
    assert summary == [
        ("ORDER_CREATED", 1, ["order"]),
        ("ORDER_UPDATED", 2, ["notes"]),
        ("ORDER_LINE_ADDED", 3, ["allocations", "line", "totals"]),
        ("ORDER_LINE_UPDATED", 4, ["allocations", "line", "totals"]),
        ("ORDER_LINES_REORDERED", 5, ["lineOrder"]),
        ("ORDER_UPDATED", 6, ["allocations", "discount", "totals"]),
        ("ORDER_LINE_REMOVED", 7, ["allocations", "line", "totals"]),
        ("ORDER_UPDATED", 8, ["company"]),
        ("ORDER_STATUS_CHANGED", 9, ["status"]),
    ]
    for event in events:
        assert (event["orderId"], event["opportunityId"]) == (order["id"], opportunity)
        assert event["order"]["id"] == order["id"]
        assert event["order"]["version"] == event["version"]
        assert event["actor"] == {"id": admin_id}
    change = [{c["field"]: c for c in e["changes"]} for e in events]
    assert change[0]["order"]["old"] is None
    assert change[0]["order"]["new"]["number"] == order["number"]
    assert (change[1]["notes"]["old"], change[1]["notes"]["new"]) == (None, "Rush")
    # B added: 1.00 is spread 0.50 / 0.50, so A's share moved from 1.00.
    assert [line["id"] for line in change[2]["allocations"]["new"]] == [a]
    assert change[2]["allocations"]["new"][0]["orderDiscountAmount"] == "0.50"
    assert change[2]["totals"]["old"]["grandTotal"] == "10.71"  # 9.00 + 1.71
    assert change[2]["totals"]["new"]["grandTotal"] == "22.61"  # 19.00 + 3.61
    old, new = change[3]["line"]["old"], change[3]["line"]["new"]
    assert (old["id"], old["quantity"], new["id"], new["quantity"]) == (b, "1", b, "3")
    assert (old["version"], new["version"]) == (1, 2)
    assert change[3]["allocations"]["new"][0]["orderDiscountAmount"] == "0.25"  # of 10 + 30
    assert (change[4]["lineOrder"]["old"], change[4]["lineOrder"]["new"]) == ([a, b], [b, a])
    discount = change[5]["discount"]  # values compared as numbers; formats in the next test
    assert [(d["kind"], Decimal(d["value"])) for d in (discount["old"], discount["new"])] == [
        ("AMOUNT", Decimal(1)),
        ("AMOUNT", Decimal(2)),
    ]
    shares = {line["id"]: line["orderDiscountAmount"] for line in change[5]["allocations"]["new"]}
    assert shares == {b: "1.50", a: "0.50"}  # 2.00 over 30.00 and 10.00
    assert change[5]["totals"]["new"]["orderDiscount"] == "2.00"
    assert change[6]["line"]["old"]["id"] == a and change[6]["line"]["new"] is None
    assert [line["id"] for line in change[6]["allocations"]["new"]] == [b]
    assert change[6]["allocations"]["new"][0]["orderDiscountAmount"] == "2.00"
    assert change[6]["totals"]["new"]["subtotal"] == "30.00"
    assert (change[7]["company"]["old"], change[7]["company"]["new"]) == (None, acme)
    assert (change[8]["status"]["old"], change[8]["status"]["new"]) == ("DRAFT", "CONFIRMED")
    assert events[-1]["order"]["status"] == "CONFIRMED"

    # The opportunity's stream carries the same events, with the same cursors and changes.
    on_opportunity = await opportunity_events_since(api, admin_token, cursor, 9, opportunity)
    assert [e["cursor"] for e in on_opportunity] == [e["cursor"] for e in events]
    assert [e["kind"] for e in on_opportunity] == [e["kind"] for e in events]
    assert [e["changes"] for e in on_opportunity] == [e["changes"] for e in events]
    assert {e["order"]["id"] for e in on_opportunity} == {order["id"]}

    # Resuming gives the same events again, from the start or from any one of them.
    assert await order_events_since(api, admin_token, order["id"], cursor, 9) == events
    middle = events[3]["cursor"]
    assert await order_events_since(api, admin_token, order["id"], middle, 5) == events[4:]
    last = events[-1]["cursor"]
    assert await order_events_since(api, admin_token, order["id"], last, 0) == []


async def test_refused_changes_write_no_event(api: Api, admin_token: str) -> None:
    order = await create_order(api, admin_token, lines=[item()])
    cursor = await event_cursor(api, admin_token)
    stale = {"id": order["id"], "expectedVersion": order["version"] + 5, "notes": "x"}
    refused = (await api.ok(UPDATE_ORDER, {"i": stale}, admin_token))["updateOrder"]
    assert [e["code"] for e in refused["userErrors"]] == ["CONFLICT"]
    wrong = {"id": order["id"], "status": "INVOICED"}
    refused = (await api.ok(SET_STATUS, {"i": wrong}, admin_token))["setOrderStatus"]
    assert [e["code"] for e in refused["userErrors"]] == ["INVALID_TRANSITION"]
    await update_order(api, admin_token, order["id"], notes="Real")
    events = await order_events_since(api, admin_token, order["id"], cursor, 1)
    assert [(e["kind"], e["version"]) for e in events] == [("ORDER_UPDATED", 2)]
    assert await read_order(api, admin_token, order["id"]) is not None
    assert (await api.ok(ORDER, {"id": order["id"]}, admin_token))["order"]["notes"] == "Real"


async def test_a_discount_change_shows_the_discounts_as_the_order_does(
    api: Api, admin_token: str
) -> None:
    order = await create_order(
        api, admin_token, discount={"kind": "AMOUNT", "value": "1.00", "reason": "Promo"},
        lines=[item()],
    )  # fmt: skip
    shown = [order["discount"]]
    cursor = await event_cursor(api, admin_token)
    for discount in (
        {"kind": "PERCENT", "value": "12.5"},
        {"kind": "AMOUNT", "value": "0.5"},
        None,
    ):
        shown.append(
            (await update_order(api, admin_token, order["id"], discount=discount))["discount"]
        )
    assert shown[1:] == [
        {"kind": "PERCENT", "value": "12.5", "reason": None},
        {"kind": "AMOUNT", "value": "0.50", "reason": None},
        None,
    ]
    events = await order_events_since(api, admin_token, order["id"], cursor, 3)
    changes = [next(c for c in e["changes"] if c["field"] == "discount") for e in events]
    assert [(c["old"], c["new"]) for c in changes] == list(itertools.pairwise(shown))


async def test_header_changes_are_stored_and_announced(api: Api, admin_token: str) -> None:
    olga_id, _ = await api.create_user(admin_token, "olga@example.com")
    acme = await company_id(api, admin_token)
    ann = await contact_id(api, admin_token, acme)
    order = await create_order(api, admin_token, lines=[item()])
    cursor = await event_cursor(api, admin_token)
    changed = await update_order(
        api, admin_token, order["id"], companyId=acme, contactId=ann, ownerId=olga_id,
        orderDate="2030-02-01", notes="Call first",
    )  # fmt: skip
    assert (changed["company"], changed["contact"], changed["owner"]) == (
        {"id": acme}, {"id": ann}, {"id": olga_id},
    )  # fmt: skip
    assert (changed["orderDate"], changed["notes"]) == ("2030-02-01", "Call first")
    assert changed["version"] == order["version"] + 1
    assert await read_order(api, admin_token, order["id"]) == changed
    (event,) = await order_events_since(api, admin_token, order["id"], cursor, 1)
    assert (event["kind"], event["version"]) == ("ORDER_UPDATED", changed["version"])
    assert {c["field"]: (c["old"], c["new"]) for c in event["changes"]} == {
        "company": (None, acme),
        "contact": (None, ann),
        "owner": (await me(api, admin_token), olga_id),
        "orderDate": (order["orderDate"], "2030-02-01"),
        "notes": (None, "Call first"),
    }
