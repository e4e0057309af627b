"""Read helpers shared by the root Query and by nested fields."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import strawberry

from app.crm.activities import queries as activity_queries
from app.crm.activities import timeline
from app.crm.errors import DomainError
from app.crm.opportunities import history, queries
from app.crm.opportunities.filters import OpportunityFilter
from app.crm.opportunities.sorting import Sort
from app.graphql.batch import reader
from app.graphql.errors import bad_input
from app.graphql.executor.columns import At, columns_read_at, fields_read_at
from app.graphql.types.activities import (
    ACTIVITY_TYPES,
    Activity,
    TimelineEntry,
    TimelineKind,
    activity_of,
)
from app.graphql.types.common import Connection, connection
from app.graphql.types.opportunities import Opportunity, OpportunityEvent
from app.graphql.types.people import User
from app.memo import Memo


async def history_connection(
    info: strawberry.Info, opportunity_id: int, first: int | None, after: str | None
) -> Connection[OpportunityEvent]:
    context = info.context
    try:
        async with context.read() as session:
            page = await history.history_page(session, opportunity_id, first, after)
    except DomainError as error:
        raise bad_input(error) from None

    async def count() -> int:
        async with context.read() as session:
            return await history.history_count(session, opportunity_id)

    return connection(page, [OpportunityEvent.of(e) for e in page.items], count)


async def opportunity_connection(
    info: strawberry.Info,
    f: OpportunityFilter,
    sorts: list[Sort],
    first: int | None,
    after: str | None,
    columns: Collection[str] | None = None,
) -> Connection[Opportunity]:
    """`columns`: those the operation reads of the deals (executor/columns.py), else all."""
    context = info.context
    actor = context.require_actor()
    try:
        async with context.read() as session:
            page = await queries.page(session, actor, f, sorts, first, after, columns=columns)
    except DomainError as error:
        raise bad_input(error) from None
    reader(info).remember(page.related)

    async def count() -> int:
        async with context.read() as session:
            return await queries.count(session, actor, f)

    return connection(page, [Opportunity.of(row) for row in page.items], count)


_TIMELINE_KINDS = {kind.value: kind for kind in TimelineKind}


def timeline_ask(
    at: At | None, kinds: Sequence[TimelineKind] | None, first: int | None, after: str | None
) -> timeline.PageAsk:
    """The page a `timeline` field (`at`, when the plan executor runs it) asks for: its
    arguments, and what it shows of its entries. Raises DomainError."""
    key = (at.field, tuple(kinds or ()), first, after) if at is not None else None
    if key is not None and (known := _ASKS.get(key)) is not None:
        return known  # asked by the deal's read already (timeline_ahead), or by the last one
    shown_fields = fields_read_at(at, OpportunityEvent)
    shown = timeline.Shown.of(
        columns_read_at(at, *ACTIVITY_TYPES),
        shown_fields is None or not shown_fields.isdisjoint(("opportunity", "order")),
        columns_read_at(at, User),
    )
    ask = timeline.PageAsk.of([kind.value for kind in kinds or ()], first, after, shown)
    return ask if key is None else _ASKS.keep(key, ask)


_ASKS: Memo[tuple[Any, ...], timeline.PageAsk] = Memo(1024)
"""By the plan's field and its arguments: a deal read with its timeline asks twice."""


def timeline_ahead(info: strawberry.Info) -> timeline.PageAsk | None:
    """The page the `timeline` of the deal being read will ask for, so that it is read with
    the deal; None when it shows none, or several, or one that cannot be read (that field
    then answers its own error)."""
    here = At.of(info)
    below = here.below(Opportunity, "timeline") if here is not None else []
    if len(below) != 1:
        return None
    arguments = info.arguments(below[0].field)  # type: ignore[attr-defined]
    try:
        return timeline_ask(
            below[0], arguments.get("kinds"), arguments.get("first"), arguments.get("after")
        )
    except DomainError:
        return None


async def timeline_connection(
    info: strawberry.Info,
    opportunity_id: int,
    kinds: Sequence[TimelineKind] | None,
    first: int | None,
    after: str | None,
) -> Connection[TimelineEntry]:
    """Callers have checked that the opportunity is visible."""
    context = info.context
    try:
        # What the entries show, as the plan says (before any await: `info` moves on).
        ask = timeline_ask(At.of(info), kinds, first, after)
    except DomainError as error:
        raise bad_input(error) from None
    page = reader(info).kept(queries.TIMELINE_PAGES, (opportunity_id, ask))
    if page is None:  # not read with the deal
        async with context.read() as session:
            page = await timeline.timeline_page(session, opportunity_id, ask)
    reader(info).remember(page.related)
    entries = []
    for item in page.items:
        if item.activity is not None:
            activity = activity_of(item.activity)
            entries.append(
                TimelineEntry(
                    kind=_TIMELINE_KINDS[item.activity.kind],
                    occurred_at=item.occurred_at,
                    activity=activity,
                    change=None,
                )
            )
        else:
            assert item.event is not None
            entries.append(
                TimelineEntry(
                    kind=TimelineKind.HISTORY,
                    occurred_at=item.occurred_at,
                    activity=None,
                    change=OpportunityEvent.of(item.event),
                )
            )

    async def count() -> int:
        async with context.read() as session:
            return await timeline.timeline_count(session, opportunity_id, ask)

    return connection(page, entries, count)


async def party_activities(
    info: strawberry.Info,
    *,
    company_id: int | None = None,
    contact_id: int | None = None,
    first: int | None,
    after: str | None,
) -> Connection[Activity]:
    """Activities filed under a company or contact, newest first, as the asker may see them."""
    context = info.context
    actor = context.require_actor()
    try:
        async with context.read() as session:
            page = await activity_queries.for_party(
                session,
                actor,
                company_id=company_id,
                contact_id=contact_id,
                first=first,
                after=after,
            )
    except DomainError as error:
        raise bad_input(error) from None

    async def count() -> int:
        async with context.read() as session:
            return await activity_queries.for_party_count(
                session, actor, company_id=company_id, contact_id=contact_id
            )

    return connection(page, [activity_of(r) for r in page.items], count)
