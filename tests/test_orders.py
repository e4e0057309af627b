"""Orders through the GraphQL API: the basic flow and the totals rule (issue 4)."""

from __future__ import annotations

from tests.client import Api
from tests.orders_client import (
    ADD_LINE,
    SET_STATUS,
    add_line,
    amounts,
    company_id,
    create_order,
    create_product,
    errors_of,
)


async def test_an_order_with_lines_adds_up(api: Api, admin_token: str) -> None:
    product = await create_product(api, admin_token)
    order = await create_order(
        api,
        admin_token,
        lines=[
            {"productId": product["id"], "quantity": "3"},
            {"description": "Setup", "unitPrice": "99.99", "taxRate": "7"},
        ],
    )
    assert order["status"] == "DRAFT" and order["number"].startswith("ORD-")
    assert [line["amount"]["amount"] for line in order["lines"]] == ["30.00", "99.99"]
    assert amounts(order) == {
        "subtotal": "129.99",
        "discountTotal": "0.00",
        "orderDiscountAmount": "0.00",
        "netTotal": "129.99",
        "taxTotal": "12.70",  # 30.00 x 19% = 5.70, 99.99 x 7% = 6.9993 -> 7.00
        "grandTotal": "142.69",
    }


async def test_three_lines_at_three_cents_round_tax_once(api: Api, admin_token: str) -> None:
    order = await create_order(
        api,
        admin_token,
        lines=[
            {"description": f"Item {i}", "unitPrice": "0.03", "taxRate": "19"} for i in range(3)
        ],
    )
    # 0.09 x 19% = 0.0171 -> 0.02 (per-line rounding would say 3 x 0.01 = 0.03).
    assert order["taxTotal"]["amount"] == "0.02"
    assert sorted(line["taxAmount"]["amount"] for line in order["lines"]) == [
        "0.00",
        "0.01",
        "0.01",
    ]


async def test_inactive_product_is_refused(api: Api, admin_token: str) -> None:
    product = await create_product(api, admin_token, isActive=False)
    order = await create_order(api, admin_token)
    errors = await errors_of(
        api, ADD_LINE, "addOrderLine", admin_token, orderId=order["id"], productId=product["id"]
    )
    assert [e["code"] for e in errors] == ["INVALID"]


async def test_a_confirmed_order_is_not_editable(api: Api, admin_token: str) -> None:
    order = await create_order(api, admin_token, companyId=await company_id(api, admin_token))
    await add_line(api, admin_token, order["id"], description="x", unitPrice="1")
    await api.mutate(
        "setOrderStatus", SET_STATUS, {"i": {"id": order["id"], "status": "CONFIRMED"}}, admin_token
    )
    errors = await errors_of(
        api, ADD_LINE, "addOrderLine", admin_token, orderId=order["id"], description="y",
        unitPrice="1",
    )  # fmt: skip
    assert [e["code"] for e in errors] == ["NOT_EDITABLE"]
