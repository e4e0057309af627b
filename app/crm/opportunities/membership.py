"""Was an opportunity in a view before a change, and is it after? For live views.

An event carries the opportunity as the change left it and the old value of each changed
field, so both states are known without reading history. Both are judged by the same SQL as
lists are (compile_filter), in one query: the two states become a CTE named `opportunities`,
which PostgreSQL resolves before the table of that name, so the compiled filter reads them
as if they were rows.

A filter on links (companies, contacts, teams; a search, which matches company names) judges
each state with the deal's links as they were then, the same way: a CTE named like their
table. They are today's links with every later link change undone (the outbox keeps the
changes), and for the state before, the event's own change undone too. So linking a deal to
a company brings it into a view of that company's deals (ENTERED), also when the event is
judged after later changes (a subscription replaying from `since`). Tasks and activity are
read as they stand when the event is judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, cast, column, false, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.opportunities.filters import OpportunityFilter, compile_filter
from app.crm.opportunities.models import TARGET_COLUMNS, Opportunity, Participant
from app.crm.opportunities.participants import describe
from app.crm.opportunities.rows import COLUMNS, OpportunityRow
from app.events.envelope import ChangeEvent, EventKind, FieldChange
from app.events.models import EventRecord
from app.events.outbox import from_record

Links = dict[int, dict[str, Any]]  # participant id -> participants.describe()

_LINK_EVENTS = (EventKind.PARTICIPANT_LINKED.value, EventKind.PARTICIPANT_UNLINKED.value)


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


def uses_links(f: OpportunityFilter) -> bool:
    """Does `f`, at any depth, look at the deal's links?"""
    if f.company_ids or f.contact_ids or f.team_ids or f.search:
        return True
    return any(uses_links(child) for child in f.nested())


async def membership(
    session: AsyncSession, f: OpportunityFilter, me: int, event: ChangeEvent
) -> tuple[bool, bool]:
    """(in the filtered set before `event`, after it). A deleted opportunity is in no set."""
    before, after = states(event)
    if not uses_links(f):
        found = await _judge(session, f, me, [(0, after), (1, before)], None)
        return found.get(1, False), found[0]
    # Two queries: each state has links of its own under the one name.
    links = await _links_after(session, event)
    is_in = (await _judge(session, f, me, [(0, after)], links))[0]
    if before is None:
        return False, is_in
    _undo(links, event.changes)
    was_in = (await _judge(session, f, me, [(1, before)], links))[1]
    return was_in, is_in


async def _links_after(session: AsyncSession, event: ChangeEvent) -> Links:
    """The deal's links as `event` left them: today's, every later change undone."""
    current = await session.scalars(
        select(Participant).where(Participant.opportunity_id == event.opportunity_id)
    )
    links = {p.id: describe(p) for p in current}
    later = (
        select(EventRecord)
        .where(
            EventRecord.opportunity_id == event.opportunity_id,
            EventRecord.seq > event.seq,
            EventRecord.kind.in_(_LINK_EVENTS),
        )
        .order_by(EventRecord.seq.desc())
    )
    for record in await session.scalars(later):
        _undo(links, from_record(record).changes)
    return links


def _undo(links: Links, changes: Sequence[FieldChange]) -> None:
    """`links` as they were before `changes` (a link added, removed, or made primary or not)."""
    for change in reversed(changes):
        if change.field != "participants":
            continue
        if change.new is not None:
            links.pop(change.new["id"], None)
        if change.old is not None:
            links[change.old["id"]] = change.old


async def _judge(
    session: AsyncSession,
    f: OpportunityFilter,
    me: int,
    rows: Sequence[tuple[int, OpportunityRow | None]],
    links: Links | None,
) -> dict[int, bool]:
    """{state: in the filtered set} for the given states; with `links`, those are the deal's
    links (else the table's, as they stand)."""
    table = Opportunity.__table__
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
        if row is not None
    ]
    # Named like the table, so compile_filter's references resolve to these rows.
    states_cte = (union_all(*selects) if len(selects) > 1 else selects[0]).cte("opportunities")
    member = and_(table.c.deleted_at.is_(None), compile_filter(f, me))
    query: Any = select(column("state"), member.label("member"))
    query = query.select_from(table).add_cte(states_cte)
    if links is not None:
        opportunity_id = next(row.id for _, row in rows if row is not None)
        query = query.add_cte(_links_cte(opportunity_id, links))
    return {state: bool(inside) for state, inside in (await session.execute(query)).all()}


def _links_cte(opportunity_id: int, links: Links) -> Any:
    """`links` as rows named like the participants' table."""
    table = Participant.__table__

    def as_row(values: dict[str, Any]) -> Any:
        return select(
            *(cast(literal(values.get(c.name), c.type), c.type).label(c.name) for c in table.c)
        )

    selects: list[Any] = [
        as_row(
            {
                "id": link["id"],
                "opportunity_id": opportunity_id,
                "kind": link["kind"],
                "role": link["role"],
                "is_primary": link["is_primary"],
                TARGET_COLUMNS[link["kind"]]: link["target_id"],
            }
        )
        for link in links.values()
    ]
    if not selects:  # no links: one typed row that never comes
        selects.append(as_row({}).where(false()))
    rows: Any = union_all(*selects) if len(selects) > 1 else selects[0]
    return rows.cte(Participant.__tablename__)
