"""Products, orders, their lines, and order events."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry

from app.crm.companies import queries as companies
from app.crm.contacts import queries as contacts
from app.crm.money import minor_units
from app.crm.numbers import at_least_places, trimmed
from app.crm.opportunities import queries as opportunities
from app.crm.orders import queries as orders
from app.crm.orders.rows import LineRow, OrderRow
from app.crm.products import queries as products
from app.crm.users import queries as users
from app.crm.validation import api_name
from app.events.envelope import ChangeEvent, FieldChange
from app.graphql.batch import batched, reader, related, related_required, related_visible
from app.graphql.ids import encode_id
from app.graphql.types.common import Money, Node
from app.graphql.types.opportunities import (
    PUBLIC_KIND,
    FieldChangeType,
    Opportunity,
    OpportunityEventKind,
)
from app.graphql.types.parties import Company, Contact
from app.graphql.types.people import User


@strawberry.enum
class OrderStatus(Enum):
    DRAFT = "DRAFT"
    CONFIRMED = "CONFIRMED"
    FULFILLED = "FULFILLED"
    INVOICED = "INVOICED"
    CANCELLED = "CANCELLED"


@strawberry.enum
class DiscountKind(Enum):
    PERCENT = "PERCENT"
    AMOUNT = "AMOUNT"


@strawberry.type(description="A discount: a percentage, or an amount in the order's currency.")
class Discount:
    kind: DiscountKind
    value: Decimal
    reason: str | None = None


def _discount(kind: str | None, value: Decimal | None, reason: str | None) -> Discount | None:
    if kind is None or value is None:
        return None
    return Discount(kind=DiscountKind(kind), value=value, reason=reason)


@strawberry.type(description="A product of the catalogue.")
class Product(Node):
    id: strawberry.ID
    sku: str
    name: str
    description: str | None
    unit_price: Money
    default_tax_rate: Decimal = strawberry.field(description="Percent, e.g. 19 or 7.7.")
    is_active: bool
    version: int

    @classmethod
    def of(cls, row: Any) -> Product:
        return cls(
            id=strawberry.ID(encode_id("Product", row.id)),
            sku=row.sku,
            name=row.name,
            description=row.description,
            unit_price=Money(
                amount=at_least_places(row.unit_price, minor_units(row.currency)),
                currency=row.currency,
            ),
            default_tax_rate=trimmed(row.default_tax_rate),
            is_active=row.is_active,
            version=row.version,
        )


@strawberry.type(description="One line of an order; the amounts are computed by the server.")
class OrderLine(Node):
    id: strawberry.ID
    position: int = strawberry.field(description="1 for the first line.")
    description: str
    quantity: Decimal
    unit_price: Money
    discount: Discount | None
    tax_rate: Decimal = strawberry.field(description="Percent.")
    amount: Money = strawberry.field(description="quantity x unit price, rounded.")
    discount_amount: Money = strawberry.field(description="This line's own discount.")
    order_discount_amount: Money = strawberry.field(
        description="This line's share of the order discount."
    )
    net_amount: Money = strawberry.field(description="amount - both discounts: what is taxed.")
    tax_amount: Money
    gross_amount: Money = strawberry.field(description="netAmount + taxAmount.")
    version: int
    row: strawberry.Private[LineRow]

    @classmethod
    def of(cls, row: LineRow, currency: str) -> OrderLine:
        def money(amount: Decimal) -> Money:
            return Money(amount=amount, currency=currency)

        return cls(
            id=strawberry.ID(encode_id("OrderLine", row.id)),
            position=row.position,
            description=row.description,
            quantity=row.quantity,
            unit_price=money(row.unit_price),
            discount=_discount(row.discount_kind, row.discount_value, None),
            tax_rate=row.tax_rate,
            amount=money(row.amount),
            discount_amount=money(row.discount_amount),
            order_discount_amount=money(row.order_discount_amount),
            net_amount=money(row.net_amount),
            tax_amount=money(row.tax_amount),
            gross_amount=money(row.gross_amount),
            version=row.version,
            row=row,
        )

    @batched()
    async def product(parents: list[OrderLine], info: strawberry.Info) -> list[Product | None]:
        return await related(info, products.by_id, [x.row.product_id for x in parents], Product.of)

    @strawberry.field
    def order_id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Order", self.row.order_id))


@strawberry.type(description="An order: what a customer buys, line by line.")
class Order(Node):
    id: strawberry.ID
    number: str
    status: OrderStatus
    currency: str
    order_date: date
    notes: str | None
    discount: Discount | None = strawberry.field(description="The order-level discount.")
    subtotal: Money = strawberry.field(description="The sum of the lines' amounts.")
    discount_total: Money = strawberry.field(description="Line discounts plus the order discount.")
    order_discount_amount: Money = strawberry.field(description="The order discount, spread.")
    net_total: Money = strawberry.field(description="subtotal - discountTotal.")
    tax_total: Money
    grand_total: Money = strawberry.field(description="netTotal + taxTotal.")
    line_count: int
    version: int
    status_changed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[OrderRow]

    @classmethod
    def of(cls, row: OrderRow) -> Order:
        def money(amount: Decimal) -> Money:
            return Money(amount=amount, currency=row.currency)

        return cls(
            id=strawberry.ID(encode_id("Order", row.id)),
            number=row.number,
            status=OrderStatus(row.status),
            currency=row.currency,
            order_date=row.order_date,
            notes=row.notes,
            discount=_discount(row.discount_kind, row.discount_value, row.discount_reason),
            subtotal=money(row.subtotal),
            discount_total=money(row.discount_total),
            order_discount_amount=money(row.order_discount),
            net_total=money(row.net_total),
            tax_total=money(row.tax_total),
            grand_total=money(row.grand_total),
            line_count=row.line_count,
            version=row.version,
            status_changed_at=row.status_changed_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @batched(description="The lines, by position.")
    async def lines(parents: list[Order], info: strawberry.Info) -> list[list[OrderLine]]:
        found = await reader(info).fetch(orders.lines_by_order, [o.row.id for o in parents], [])
        return [[OrderLine.of(r, o.row.currency) for r in found[o.row.id]] for o in parents]

    @batched()
    async def company(parents: list[Order], info: strawberry.Info) -> list[Company | None]:
        return await related(info, companies.by_id, [o.row.company_id for o in parents], Company.of)

    @batched()
    async def contact(parents: list[Order], info: strawberry.Info) -> list[Contact | None]:
        return await related(info, contacts.by_id, [o.row.contact_id for o in parents], Contact.of)

    @batched()
    async def owner(parents: list[Order], info: strawberry.Info) -> list[User]:
        return await related_required(
            info, users.users_by_id, [o.row.owner_id for o in parents], User.of
        )

    @batched(
        description="The opportunity it came from (null when there is none or it was deleted)."
    )
    async def opportunity(parents: list[Order], info: strawberry.Info) -> list[Opportunity | None]:
        # What the asker may see: seeing the order means seeing the opportunity, but a
        # deleted opportunity is shown as absent rather than as a ghost.
        ids = [o.row.opportunity_id for o in parents]
        return await related_visible(info, opportunities.visible_by_id, ids, Opportunity.of)


# Keys of order event values that hold database IDs, and the node type each names.
_ID_KEYS = {
    "order_id": "Order",
    "product_id": "Product",
    "company_id": "Company",
    "contact_id": "Contact",
    "opportunity_id": "Opportunity",
    "owner_id": "User",
    "created_by_id": "User",
}


def _api_value(value: Any, node_type: str | None = None) -> Any:
    """A domain JSON value as the API shows it: camelCase keys, global IDs."""
    if isinstance(value, list):
        return [_api_value(v, node_type) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "id" and node_type is not None and item is not None:
                out["id"] = encode_id(node_type, item)
            elif key in _ID_KEYS and item is not None:
                out[api_name(key)] = encode_id(_ID_KEYS[key], item)
            else:
                out[api_name(key)] = _api_value(item)
        return out
    if isinstance(value, int) and node_type is not None:
        return encode_id(node_type, value)
    return value


_CHANGE_TYPES = {
    "order": "Order",
    "line": "OrderLine",
    "allocations": "OrderLine",
    "lineOrder": "OrderLine",
    "company_id": "Company",
    "contact_id": "Contact",
    "owner_id": "User",
}


def order_change(change: FieldChange) -> FieldChangeType:
    node_type = _CHANGE_TYPES.get(change.field)
    name = change.field
    if name.endswith("_id"):
        name = name[: -len("_id")]
    return FieldChangeType(
        field=api_name(name),
        old=_api_value(change.old, node_type),
        new=_api_value(change.new, node_type),
    )


@strawberry.type(description="A committed change to an order, in commit order.")
class OrderEvent:
    cursor: str = strawberry.field(
        description="Opaque; pass the last one you received as `since` to resume."
    )
    kind: OpportunityEventKind  # type: ignore[valid-type]
    order_id: strawberry.ID
    opportunity_id: strawberry.ID | None
    version: int = strawberry.field(description="The order's version after the change.")
    changes: list[FieldChangeType]
    occurred_at: datetime
    event: strawberry.Private[ChangeEvent]

    @classmethod
    def of(cls, event: ChangeEvent) -> OrderEvent:
        assert event.order_id is not None and event.order_snapshot is not None
        return cls(
            cursor=str(event.seq),
            kind=PUBLIC_KIND[event.kind],
            order_id=strawberry.ID(encode_id("Order", event.order_id)),
            opportunity_id=(
                strawberry.ID(encode_id("Opportunity", event.opportunity_id))
                if event.opportunity_id is not None
                else None
            ),
            version=event.order_snapshot["version"],
            changes=[order_change(c) for c in event.changes],
            occurred_at=event.occurred_at,
            event=event,
        )

    @strawberry.field(description="The order as this change left it.")
    def order(self) -> Order:
        assert self.event.order_snapshot is not None
        return Order.of(OrderRow.from_json(self.event.order_snapshot))

    @batched()
    async def actor(parents: list[OrderEvent], info: strawberry.Info) -> list[User | None]:
        return await related(info, users.users_by_id, [e.event.actor_id for e in parents], User.of)
