"""The product catalogue through the GraphQL API, and products on order lines.

Only admins create and change products (a member gets FORBIDDEN); SKUs are unique whatever
their case (DUPLICATE). A product line takes the product's name, unit price (only in the
order's currency; otherwise the unit price is REQUIRED) and default tax rate unless the line
sets them. An inactive product cannot go on a line (INVALID), an unknown one is NOT_FOUND, and
lines keep their prices when the product's price changes later.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.client import Api
from tests.orders_client import (
    ADD_LINE,
    CREATE_ORDER,
    CREATE_PRODUCT,
    UPDATE_LINE,
    UPDATE_PRODUCT,
    add_line,
    codes,
    create_order,
    create_product,
    read_order,
    update_line,
)

MISSING_PRODUCT = base64.b64encode(b"Product:999999").decode()
PRODUCTS = """query($search: String, $active: Boolean, $first: Int, $after: String) {
  products(search: $search, active: $active, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } nodes { id sku name } } }"""


async def payload_of(
    api: Api, document: str, name: str, token: str, /, **values: Any
) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.ok(document, {"i": values}, token))[name]
    return payload


# --- products -------------------------------------------------------------------------------


async def test_products_are_created_listed_and_updated(api: Api, admin_token: str) -> None:
    bolt = await create_product(
        api, admin_token, sku="BOLT-8", name="Bolt", description="M8",
        unitPrice={"amount": "0.0125", "currency": "EUR"}, defaultTaxRate="19",
    )  # fmt: skip
    assert (bolt["sku"], bolt["name"], bolt["unitPrice"], bolt["defaultTaxRate"]) == (
        "BOLT-8", "Bolt", {"amount": "0.0125", "currency": "EUR"}, "19",
    )  # fmt: skip
    assert bolt["isActive"] is True and bolt["version"] == 1
    nut = await create_product(api, admin_token, sku="NUT-8", name="Nut", isActive=False)
    listed = (await api.ok(PRODUCTS, {}, admin_token))["products"]
    assert [n["id"] for n in listed["nodes"]] == [bolt["id"], nut["id"]]  # by name
    assert listed["totalCount"] == 2
    found = (await api.ok(PRODUCTS, {"search": "bolt"}, admin_token))["products"]
    assert [n["id"] for n in found["nodes"]] == [bolt["id"]]
    found = (await api.ok(PRODUCTS, {"search": "nut-8"}, admin_token))["products"]
    assert [n["id"] for n in found["nodes"]] == [nut["id"]]
    active = (await api.ok(PRODUCTS, {"active": True}, admin_token))["products"]
    inactive = (await api.ok(PRODUCTS, {"active": False}, admin_token))["products"]
    assert [n["id"] for n in active["nodes"]] == [bolt["id"]] and active["totalCount"] == 1
    assert [n["id"] for n in inactive["nodes"]] == [nut["id"]]
    values = {"id": bolt["id"], "expectedVersion": 1, "name": "Hex bolt", "isActive": False,
              "unitPrice": {"amount": "0.02", "currency": "EUR"}}  # fmt: skip
    updated = (await api.mutate("updateProduct", UPDATE_PRODUCT, {"i": values}, admin_token))[
        "product"
    ]
    assert (updated["name"], updated["isActive"], updated["version"]) == ("Hex bolt", False, 2)
    assert updated["unitPrice"] == {"amount": "0.02", "currency": "EUR"}
    payload = await payload_of(api, UPDATE_PRODUCT, "updateProduct", admin_token, **values)
    assert codes(payload["userErrors"]) == ["CONFLICT"], "version 1 is stale now"


async def test_products_are_for_admins_and_skus_are_unique(api: Api, admin_token: str) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    product = await create_product(api, admin_token, sku="SKU-1")
    values = {"sku": "M-1", "name": "Mine", "unitPrice": {"amount": "1", "currency": "EUR"}}
    created = await payload_of(api, CREATE_PRODUCT, "createProduct", member, **values)
    updated = await payload_of(
        api, UPDATE_PRODUCT, "updateProduct", member, id=product["id"], name="Hijacked"
    )
    assert codes(created["userErrors"]) == codes(updated["userErrors"]) == ["FORBIDDEN"]
    assert created["product"] is None and updated["product"] is None
    dup = await payload_of(api, CREATE_PRODUCT, "createProduct", admin_token, **{**values,
                           "sku": "sku-1"})  # fmt: skip
    assert [(e["code"], e["field"]) for e in dup["userErrors"]] == [("DUPLICATE", ["sku"])]
    other = await create_product(api, admin_token, sku="SKU-2")
    dup = await payload_of(
        api, UPDATE_PRODUCT, "updateProduct", admin_token, id=other["id"], sku="Sku-1"
    )
    assert codes(dup["userErrors"]) == ["DUPLICATE"]
    listed = (await api.ok(PRODUCTS, {}, admin_token))["products"]
    assert listed["totalCount"] == 2, "the member created nothing"
    names = {n["sku"]: n["name"] for n in listed["nodes"]}
    assert names == {"SKU-1": "Widget", "SKU-2": "Widget"}, "and renamed nothing"


async def test_inactive_and_unknown_products_are_refused(api: Api, admin_token: str) -> None:
    active = await create_product(api, admin_token, sku="ON")
    inactive = await create_product(api, admin_token, sku="OFF", isActive=False)
    values = {"currency": "EUR", "lines": [{"productId": inactive["id"]}]}
    payload = await payload_of(api, CREATE_ORDER, "createOrder", admin_token, **values)
    assert codes(payload["userErrors"]) == ["INVALID"] and payload["order"] is None
    order = await create_order(api, admin_token, lines=[{"productId": active["id"]}])
    line = order["lines"][0]
    payload = await payload_of(
        api, UPDATE_LINE, "updateOrderLine", admin_token,
        id=line["id"], expectedVersion=line["version"], productId=inactive["id"],
    )  # fmt: skip
    assert codes(payload["userErrors"]) == ["INVALID"]
    payload = await payload_of(
        api, ADD_LINE, "addOrderLine", admin_token, orderId=order["id"],
        productId=MISSING_PRODUCT,
    )  # fmt: skip
    assert codes(payload["userErrors"]) == ["NOT_FOUND"]
    assert await read_order(api, admin_token, order["id"]) == order


async def test_a_product_line_takes_defaults_and_keeps_its_price(
    api: Api, admin_token: str
) -> None:
    widget = await create_product(api, admin_token, defaultTaxRate="7.7")
    gadget = await create_product(
        api, admin_token, sku="G", name="Gadget",
        unitPrice={"amount": "4.50", "currency": "EUR"}, defaultTaxRate="19",
    )  # fmt: skip
    order = await create_order(api, admin_token, lines=[{"productId": widget["id"]}])
    line = order["lines"][0]
    assert (line["description"], line["unitPrice"]["amount"], line["taxRate"]) == (
        "Widget", "10.00", "7.7",
    )  # fmt: skip
    assert line["product"] == {"id": widget["id"], "sku": "SKU-1"}
    await api.mutate(
        "updateProduct", UPDATE_PRODUCT,
        {"i": {"id": widget["id"], "unitPrice": {"amount": "99", "currency": "EUR"}}}, admin_token,
    )  # fmt: skip
    kept = await read_order(api, admin_token, order["id"])
    assert kept is not None and kept["lines"][0]["unitPrice"]["amount"] == "10.00"
    swapped = await update_line(api, admin_token, line["id"], productId=gadget["id"])
    assert (swapped["line"]["description"], swapped["line"]["unitPrice"]["amount"]) == (
        "Gadget", "4.50",
    )  # fmt: skip
    assert swapped["line"]["taxRate"] == "19"
    assert swapped["order"]["grandTotal"]["amount"] == "5.36"  # 4.50 + 0.855 -> 0.86


async def test_a_product_in_another_currency_needs_a_unit_price(api: Api, admin_token: str) -> None:
    dollar = await create_product(api, admin_token, unitPrice={"amount": "8", "currency": "USD"})
    order = await create_order(api, admin_token)
    payload = await payload_of(
        api, ADD_LINE, "addOrderLine", admin_token, orderId=order["id"], productId=dollar["id"]
    )
    assert codes(payload["userErrors"]) == ["REQUIRED"]
    assert payload["userErrors"][0]["field"][-1] == "unitPrice"
    assert await read_order(api, admin_token, order["id"]) == order
    added = await add_line(api, admin_token, order["id"], productId=dollar["id"], unitPrice="7.5")
    assert added["line"]["unitPrice"] == {"amount": "7.50", "currency": "EUR"}
    assert added["line"]["description"] == "Widget" and added["line"]["taxRate"] == "19"
    values = {"currency": "EUR", "lines": [{"productId": dollar["id"]}]}
    payload = await payload_of(api, CREATE_ORDER, "createOrder", admin_token, **values)
    assert codes(payload["userErrors"]) == ["REQUIRED"] and payload["order"] is None
    # Switching a line to the dollar product needs a price in euros too.
    free = await add_line(api, admin_token, order["id"], description="Free", unitPrice="1")
    line = free["line"]
    values = {"id": line["id"], "expectedVersion": line["version"], "productId": dollar["id"]}
    before = await read_order(api, admin_token, order["id"])
    payload = await payload_of(api, UPDATE_LINE, "updateOrderLine", admin_token, **values)
    assert codes(payload["userErrors"]) == ["REQUIRED"]
    assert await read_order(api, admin_token, order["id"]) == before
    switched = await update_line(
        api, admin_token, line["id"], productId=dollar["id"], unitPrice="3"
    )
    assert switched["line"]["product"]["id"] == dollar["id"]
    assert switched["line"]["unitPrice"] == {"amount": "3.00", "currency": "EUR"}


async def test_what_a_line_sets_beats_the_products_defaults(api: Api, admin_token: str) -> None:
    widget = await create_product(api, admin_token)
    order = await create_order(
        api, admin_token,
        lines=[{"productId": widget["id"], "description": "Blue widget", "unitPrice": "8.5",
                "taxRate": "7", "quantity": "2"}],
    )  # fmt: skip
    line = order["lines"][0]
    assert (line["description"], line["unitPrice"]["amount"], line["taxRate"]) == (
        "Blue widget", "8.50", "7",
    )  # fmt: skip
    assert line["product"]["id"] == widget["id"]
    assert order["grandTotal"]["amount"] == "18.19"  # 17.00 + 7 % = 1.19
