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
