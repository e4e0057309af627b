"""The verbs that change orders and their lines. Each records an order event.

Every verb locks the order row first, so two edits of one order are applied one after the
other and each recomputes the totals from all lines (app/crm/orders/pricing.py). Only a DRAFT
order changes; header changes take the order's `expectedVersion`, line changes the line's.
An order's events go on its opportunity's stream too, visible to whoever may see that
opportunity (an order without one is visible to every user).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, text

from app.crm.actor import Actor, visible_to
from app.crm.companies.services import get_company
from app.crm.contacts.models import Contact
from app.crm.contacts.services import get_contact
from app.crm.errors import DomainError, ErrorCode, check_version, not_found
from app.crm.jsonable import jsonable
from app.crm.money import MAX_AMOUNT, check_currency, minor_units
from app.crm.numbers import check_decimal, check_percentage
from app.crm.opportunities.models import Opportunity, Participant
from app.crm.opportunities.services import ChangeSet, record_event, visible_opportunity
from app.crm.orders import pricing
from app.crm.orders.models import Order, OrderLine
from app.crm.orders.rows import LineRow, OrderRow, discount_value
from app.crm.products.models import Product
from app.crm.products.services import check_unit_price, get_product
from app.crm.unit import Unit
from app.crm.users.services import active_user
from app.crm.validation import clean_text
from app.events.envelope import Audience, EventKind, FieldChange, PendingEvent

MAX_LINES = 2000
MAX_QUANTITY = Decimal("1000000000")

# Where an order may go from each status; anything else is INVALID_TRANSITION.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "DRAFT": ("CONFIRMED", "CANCELLED"),
    "CONFIRMED": ("FULFILLED", "CANCELLED"),
    "FULFILLED": ("INVOICED",),
    "INVOICED": (),
    "CANCELLED": (),
}


@dataclass(frozen=True, slots=True)
class DiscountSpec:
    kind: str  # PERCENT or AMOUNT
    value: Decimal
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class LineSpec:
    product_id: int | None = None
    description: str | None = None
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = None
    discount: DiscountSpec | None = None
    tax_rate: Decimal | None = None


def order_visible(actor: Actor) -> ColumnElement[bool]:
    """An order is as visible as its opportunity (deleted or not); without one, to everyone
    but a token limited to folders (such an order is in none)."""
    with_deal = exists(
        select(Opportunity.id).where(Opportunity.id == Order.opportunity_id, visible_to(actor))
    )
    if actor.folder_ids is not None:
        return with_deal
    return or_(Order.opportunity_id.is_(None), with_deal)


def _now() -> datetime:
    return datetime.now(UTC)


# --- checks ---------------------------------------------------------------------------------


def _check_discount(
    spec: DiscountSpec, currency: str, field: list[str]
) -> tuple[str, Decimal, str | None]:
    if spec.kind == pricing.PERCENT:
        value = check_percentage([*field, "value"], spec.value)
    elif spec.kind == pricing.AMOUNT:
        value = check_decimal(
            [*field, "value"],
            spec.value,
            places=minor_units(currency),
            low=Decimal(0),
            high=MAX_AMOUNT,
        )
    else:
        raise DomainError(ErrorCode.INVALID, f"unknown discount kind {spec.kind}", [*field, "kind"])
    reason = clean_text("reason", spec.reason, max_length=500)
    return spec.kind, value, reason


async def _check_contact(unit: Unit, contact_id: int | None) -> int | None:
    if contact_id is not None:
        await get_contact(unit, contact_id)
    return contact_id


async def _check_company(unit: Unit, company_id: int | None) -> int | None:
    if company_id is not None:
        await get_company(unit, company_id)
    return company_id


async def _load(
    unit: Unit, order_id: int, expected_version: int | None, *, field: str = "id"
) -> Order:
    """Lock a visible DRAFT order; hidden ones look exactly like missing ones."""
    order = await _lock(unit, order_id, field)
    if order.status != "DRAFT":
        raise DomainError(
            ErrorCode.NOT_EDITABLE,
            f"the order is {order.status}: only a DRAFT order can change",
            [field],
        )
    check_version("order", order.version, expected_version, order.id)
    return order


async def _lock(unit: Unit, order_id: int, field: str) -> Order:
    actor = unit.require_actor()
    order = (
        await unit.session.execute(
            select(Order)
            .where(Order.id == order_id, order_visible(actor))
            .with_for_update(of=Order)
        )
    ).scalar_one_or_none()
    if order is None:
        raise not_found("order", field)
    return order


# --- totals and events ----------------------------------------------------------------------


async def _lines(unit: Unit, order: Order) -> list[OrderLine]:
    return list(
        (
            await unit.session.scalars(
                select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.position)
            )
        ).all()
    )


_LINE_RESULTS = (
    ("amount", "amount"),
    ("discount_amount", "discount"),
    ("order_discount_amount", "order_discount"),
    ("net_amount", "net"),
    ("tax_amount", "tax"),
    ("gross_amount", "gross"),
)


def _discount_of(owner: Order | OrderLine) -> pricing.Discount | None:
    if owner.discount_kind is None or owner.discount_value is None:
        return None
    return pricing.Discount(owner.discount_kind, owner.discount_value)


async def _recompute(
    unit: Unit, order: Order, edited: OrderLine | None = None
) -> list[FieldChange]:
    """Store fresh totals on the order and its lines; the changes a client needs to follow.

    Besides the order's totals, a change can move other lines' shares of the order discount
    and of the tax (they are spread over all lines): those lines are reported as
    `allocations`, so a client holding the order can apply the event without a re-read.
    """
    lines = await _lines(unit, order)
    if len(lines) > MAX_LINES:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"an order holds at most {MAX_LINES} lines", ["lines"]
        )
    inputs = [
        pricing.LineInput(line.quantity, line.unit_price, _discount_of(line), line.tax_rate)
        for line in lines
    ]
    try:
        totals = pricing.compute(inputs, _discount_of(order), minor_units(order.currency))
    except pricing.DiscountTooLarge as error:
        if error.line is None:
            raise DomainError(
                ErrorCode.INVALID,
                "the order discount is larger than the lines' total after their discounts",
                ["discount", "value"],
            ) from None
        raise DomainError(
            ErrorCode.INVALID,
            f"the discount of line {error.line + 1} is larger than its amount",
            ["discount", "value"],
        ) from None
    if totals.subtotal >= MAX_AMOUNT or totals.grand_total >= MAX_AMOUNT:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "the order's total is too large", ["quantity"])
    before = OrderRow.from_source(order).totals()
    allocations = []
    for line, result in zip(lines, totals.lines, strict=True):
        moved = False
        for attribute, name in _LINE_RESULTS:
            value = getattr(result, name)
            if getattr(line, attribute) != value:
                setattr(line, attribute, value)
                moved = True
        if moved and line is not edited and line.id is not None:
            allocations.append(line)
    order.subtotal = totals.subtotal
    order.discount_total = totals.discount_total
    order.order_discount = totals.order_discount
    order.net_total = totals.net_total
    order.tax_total = totals.tax_total
    order.grand_total = totals.grand_total
    order.line_count = len(lines)
    changes = []
    after = OrderRow.from_source(order).totals()
    if after != before:
        changes.append(FieldChange("totals", before, after))
    if allocations:
        changes.append(
            FieldChange(
                "allocations",
                None,
                [_allocation_json(line, order.currency) for line in allocations],
            )
        )
    return changes


def _line_json(line: OrderLine, currency: str) -> dict[str, Any]:
    return LineRow.from_source(line, currency).to_json()


def _allocation_json(line: OrderLine, currency: str) -> dict[str, Any]:
    # Only what spreading moves: a 2,000-line order must not make a megabyte event.
    row = LineRow.from_source(line, currency)
    return {
        "id": row.id,
        "order_discount_amount": jsonable(row.order_discount_amount),
        "net_amount": jsonable(row.net_amount),
        "tax_amount": jsonable(row.tax_amount),
        "gross_amount": jsonable(row.gross_amount),
    }


async def _record(
    unit: Unit, order: Order, kind: EventKind, changes: Sequence[FieldChange], *, bump: bool = True
) -> None:
    if bump:
        order.version += 1
        order.updated_at = _now()
    await unit.session.flush()
    about: dict[str, Any] = {
        "order_id": order.id,
        "order_snapshot": OrderRow.from_source(order).to_json(),
    }
    if order.opportunity_id is not None:
        # On the opportunity's stream too, with its (unchanged) version and audience.
        opportunity = await unit.session.get(Opportunity, order.opportunity_id)
        assert opportunity is not None
        await record_event(unit, opportunity, kind, changes, **about)
        return
    # An order without an opportunity: everyone's, on no opportunity's stream.
    unit.record(
        PendingEvent(
            kind=kind,
            opportunity_id=None,
            version=0,
            changes=tuple(changes),
            audience=Audience(visibility="PUBLIC", owner_id=order.owner_id),
            snapshot={},
            **about,
        )
    )


# --- orders ---------------------------------------------------------------------------------


async def create_order(
    unit: Unit,
    *,
    currency: str | None,
    company_id: int | None = None,
    contact_id: int | None = None,
    opportunity_id: int | None = None,
    owner_id: int | None = None,
    order_date: date | None = None,
    notes: str | None = None,
    discount: DiscountSpec | None = None,
    lines: Sequence[LineSpec] = (),
) -> Order:
    actor = unit.require_actor()
    opportunity = None
    if opportunity_id is None and actor.folder_ids is not None:
        # An order without a deal is in no folder: beyond such a token, like order_visible.
        raise DomainError(
            ErrorCode.FORBIDDEN,
            "this token reaches only the deals in its folders: name the order's opportunity",
            ["opportunityId"],
        )
    if opportunity_id is not None:
        opportunity = await visible_opportunity(unit, opportunity_id)
        if opportunity.status == "LOST":
            raise DomainError(
                ErrorCode.INVALID_STATE,
                "a lost opportunity cannot become an order",
                ["opportunityId"],
            )
    if currency is None:
        if opportunity is None:
            raise DomainError(ErrorCode.REQUIRED, "currency is required", ["currency"])
        currency = opportunity.currency
    code = check_currency(currency, ["currency"])
    order = Order(
        company_id=await _check_company(unit, company_id),
        contact_id=await _check_contact(unit, contact_id),
        opportunity_id=opportunity.id if opportunity is not None else None,
        owner_id=await active_user(
            unit, owner_id if owner_id is not None else actor.user_id, "ownerId"
        ),
        status="DRAFT",
        currency=code,
        order_date=order_date or _now().date(),
        notes=clean_text("notes", notes, max_length=10_000),
        version=1,
        created_by_id=actor.user_id,
    )
    if discount is not None:
        order.discount_kind, order.discount_value, order.discount_reason = _check_discount(
            discount, code, ["discount"]
        )
    # Numbered inside the transaction: a refused create rolls the number back with it
    # (sequences do not roll back, so numbers may have gaps; they never repeat).
    number = await unit.session.scalar(text("SELECT nextval('order_number_seq')"))
    order.number = f"ORD-{number:06d}"
    unit.session.add(order)
    await unit.session.flush()
    for index, spec in enumerate(lines):
        line = await _new_line(unit, order, spec, index + 1, ["lines", str(index)])
        unit.session.add(line)
    await unit.session.flush()
    await _recompute(unit, order)
    await _record(
        unit,
        order,
        EventKind.ORDER_CREATED,
        [FieldChange("order", None, {"id": order.id, "number": order.number})],
        bump=False,
    )
    return order


async def create_order_from_opportunity(unit: Unit, opportunity_id: int) -> Order:
    """A DRAFT order for the opportunity's company, primary contact and owner, in its currency."""
    opportunity = await visible_opportunity(unit, opportunity_id)
    participants = (
        await unit.session.scalars(
            select(Participant)
            .where(Participant.opportunity_id == opportunity.id)
            .order_by(Participant.id)
        )
    ).all()
    primary = next((p for p in participants if p.is_primary and p.contact_id), None)
    company_id = next((p.company_id for p in participants if p.company_id is not None), None)
    if company_id is None and primary is not None:
        # No company linked: the primary contact's employer is the customer.
        contact = await unit.session.get(Contact, primary.contact_id)
        company_id = contact.company_id if contact is not None else None
    return await create_order(
        unit,
        currency=opportunity.currency,
        company_id=company_id,
        contact_id=primary.contact_id if primary is not None else None,
        opportunity_id=opportunity.id,
        owner_id=opportunity.owner_id,
    )


_HEADER_FIELDS = {
    "company_id": "companyId",
    "contact_id": "contactId",
    "owner_id": "ownerId",
    "currency": "currency",
    "order_date": "orderDate",
    "notes": "notes",
}


async def update_order(
    unit: Unit, order_id: int, expected_version: int, values: Mapping[str, Any]
) -> Order:
    """Change the header fields `values` holds; `discount` (a DiscountSpec or None) too."""
    order = await _load(unit, order_id, expected_version)
    changes = ChangeSet(order)
    assign = changes.set

    for name, value in values.items():
        field = _HEADER_FIELDS.get(name)
        if name == "discount":
            continue
        if field is None:
            raise DomainError(ErrorCode.INVALID, f"{name} cannot be changed here", [name])
        if value is None and name in ("owner_id", "currency", "order_date"):
            raise DomainError(ErrorCode.REQUIRED, f"{field} cannot be null", [field])
        if name == "company_id":
            assign(name, await _check_company(unit, value))
        elif name == "contact_id":
            assign(name, await _check_contact(unit, value))
        elif name == "owner_id":
            assign(name, await active_user(unit, value, "ownerId"))
        elif name == "currency":
            code = check_currency(value, ["currency"])
            if code != order.currency and order.line_count:
                raise DomainError(
                    ErrorCode.INVALID,
                    "the currency can change only while the order has no lines",
                    ["currency"],
                )
            assign(name, code)
        elif name == "order_date":
            assign(name, value)
        else:
            assign(name, clean_text("notes", value, max_length=10_000))
    if "discount" in values:
        spec: DiscountSpec | None = values["discount"]
        old = _discount_json(order)
        if spec is None:
            order.discount_kind = order.discount_value = order.discount_reason = None
        else:
            order.discount_kind, order.discount_value, order.discount_reason = _check_discount(
                spec, order.currency, ["discount"]
            )
        if _discount_json(order) != old:
            changes.add("discount", old, _discount_json(order))
    elif "currency" in values and order.discount_kind == pricing.AMOUNT:
        assert order.discount_value is not None
        _check_discount(
            DiscountSpec(order.discount_kind, order.discount_value), order.currency, ["discount"]
        )
    if changes:
        changes.items += await _recompute(unit, order)
        await _record(unit, order, EventKind.ORDER_UPDATED, changes.items)
    return order


def _discount_json(order: Order) -> dict[str, Any] | None:
    """The order discount as the order shows it: "1.00" EUR, "12.5" percent."""
    if order.discount_kind is None:
        return None
    value = discount_value(order.discount_kind, order.discount_value, order.currency)
    return {"kind": order.discount_kind, "value": jsonable(value), "reason": order.discount_reason}


async def change_status(
    unit: Unit, order_id: int, expected_version: int | None, status: str
) -> Order:
    order = await _lock(unit, order_id, "id")
    check_version("order", order.version, expected_version, order.id)
    if status not in TRANSITIONS:
        raise DomainError(ErrorCode.INVALID, f"unknown status {status}", ["status"])
    allowed = TRANSITIONS[order.status]
    if status not in allowed:
        then = f"it can become {', '.join(allowed)}" if allowed else "it is final"
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"an order in {order.status} cannot become {status}: {then}",
            ["status"],
        )
    if status == "CONFIRMED":
        if order.line_count == 0:
            raise DomainError(
                ErrorCode.INVALID, "an order without lines cannot be confirmed", ["lines"]
            )
        if order.company_id is None:
            raise DomainError(
                ErrorCode.REQUIRED, "an order needs a company to be confirmed", ["companyId"]
            )
    old = order.status
    order.status = status
    order.status_changed_at = _now()
    await _record(unit, order, EventKind.ORDER_STATUS_CHANGED, [FieldChange("status", old, status)])
    return order


# --- lines ----------------------------------------------------------------------------------


async def _active_product(unit: Unit, product_id: int, field: list[str]) -> Product:
    product = await get_product(unit, product_id, field[-1])
    if not product.is_active:
        raise DomainError(
            ErrorCode.INVALID,
            f"product {product.sku} is inactive and cannot be added to an order",
            field,
        )
    return product


def _price_from(product: Product, currency: str, field: list[str]) -> Decimal:
    if product.currency != currency:
        raise DomainError(
            ErrorCode.REQUIRED,
            f"product {product.sku} is priced in {product.currency}: give a unitPrice in "
            f"{currency}",
            [*field, "unitPrice"],
        )
    return product.unit_price


def _quantity(value: Decimal, field: list[str]) -> Decimal:
    return check_decimal(
        [*field, "quantity"], value, places=4, low=Decimal(0), high=MAX_QUANTITY, low_open=True
    )


async def _new_line(
    unit: Unit, order: Order, spec: LineSpec, position: int, field: list[str]
) -> OrderLine:
    product = None
    if spec.product_id is not None:
        product = await _active_product(unit, spec.product_id, [*field, "productId"])
    if spec.unit_price is not None:
        price = check_unit_price([*field, "unitPrice"], spec.unit_price)
    elif product is not None:
        price = _price_from(product, order.currency, field)
    else:
        raise DomainError(
            ErrorCode.REQUIRED, "a line without a product needs a unitPrice", [*field, "unitPrice"]
        )
    description = (
        clean_text("description", spec.description, max_length=1000)
        if spec.description is not None
        else None
    )
    if description is None:
        if product is None:
            raise DomainError(
                ErrorCode.REQUIRED,
                "a line without a product needs a description",
                [*field, "description"],
            )
        description = product.name
    line = OrderLine(
        order_id=order.id,
        position=position,
        product_id=product.id if product is not None else None,
        description=description,
        quantity=_quantity(spec.quantity, field),
        unit_price=price,
        tax_rate=check_percentage(
            [*field, "taxRate"],
            spec.tax_rate
            if spec.tax_rate is not None
            else (product.default_tax_rate if product is not None else Decimal(0)),
        ),
        version=1,
    )
    if spec.discount is not None:
        line.discount_kind, line.discount_value, _ = _check_discount(
            spec.discount, order.currency, [*field, "discount"]
        )
    return line


async def add_line(
    unit: Unit,
    order_id: int,
    expected_version: int | None,
    spec: LineSpec,
    position: int | None = None,
) -> tuple[Order, OrderLine]:
    """Add a line at `position` (1-based; the end when None), moving later lines down."""
    order = await _load(unit, order_id, expected_version, field="orderId")
    count = order.line_count
    at = count + 1 if position is None else position
    if not 1 <= at <= count + 1:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"position must be between 1 and {count + 1}", ["position"]
        )
    line = await _new_line(unit, order, spec, at, [])
    for other in await _lines(unit, order):
        if other.position >= at:
            other.position += 1
    unit.session.add(line)
    await unit.session.flush()
    changes = await _recompute(unit, order, line)
    changes.insert(0, FieldChange("line", None, _line_json(line, order.currency)))
    await _record(unit, order, EventKind.ORDER_LINE_ADDED, changes)
    return order, line


async def _load_line(
    unit: Unit, line_id: int, expected_version: int | None
) -> tuple[Order, OrderLine]:
    order_id = await unit.session.scalar(select(OrderLine.order_id).where(OrderLine.id == line_id))
    if order_id is None:
        raise not_found("order line", "id")
    try:
        order = await _load(unit, order_id, None)
    except DomainError as error:
        if error.code == ErrorCode.NOT_FOUND:
            raise not_found("order line", "id") from None
        raise
    line = await unit.session.get(OrderLine, line_id)
    if line is None:  # removed while we waited for the order's lock
        raise not_found("order line", "id")
    check_version("line", line.version, expected_version, order.id)
    return order, line


async def update_line(
    unit: Unit, line_id: int, expected_version: int, values: Mapping[str, Any]
) -> tuple[Order, OrderLine]:
    """Change what `values` holds. A new product brings its name, price and tax rate unless
    `values` sets them too."""
    order, line = await _load_line(unit, line_id, expected_version)
    before = _line_json(line, order.currency)
    product = None
    if "product_id" in values and values["product_id"] != line.product_id:
        if values["product_id"] is not None:
            product = await _active_product(unit, values["product_id"], ["productId"])
        line.product_id = values["product_id"]
    if "description" in values:
        description = clean_text("description", values["description"], max_length=1000)
        if description is None:
            if product is None and line.product_id is None:
                raise DomainError(
                    ErrorCode.REQUIRED,
                    "a line without a product needs a description",
                    ["description"],
                )
            if product is not None:
                description = product.name
        if description is not None:
            line.description = description
    elif product is not None:
        line.description = product.name
    if "quantity" in values:
        if values["quantity"] is None:
            raise DomainError(ErrorCode.REQUIRED, "quantity cannot be null", ["quantity"])
        line.quantity = _quantity(values["quantity"], [])
    if values.get("unit_price") is not None:
        line.unit_price = check_unit_price(["unitPrice"], values["unit_price"])
    elif "unit_price" in values and product is None:
        raise DomainError(ErrorCode.REQUIRED, "unitPrice cannot be null", ["unitPrice"])
    elif product is not None:
        line.unit_price = _price_from(product, order.currency, [])
    if values.get("tax_rate") is not None:
        line.tax_rate = check_percentage(["taxRate"], values["tax_rate"])
    elif "tax_rate" in values and product is None:
        raise DomainError(ErrorCode.REQUIRED, "taxRate cannot be null", ["taxRate"])
    elif product is not None:
        line.tax_rate = product.default_tax_rate
    if "discount" in values:
        spec: DiscountSpec | None = values["discount"]
        if spec is None:
            line.discount_kind = line.discount_value = None
        else:
            line.discount_kind, line.discount_value, _ = _check_discount(
                spec, order.currency, ["discount"]
            )
    # Compare what a reader sees: 2 and 2.0000 are the same quantity.
    if _line_json(line, order.currency) == before:
        return order, line
    line.version += 1
    changes = await _recompute(unit, order, line)
    changes.insert(0, FieldChange("line", before, _line_json(line, order.currency)))
    await _record(unit, order, EventKind.ORDER_LINE_UPDATED, changes)
    return order, line


async def remove_line(unit: Unit, line_id: int, expected_version: int | None) -> Order:
    order, line = await _load_line(unit, line_id, expected_version)
    before = _line_json(line, order.currency)
    await unit.session.delete(line)
    await unit.session.flush()
    for other in await _lines(unit, order):
        if other.position > line.position:
            other.position -= 1
    changes = await _recompute(unit, order)
    changes.insert(0, FieldChange("line", before, None))
    await _record(unit, order, EventKind.ORDER_LINE_REMOVED, changes)
    return order


async def reorder_lines(
    unit: Unit, order_id: int, expected_version: int, line_ids: Sequence[int]
) -> Order:
    """Put the lines in the order of `line_ids`, which must name each line exactly once."""
    order = await _load(unit, order_id, expected_version)
    lines = await _lines(unit, order)
    old = [line.id for line in lines]
    if sorted(line_ids) != sorted(old):
        raise DomainError(
            ErrorCode.INVALID, "lineIds must list every line of the order exactly once", ["lineIds"]
        )
    if list(line_ids) == old:
        return order
    by_id = {line.id: line for line in lines}
    for position, line_id in enumerate(line_ids, start=1):
        by_id[line_id].position = position
    await unit.session.flush()
    # Positions do not enter the totals, but spreading breaks ties by position.
    changes = [FieldChange("lineOrder", old, list(line_ids))]
    changes += await _recompute(unit, order)
    await _record(unit, order, EventKind.ORDER_LINES_REORDERED, changes)
    return order
