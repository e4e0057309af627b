"""Order operations shared by the order tests."""

from __future__ import annotations

from typing import Any

from tests.client import Api

MONEY = "{ amount currency }"
LINE_FIELDS = f"""
  id position description quantity unitPrice {MONEY} taxRate version orderId
  discount {{ kind value }} product {{ id sku }}
  amount {MONEY} discountAmount {MONEY} orderDiscountAmount {MONEY}
  netAmount {MONEY} taxAmount {MONEY} grossAmount {MONEY}
"""
ORDER_FIELDS = f"""
  id number status currency orderDate notes version lineCount
  discount {{ kind value reason }}
  subtotal {MONEY} discountTotal {MONEY} orderDiscountAmount {MONEY}
  netTotal {MONEY} taxTotal {MONEY} grandTotal {MONEY}
  company {{ id }} contact {{ id }} owner {{ id }} opportunity {{ id }}
  lines {{ {LINE_FIELDS} }}
"""
ERRORS = "userErrors { field code message }"

CREATE_ORDER = f"""mutation($i: CreateOrderInput!) {{ createOrder(input: $i) {{
  order {{ {ORDER_FIELDS} }} {ERRORS} }} }}"""
CREATE_FROM_OPPORTUNITY = f"""mutation($i: CreateOrderFromOpportunityInput!) {{
  createOrderFromOpportunity(input: $i) {{ order {{ {ORDER_FIELDS} }} {ERRORS} }} }}"""
UPDATE_ORDER = f"""mutation($i: UpdateOrderInput!) {{ updateOrder(input: $i) {{
  order {{ {ORDER_FIELDS} }} {ERRORS} }} }}"""
SET_STATUS = f"""mutation($i: SetOrderStatusInput!) {{ setOrderStatus(input: $i) {{
  order {{ {ORDER_FIELDS} }} {ERRORS} }} }}"""
ADD_LINE = f"""mutation($i: AddOrderLineInput!) {{ addOrderLine(input: $i) {{
  line {{ {LINE_FIELDS} }} order {{ {ORDER_FIELDS} }} {ERRORS} }} }}"""
UPDATE_LINE = f"""mutation($i: UpdateOrderLineInput!) {{ updateOrderLine(input: $i) {{
  line {{ {LINE_FIELDS} }} order {{ {ORDER_FIELDS} }} {ERRORS} }} }}"""
REMOVE_LINE = f"""mutation($i: RemoveOrderLineInput!) {{ removeOrderLine(input: $i) {{
  line {{ id }} order {{ {ORDER_FIELDS} }} {ERRORS} }} }}"""
REORDER_LINES = f"""mutation($i: ReorderOrderLinesInput!) {{ reorderOrderLines(input: $i) {{
  order {{ {ORDER_FIELDS} }} {ERRORS} }} }}"""
CREATE_PRODUCT = f"""mutation($i: CreateProductInput!) {{ createProduct(input: $i) {{
  product {{ id sku name unitPrice {MONEY} defaultTaxRate isActive version }} {ERRORS} }} }}"""
UPDATE_PRODUCT = f"""mutation($i: UpdateProductInput!) {{ updateProduct(input: $i) {{
  product {{ id sku name unitPrice {MONEY} defaultTaxRate isActive version }} {ERRORS} }} }}"""
ORDER = f"""query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"""
ORDERS = f"""query($filter: OrderFilterInput, $orderBy: [OrderOrder!], $first: Int,
  $after: String) {{ orders(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {{
  totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ id number status orderDate
  grandTotal {MONEY} }} }} }}"""
ORDER_EVENTS = """subscription($orderId: ID!, $since: String) {
  orderEvents(orderId: $orderId, since: $since) {
    cursor kind orderId opportunityId version actor { id }
    changes { field old new }
    order { id version status grandTotal { amount currency } }
  } }"""


async def create_order(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    values = {"currency": "EUR", **fields}
    order: dict[str, Any] = (await api.mutate("createOrder", CREATE_ORDER, {"i": values}, token))[
        "order"
    ]
    return order


async def create_product(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    values = {
        "sku": "SKU-1",
        "name": "Widget",
        "unitPrice": {"amount": "10.00", "currency": "EUR"},
        "defaultTaxRate": "19",
        **fields,
    }
    product: dict[str, Any] = (
        await api.mutate("createProduct", CREATE_PRODUCT, {"i": values}, token)
    )["product"]
    return product


async def add_line(api: Api, token: str, order_id: str, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = await api.mutate(
        "addOrderLine", ADD_LINE, {"i": {"orderId": order_id, **fields}}, token
    )
    return payload


async def errors_of(api: Api, document: str, name: str, token: str, **values: Any) -> list[Any]:
    """The userErrors of a mutation expected to fail."""
    payload = (await api.ok(document, {"i": values}, token))[name]
    assert payload["userErrors"], payload
    errors: list[Any] = payload["userErrors"]
    return errors


def amounts(order: dict[str, Any]) -> dict[str, str]:
    names = ("subtotal", "discountTotal", "orderDiscountAmount", "netTotal", "taxTotal")
    return {n: order[n]["amount"] for n in (*names, "grandTotal")}


async def company_id(api: Api, token: str, name: str = "Acme") -> str:
    payload = await api.mutate(
        "createCompany",
        "mutation($i: CreateCompanyInput!) { createCompany(input: $i) { company { id } "
        "userErrors { code } } }",
        {"i": {"name": name}},
        token,
    )
    company: str = payload["company"]["id"]
    return company


# --- more shared operations (order totals, lifecycle, visibility and events tests) ----------

EVENT_CURSOR = "{ eventCursor }"
ORDER_EVENT_FIELDS = """cursor kind orderId opportunityId version actor { id } occurredAt
    changes { field old new }
    order { id version status lineCount grandTotal { amount currency } }"""
ORDER_EVENTS_FULL = f"""subscription($orderId: ID!, $since: String) {{
  orderEvents(orderId: $orderId, since: $since) {{ {ORDER_EVENT_FIELDS} }} }}"""
OPPORTUNITY_EVENTS = """subscription($opportunityId: ID, $since: String) {
  opportunityEvents(opportunityId: $opportunityId, since: $since) {
    cursor kind opportunityId changes { field old new } order { id version } } }"""
CREATE_OPPORTUNITY = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""
UPDATE_OPPORTUNITY = """mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""
MARK_LOST = """mutation($i: MarkOpportunityLostInput!) { markOpportunityLost(input: $i) {
  opportunity { id version status } userErrors { field code message } } }"""
LINK_PARTICIPANT = """mutation($i: LinkParticipantInput!) { linkParticipant(input: $i) {
  participant { id } opportunity { id version } userErrors { field code message } } }"""
CREATE_CONTACT = """mutation($i: CreateContactInput!) { createContact(input: $i) {
  contact { id } userErrors { field code message } } }"""
CREATE_TEAM = """mutation($i: CreateTeamInput!) { createTeam(input: $i) {
  team { id } userErrors { code } } }"""
ADD_TEAM_MEMBER = """mutation($team: ID!, $user: ID!) {
  addTeamMember(input: {teamId: $team, userId: $user}) { team { id } userErrors { code } } }"""
OPPORTUNITY_VERSION = "query($id: ID!) { opportunity(id: $id) { version } }"

LINE_AMOUNT_FIELDS = (
    "amount",
    "discountAmount",
    "orderDiscountAmount",
    "netAmount",
    "taxAmount",
    "grossAmount",
)


async def read_order(api: Api, token: str, order_id: str) -> dict[str, Any] | None:
    order: dict[str, Any] | None = (await api.ok(ORDER, {"id": order_id}, token))["order"]
    return order


async def update_order(api: Api, token: str, order_id: str, **fields: Any) -> dict[str, Any]:
    """updateOrder at the order's current version unless `expectedVersion` is given."""
    if "expectedVersion" not in fields:
        current = await read_order(api, token, order_id)
        assert current is not None
        fields["expectedVersion"] = current["version"]
    payload = await api.mutate(
        "updateOrder", UPDATE_ORDER, {"i": {"id": order_id, **fields}}, token
    )
    order: dict[str, Any] = payload["order"]
    return order


async def set_status(
    api: Api, token: str, order_id: str, status: str, **fields: Any
) -> dict[str, Any]:
    values = {"id": order_id, "status": status, **fields}
    order: dict[str, Any] = (await api.mutate("setOrderStatus", SET_STATUS, {"i": values}, token))[
        "order"
    ]
    return order


async def update_line(api: Api, token: str, line_id: str, **fields: Any) -> dict[str, Any]:
    """updateOrderLine (the line's current version unless `expectedVersion` is given)."""
    if "expectedVersion" not in fields:
        fields["expectedVersion"] = await line_version(api, token, line_id)
    payload: dict[str, Any] = await api.mutate(
        "updateOrderLine", UPDATE_LINE, {"i": {"id": line_id, **fields}}, token
    )
    return payload


async def remove_line(api: Api, token: str, line_id: str, **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = await api.mutate(
        "removeOrderLine", REMOVE_LINE, {"i": {"id": line_id, **fields}}, token
    )
    return payload


async def reorder_lines(
    api: Api, token: str, order_id: str, line_ids: list[str], expected_version: int
) -> dict[str, Any]:
    values = {"orderId": order_id, "lineIds": line_ids, "expectedVersion": expected_version}
    order: dict[str, Any] = (
        await api.mutate("reorderOrderLines", REORDER_LINES, {"i": values}, token)
    )["order"]
    return order


async def line_version(api: Api, token: str, line_id: str) -> int:
    data = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on OrderLine { version } } }", {"id": line_id}, token
    )
    version: int = data["node"]["version"]
    return version


def line_amounts(line: dict[str, Any]) -> tuple[str, ...]:
    """(amount, discount, order discount share, net, tax, gross) of a line, as strings."""
    return tuple(line[name]["amount"] for name in LINE_AMOUNT_FIELDS)


def codes(errors: list[dict[str, Any]]) -> list[str]:
    return [error["code"] for error in errors]


async def event_cursor(api: Api, token: str) -> str:
    cursor: str = (await api.ok(EVENT_CURSOR, token=token))["eventCursor"]
    return cursor


async def order_events_since(
    api: Api, token: str, order_id: str, since: str, count: int
) -> list[dict[str, Any]]:
    """Exactly `count` events of the order after `since` (then silence)."""
    async with api.subscriber(token) as sub:
        await sub.subscribe(ORDER_EVENTS_FULL, {"orderId": order_id, "since": since})
        events = [(await sub.next())["orderEvents"] for _ in range(count)]
        await sub.expect_silence(0.3)
    return events


async def create_opportunity(api: Api, token: str, **fields: Any) -> str:
    values = {"name": "Deal", "expectedValue": {"amount": "1000.00", "currency": "EUR"}, **fields}
    payload = await api.mutate("createOpportunity", CREATE_OPPORTUNITY, {"i": values}, token)
    opportunity_id: str = payload["opportunity"]["id"]
    return opportunity_id


async def opportunity_version(api: Api, token: str, opportunity_id: str) -> int:
    data = await api.ok(OPPORTUNITY_VERSION, {"id": opportunity_id}, token)
    version: int = data["opportunity"]["version"]
    return version


async def link_participant(
    api: Api, token: str, opportunity_id: str, target: str, role: str, *, primary: bool = False
) -> None:
    values = {
        "opportunityId": opportunity_id,
        "participantId": target,
        "role": role,
        "isPrimary": primary,
    }
    await api.mutate("linkParticipant", LINK_PARTICIPANT, {"i": values}, token)


async def contact_id(api: Api, token: str, company: str | None = None, name: str = "Ann") -> str:
    values = {"firstName": name, "lastName": "Lee", "companyId": company}
    payload = await api.mutate("createContact", CREATE_CONTACT, {"i": values}, token)
    contact: str = payload["contact"]["id"]
    return contact


async def team_with(api: Api, admin_token: str, user_id: str, name: str = "Deal desk") -> str:
    payload = await api.mutate("createTeam", CREATE_TEAM, {"i": {"name": name}}, admin_token)
    team: str = payload["team"]["id"]
    await api.mutate("addTeamMember", ADD_TEAM_MEMBER, {"team": team, "user": user_id}, admin_token)
    return team
