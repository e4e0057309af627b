"""The opportunity as plain data: what reads return and what an event carries.

Built straight from a Core row (hot reads, no ORM identity map) or from an event's JSON
snapshot, so the GraphQL layer resolves the same object either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from app.crm.jsonable import jsonable
from app.crm.money import quantum, weighted
from app.crm.statements import Record, part_class


@dataclass(slots=True)
class OpportunityRow:
    id: int
    number: str
    name: str
    description: str | None
    folder_id: int | None
    stage_id: int
    status: str
    amount: Decimal
    currency: str
    probability: int
    forecast_category: str
    estimated_close_date: date | None
    next_step: str | None
    lead_source: str | None
    owner_id: int
    visibility: str
    actual_amount: Decimal | None
    actual_close_date: date | None
    awarded_company_id: int | None
    lost_note: str | None
    version: int
    created_by_id: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    @property
    def weighted_amount(self) -> Decimal:
        return weighted(self.amount, self.probability, self.currency)

    @classmethod
    def from_source(cls, source: Any) -> OpportunityRow:
        """From an ORM entity, or a Core row that starts with COLUMNS, in their order."""
        if isinstance(source, Row | Record | tuple):
            # By position: a hot path (every list), and a Row's attributes are lookups by name.
            row = cls(*source[: len(COLUMNS)])
        else:
            row = cls(**{name: getattr(source, name) for name in COLUMNS})
        # The column keeps 4 decimals; show amounts in the currency's minor unit everywhere
        # (reads, mutation payloads and event snapshots must agree: "12.50", not "12.5000").
        row.amount = row.amount.quantize(quantum(row.currency))
        if row.actual_amount is not None:
            row.actual_amount = row.actual_amount.quantize(quantum(row.currency))
        return row

    def to_json(self) -> dict[str, Any]:
        return {name: jsonable(getattr(self, name)) for name in COLUMNS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OpportunityRow:
        values = dict(data)
        for name in ("amount", "actual_amount"):
            if values[name] is not None:
                values[name] = Decimal(values[name])
        for name in ("estimated_close_date", "actual_close_date"):
            if values[name] is not None:
                values[name] = date.fromisoformat(values[name])
        for name in ("created_at", "updated_at", "deleted_at"):
            if values[name] is not None:
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)


COLUMNS = tuple(f.name for f in fields(OpportunityRow))

_PARTIAL: dict[tuple[str, ...], type[tuple[Any, ...]]] = {}


def partial_row(names: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
    """Rows of some of an opportunity's columns (`names`, in the order a statement selects
    them), read as an OpportunityRow's are: by attribute, amounts in the currency's minor
    unit. A column not read is no attribute at all, so a reader that needs it fails loudly
    rather than seeing a None. For reads that name what they show (a page of a board)."""
    cls = _PARTIAL.get(names)
    if cls is None:
        members = {
            "__slots__": (),
            "weighted_amount": property(
                lambda row: weighted(row.amount, row.probability, row.currency)
            ),
        }
        cls = _PARTIAL[names] = type("PartialOpportunityRow", (part_class(names),), members)
    amounts = tuple(names.index(n) for n in ("amount", "actual_amount") if n in names)
    made = cls
    if not amounts or "currency" not in names:
        return made
    currency = names.index("currency")

    def make(values: Sequence[Any]) -> Any:
        values = list(values)
        unit = quantum(values[currency])
        for at in amounts:
            if (value := values[at]) is not None:
                values[at] = value.quantize(unit)
        return made(values)

    return make
