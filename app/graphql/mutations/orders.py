"""Mutations on products, orders and order lines."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import strawberry
from strawberry import UNSET

from app.crm.errors import DomainError, ErrorCode
from app.crm.orders import queries as orders
from app.crm.orders import services
from app.crm.orders.models import Order as OrderModel
from app.crm.orders.models import OrderLine as LineModel
from app.crm.orders.rows import LineRow, OrderRow
from app.crm.products import services as products
from app.crm.products.models import Product as ProductModel
from app.crm.unit import Unit
from app.graphql.batch import reader
from app.graphql.errors import UserError
from app.graphql.ids import decode_id, decode_optional
from app.graphql.inputs import MoneyInput, given, id_of
from app.graphql.mutations.base import attempt
from app.graphql.types.orders import DiscountKind, Order, OrderLine, OrderStatus, Product

# --- inputs ---------------------------------------------------------------------------------


@strawberry.input(description="A percentage (0-100) or an amount in the order's currency.")
class DiscountInput:
    kind: DiscountKind
    value: Decimal
    reason: str | None = strawberry.field(
        default=None, description="Why (order discounts only; ignored on lines)."
    )

    def to_domain(self) -> services.DiscountSpec:
        return services.DiscountSpec(self.kind.value, self.value, self.reason)


def _discount(value: DiscountInput | None) -> services.DiscountSpec | None:
    return value.to_domain() if value is not None else None


@strawberry.input
class CreateProductInput:
    sku: str
    name: str
    unit_price: MoneyInput
    description: str | None = None
    default_tax_rate: Decimal = strawberry.field(
        default=Decimal(0), description="Percent, used by new lines unless they set their own."
    )
    is_active: bool = True


@strawberry.input
class UpdateProductInput:
    id: strawberry.ID
    expected_version: int | None = None
    sku: str | None = UNSET
    name: str | None = UNSET
    description: str | None = UNSET
    unit_price: MoneyInput | None = UNSET
    default_tax_rate: Decimal | None = UNSET
    is_active: bool | None = strawberry.field(
        default=UNSET, description="An inactive product cannot be added to new lines."
    )


@strawberry.input(
    description="A line: a product (its name, price and tax rate are defaults) "
    "or free text with a description and a unit price."
)
class OrderLineInput:
    product_id: strawberry.ID | None = None
    description: str | None = None
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = strawberry.field(
        default=None, description="In the order's currency; up to 4 decimals."
    )
    discount: DiscountInput | None = None
    tax_rate: Decimal | None = strawberry.field(default=None, description="Percent.")

    def to_domain(self, field: str = "productId") -> services.LineSpec:
        return services.LineSpec(
            product_id=decode_optional(self.product_id, "Product", field),
            description=self.description,
            quantity=self.quantity,
            unit_price=self.unit_price,
            discount=_discount(self.discount),
            tax_rate=self.tax_rate,
        )


@strawberry.input
class CreateOrderInput:
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217; defaults to the opportunity's currency."
    )
    company_id: strawberry.ID | None = None
    contact_id: strawberry.ID | None = None
    opportunity_id: strawberry.ID | None = None
    owner_id: strawberry.ID | None = strawberry.field(default=None, description="Default: you.")
    order_date: date | None = strawberry.field(default=None, description="Default: today (UTC).")
    notes: str | None = None
    discount: DiscountInput | None = None
    lines: list[OrderLineInput] | None = None


@strawberry.input
class CreateOrderFromOpportunityInput:
    opportunity_id: strawberry.ID


@strawberry.input
class UpdateOrderInput:
    id: strawberry.ID
    expected_version: int
    company_id: strawberry.ID | None = UNSET
    contact_id: strawberry.ID | None = UNSET
    owner_id: strawberry.ID | None = UNSET
    currency: str | None = strawberry.field(
        default=UNSET, description="Only while the order has no lines."
    )
    order_date: date | None = UNSET
    notes: str | None = UNSET
    discount: DiscountInput | None = strawberry.field(
        default=UNSET, description="The order-level discount; null removes it."
    )


_ORDER_SPEC: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "company_id": ("company_id", id_of("Company", "companyId")),
    "contact_id": ("contact_id", id_of("Contact", "contactId")),
    "owner_id": ("owner_id", id_of("User", "ownerId")),
    "currency": ("currency", lambda v: v),
    "order_date": ("order_date", lambda v: v),
    "notes": ("notes", lambda v: v),
    "discount": ("discount", lambda v: v.to_domain()),
}


@strawberry.input
class SetOrderStatusInput:
    id: strawberry.ID
    status: OrderStatus = strawberry.field(
        description="DRAFT -> CONFIRMED -> FULFILLED -> INVOICED; CANCELLED from DRAFT or "
        "CONFIRMED."
    )
    expected_version: int | None = None


@strawberry.input
class AddOrderLineInput(OrderLineInput):
    order_id: strawberry.ID
    expected_version: int | None = strawberry.field(
        default=None, description="The order's version, when you want to be sure of it."
    )
    position: int | None = strawberry.field(
        default=None, description="1-based; later lines move down. Default: at the end."
    )


@strawberry.input
class UpdateOrderLineInput:
    id: strawberry.ID
    expected_version: int = strawberry.field(description="The line's version.")
    product_id: strawberry.ID | None = strawberry.field(
        default=UNSET,
        description="A new product brings its name, price and tax rate unless set here too.",
    )
    description: str | None = UNSET
    quantity: Decimal | None = UNSET
    unit_price: Decimal | None = UNSET
    discount: DiscountInput | None = UNSET
    tax_rate: Decimal | None = UNSET


_LINE_SPEC: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "product_id": ("product_id", id_of("Product", "productId")),
    "description": ("description", lambda v: v),
    "quantity": ("quantity", lambda v: v),
    "unit_price": ("unit_price", lambda v: v),
    "discount": ("discount", lambda v: v.to_domain()),
    "tax_rate": ("tax_rate", lambda v: v),
}


@strawberry.input
class RemoveOrderLineInput:
    id: strawberry.ID
    expected_version: int | None = None


@strawberry.input
class ReorderOrderLinesInput:
    order_id: strawberry.ID
    expected_version: int
    line_ids: list[strawberry.ID] = strawberry.field(description="Every line, in the new order.")


# --- payloads -------------------------------------------------------------------------------


@strawberry.type
class ProductPayload:
    product: Product | None
    user_errors: list[UserError]


@strawberry.type
class OrderPayload:
    order: Order | None = strawberry.field(
        description="The changed order; on CONFLICT, its current state."
    )
    user_errors: list[UserError]


@strawberry.type
class OrderLinePayload:
    line: OrderLine | None = strawberry.field(description="Null after a removal.")
    order: Order | None = strawberry.field(
        description="The order with its new totals; on CONFLICT, its current state."
    )
    user_errors: list[UserError]


async def _current(info: strawberry.Info, error: DomainError | None) -> Order | None:
    """After a CONFLICT, the order as it stands now, so the client can merge."""
    if error is None or error.code is not ErrorCode.CONFLICT or error.current is None:
        return None
    row = await reader(info).one_visible(orders.visible_by_id, error.current)
    return Order.of(row) if row is not None else None


async def _order(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[OrderModel]]
) -> OrderPayload:
    result, errors, error = await attempt(info, work)
    if result is not None:
        return OrderPayload(order=Order.of(OrderRow.from_source(result)), user_errors=[])
    return OrderPayload(order=await _current(info, error), user_errors=errors)


async def _line(
    info: strawberry.Info,
    work: Callable[[Unit], Awaitable[tuple[OrderModel, LineModel | None]]],
) -> OrderLinePayload:
    result, errors, error = await attempt(info, work)
    if result is None:
        return OrderLinePayload(line=None, order=await _current(info, error), user_errors=errors)
    order, line = result
    return OrderLinePayload(
        line=OrderLine.of(LineRow.from_source(line, order.currency), order.currency)
        if line is not None
        else None,
        order=Order.of(OrderRow.from_source(order)),
        user_errors=[],
    )


async def _product(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[ProductModel]]
) -> ProductPayload:
    result, errors, _ = await attempt(info, work)
    return ProductPayload(
        product=Product.of(result) if result is not None else None, user_errors=errors
    )


def _product_values(input: UpdateProductInput) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in ("sku", "name", "description", "default_tax_rate", "is_active"):
        value = getattr(input, name)
        if value is not UNSET:
            values[name] = value
    if input.unit_price is not UNSET:
        if input.unit_price is None:
            values["unit_price"] = None
        else:
            values["unit_price"] = input.unit_price.amount
            values["currency"] = input.unit_price.currency
    return values


# --- mutations ------------------------------------------------------------------------------


@strawberry.type
class OrderMutations:
    @strawberry.mutation(description="Admins only.")
    async def create_product(
        self, info: strawberry.Info, input: CreateProductInput
    ) -> ProductPayload:
        async def work(unit: Unit) -> ProductModel:
            return await products.create_product(
                unit,
                {
                    "sku": input.sku,
                    "name": input.name,
                    "description": input.description,
                    "unit_price": input.unit_price.amount,
                    "currency": input.unit_price.currency,
                    "default_tax_rate": input.default_tax_rate,
                    "is_active": input.is_active,
                },
            )

        return await _product(info, work)

    @strawberry.mutation(description="Admins only. Lines already on orders keep their prices.")
    async def update_product(
        self, info: strawberry.Info, input: UpdateProductInput
    ) -> ProductPayload:
        async def work(unit: Unit) -> ProductModel:
            return await products.update_product(
                unit,
                decode_id(input.id, "Product"),
                input.expected_version,
                _product_values(input),
            )

        return await _product(info, work)

    @strawberry.mutation(description="A DRAFT order, optionally with its lines at once.")
    async def create_order(self, info: strawberry.Info, input: CreateOrderInput) -> OrderPayload:
        async def work(unit: Unit) -> OrderModel:
            return await services.create_order(
                unit,
                currency=input.currency,
                company_id=decode_optional(input.company_id, "Company", "companyId"),
                contact_id=decode_optional(input.contact_id, "Contact", "contactId"),
                opportunity_id=decode_optional(
                    input.opportunity_id, "Opportunity", "opportunityId"
                ),
                owner_id=decode_optional(input.owner_id, "User", "ownerId"),
                order_date=input.order_date,
                notes=input.notes,
                discount=_discount(input.discount),
                lines=[line.to_domain() for line in input.lines or []],
            )

        return await _order(info, work)

    @strawberry.mutation(
        description="A DRAFT order with the opportunity's company, primary contact, owner and "
        "currency."
    )
    async def create_order_from_opportunity(
        self, info: strawberry.Info, input: CreateOrderFromOpportunityInput
    ) -> OrderPayload:
        async def work(unit: Unit) -> OrderModel:
            return await services.create_order_from_opportunity(
                unit, decode_id(input.opportunity_id, "Opportunity", "opportunityId")
            )

        return await _order(info, work)

    @strawberry.mutation(
        description="Change a DRAFT order (NOT_EDITABLE otherwise); CONFLICT on a stale version."
    )
    async def update_order(self, info: strawberry.Info, input: UpdateOrderInput) -> OrderPayload:
        async def work(unit: Unit) -> OrderModel:
            return await services.update_order(
                unit,
                decode_id(input.id, "Order"),
                input.expected_version,
                given(input, _ORDER_SPEC),
            )

        return await _order(info, work)

    @strawberry.mutation(
        description="Move an order on; INVALID_TRANSITION when it may not go there."
    )
    async def set_order_status(
        self, info: strawberry.Info, input: SetOrderStatusInput
    ) -> OrderPayload:
        async def work(unit: Unit) -> OrderModel:
            return await services.change_status(
                unit, decode_id(input.id, "Order"), input.expected_version, input.status.value
            )

        return await _order(info, work)

    @strawberry.mutation
    async def add_order_line(
        self, info: strawberry.Info, input: AddOrderLineInput
    ) -> OrderLinePayload:
        async def work(unit: Unit) -> tuple[OrderModel, LineModel | None]:
            return await services.add_line(
                unit,
                decode_id(input.order_id, "Order", "orderId"),
                input.expected_version,
                input.to_domain(),
                input.position,
            )

        return await _line(info, work)

    @strawberry.mutation(description="CONFLICT when the line changed since `expectedVersion`.")
    async def update_order_line(
        self, info: strawberry.Info, input: UpdateOrderLineInput
    ) -> OrderLinePayload:
        async def work(unit: Unit) -> tuple[OrderModel, LineModel | None]:
            return await services.update_line(
                unit,
                decode_id(input.id, "OrderLine"),
                input.expected_version,
                given(input, _LINE_SPEC),
            )

        return await _line(info, work)

    @strawberry.mutation
    async def remove_order_line(
        self, info: strawberry.Info, input: RemoveOrderLineInput
    ) -> OrderLinePayload:
        async def work(unit: Unit) -> tuple[OrderModel, LineModel | None]:
            order = await services.remove_line(
                unit, decode_id(input.id, "OrderLine"), input.expected_version
            )
            return order, None

        return await _line(info, work)

    @strawberry.mutation
    async def reorder_order_lines(
        self, info: strawberry.Info, input: ReorderOrderLinesInput
    ) -> OrderPayload:
        async def work(unit: Unit) -> OrderModel:
            return await services.reorder_lines(
                unit,
                decode_id(input.order_id, "Order", "orderId"),
                input.expected_version,
                [decode_id(i, "OrderLine", "lineIds") for i in input.line_ids],
            )

        return await _order(info, work)
