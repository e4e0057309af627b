"""Orders and lines as plain data: what reads return and what an order event carries."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.crm.jsonable import jsonable
from app.crm.money import minor_units, quantum
from app.crm.numbers import at_least_places, trimmed

ORDER_MONEY = ("subtotal", "discount_total", "order_discount", "net_total", "tax_total")
LINE_MONEY = (
    "amount",
    "discount_amount",
    "order_discount_amount",
    "net_amount",
    "tax_amount",
    "gross_amount",
)


def discount_value(kind: str | None, value: Decimal | None, currency: str) -> Decimal | None:
    if value is None:
        return None
    return value.quantize(quantum(currency)) if kind == "AMOUNT" else trimmed(value)


@dataclass(slots=True)
class OrderRow:
    id: int
    number: str
    company_id: int | None
    contact_id: int | None
    opportunity_id: int | None
    owner_id: int
    status: str
    currency: str
    order_date: date
    notes: str | None
    discount_kind: str | None
    discount_value: Decimal | None
    discount_reason: str | None
    subtotal: Decimal
    discount_total: Decimal
    order_discount: Decimal
    net_total: Decimal
    tax_total: Decimal
    grand_total: Decimal
    line_count: int
    version: int
    created_by_id: int | None
    status_changed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_source(cls, source: Any) -> OrderRow:
        """From a Core row or an ORM entity; amounts shown in the currency's minor unit."""
        row = cls(**{name: getattr(source, name) for name in ORDER_COLUMNS})
        unit = quantum(row.currency)
        for name in (*ORDER_MONEY, "grand_total"):
            setattr(row, name, getattr(row, name).quantize(unit))
        row.discount_value = discount_value(row.discount_kind, row.discount_value, row.currency)
        return row

    def totals(self) -> dict[str, Any]:
        return {name: jsonable(getattr(self, name)) for name in (*ORDER_MONEY, "grand_total")}

    def to_json(self) -> dict[str, Any]:
        return {name: jsonable(getattr(self, name)) for name in ORDER_COLUMNS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderRow:
        values = dict(data)
        for name in (*ORDER_MONEY, "grand_total", "discount_value"):
            if values[name] is not None:
                values[name] = Decimal(values[name])
        values["order_date"] = date.fromisoformat(values["order_date"])
        for name in ("status_changed_at", "created_at", "updated_at"):
            if values[name] is not None:
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)


@dataclass(slots=True)
class LineRow:
    id: int
    order_id: int
    position: int
    product_id: int | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    discount_kind: str | None
    discount_value: Decimal | None
    tax_rate: Decimal
    amount: Decimal
    discount_amount: Decimal
    order_discount_amount: Decimal
    net_amount: Decimal
    tax_amount: Decimal
    gross_amount: Decimal
    version: int

    @classmethod
    def from_source(cls, source: Any, currency: str) -> LineRow:
        row = cls(**{name: getattr(source, name) for name in LINE_COLUMNS})
        unit = quantum(currency)
        for name in LINE_MONEY:
            setattr(row, name, getattr(row, name).quantize(unit))
        row.quantity = trimmed(row.quantity)
        row.unit_price = at_least_places(row.unit_price, minor_units(currency))
        row.tax_rate = trimmed(row.tax_rate)
        row.discount_value = discount_value(row.discount_kind, row.discount_value, currency)
        return row

    def to_json(self) -> dict[str, Any]:
        return {name: jsonable(getattr(self, name)) for name in LINE_COLUMNS}


ORDER_COLUMNS = tuple(f.name for f in fields(OrderRow))
LINE_COLUMNS = tuple(f.name for f in fields(LineRow))
