"""Was an opportunity in a view before a change, and is it after? For live views.

An event carries the opportunity as the change left it and the old value of each changed
field, so both states are known without reading history. Both are judged by the same SQL as
lists are (compile_filter), in one query: the two states become a CTE named `opportunities`,
which PostgreSQL resolves before the table of that name, so the compiled filter reads them
as if they were rows. Conditions on related records (participants, tasks, activities,
folders) read those as they stand when the event is judged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, cast, column, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.opportunities.filters import OpportunityFilter, compile_filter
from app.crm.opportunities.models import Opportunity
from app.crm.opportunities.rows import COLUMNS, OpportunityRow
from app.events.envelope import ChangeEvent, EventKind


def states(event: ChangeEvent) -> tuple[OpportunityRow | None, OpportunityRow]:
    """The opportunity before the change (None when it did not exist) and after it."""
    after = OpportunityRow.from_json(event.snapshot)
    if event.kind is EventKind.CREATED:
        return None, after
    # Old values are recorded in the snapshot's own JSON forms, so they slot straight in.
    data = dict(event.snapshot)
    for change in event.changes:
        if change.field == "expected_value" and change.old is not None:
            data["amount"], data["currency"] = change.old["amount"], change.old["currency"]
        elif change.field == "actual_value":
            data["actual_amount"] = change.old["amount"] if change.old else None
        elif change.field in COLUMNS and change.field != "id":
            data[change.field] = change.old
    if event.kind is EventKind.DELETED:
        data["deleted_at"] = None
    return OpportunityRow.from_json(data), after


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
