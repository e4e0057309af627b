"""Was an opportunity in a view before a change, and is it after? For live views.

An event carries the opportunity as the change left it and the old value of each changed
field, so both states are known without reading history. Both are judged by the same SQL as
lists are (compile_filter), in one query: the two states become a CTE named `opportunities`,
which PostgreSQL resolves before the table of that name, so the compiled filter reads them
as if they were rows. Conditions on related records (participants, tasks, activities,
folders) read those as they stand when the event is judged.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, cast, column, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.opportunities.filters import OpportunityFilter, compile_filter
from app.crm.opportunities.models import Opportunity
from app.crm.opportunities.rows import COLUMNS, OpportunityRow
from app.events.envelope import ChangeEvent, EventKind

# Changes recorded under another name than the column they change.
_MONEY_FIELDS = {"expected_value": "amount", "actual_value": "actual_amount"}


def states(event: ChangeEvent) -> tuple[OpportunityRow | None, OpportunityRow]:
    """The opportunity before the change (None when it did not exist) and after it."""
    after = OpportunityRow.from_json(event.snapshot)
    if event.kind is EventKind.CREATED:
        return None, after
    before = replace(after)
    for change in event.changes:
        if change.field in _MONEY_FIELDS:
            amount = change.old["amount"] if change.old else None
            if change.field == "expected_value":
                before.amount = Decimal(amount) if amount is not None else before.amount
                before.currency = change.old["currency"] if change.old else before.currency
            else:
                before.actual_amount = Decimal(amount) if amount is not None else None
        elif change.field in COLUMNS and change.field != "id":
            setattr(before, change.field, _parsed(change.field, change.old))
    if event.kind is EventKind.DELETED:
        before.deleted_at = None
    return before, after


def _parsed(name: str, value: Any) -> Any:
    # Old values come as JSON; the row wants the column's Python type.
    if value is None:
        return None
    probe = OpportunityRow.from_json({**_EMPTY, name: value})
    return getattr(probe, name)


_EMPTY: dict[str, Any] = {
    "id": 0,
    "number": "",
    "name": "",
    "description": None,
    "folder_id": None,
    "stage_id": 0,
    "status": "OPEN",
    "amount": "0",
    "currency": "EUR",
    "probability": 0,
    "forecast_category": "PIPELINE",
    "estimated_close_date": None,
    "next_step": None,
    "lead_source": None,
    "owner_id": 0,
    "visibility": "PUBLIC",
    "actual_amount": None,
    "actual_close_date": None,
    "awarded_company_id": None,
    "lost_note": None,
    "version": 0,
    "created_by_id": 0,
    "created_at": "2000-01-01T00:00:00+00:00",
    "updated_at": "2000-01-01T00:00:00+00:00",
    "deleted_at": None,
}


async def membership(
    session: AsyncSession,
    f: OpportunityFilter,
    me: int,
    before: OpportunityRow | None,
    after: OpportunityRow,
) -> tuple[bool, bool]:
    """(in the filtered set before, after). A deleted opportunity is in no set."""
    table = Opportunity.__table__
    rows = [(0, after), *([(1, before)] if before is not None else [])]
    # Every value cast to its column's type: a NULL alone in a column would be taken as text.
    selects = [
        select(
            literal(state).label("state"),
            *(
                cast(literal(getattr(row, name), table.c[name].type), table.c[name].type).label(
                    name
                )
                for name in COLUMNS
            ),
            # The generated column, as PostgreSQL would compute it for this state.
            func.to_tsvector(
                literal("simple").cast(REGCONFIG),
                f"{row.name} {row.number} {row.description or ''}",
            ).label("search_vector"),
        )
        for state, row in rows
    ]
    # Named like the table, so compile_filter's references resolve to these rows.
    states_cte = (union_all(*selects) if len(selects) > 1 else selects[0]).cte("opportunities")
    member = and_(table.c.deleted_at.is_(None), compile_filter(f, me))
    query: Any = select(column("state"), member.label("member"))
    query = query.select_from(table).add_cte(states_cte)
    found = {state: bool(inside) for state, inside in (await session.execute(query)).all()}
    return found.get(1, False), found[0]
