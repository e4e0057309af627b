"""Read helpers shared by the root Query and by nested fields."""

from __future__ import annotations

from collections.abc import Collection

import strawberry

from app.crm.activities import queries as activity_queries
from app.crm.activities import timeline
from app.crm.errors import DomainError
from app.crm.opportunities import history, queries
from app.crm.opportunities.filters import OpportunityFilter
from app.crm.opportunities.sorting import Sort
from app.graphql.batch import reader
from app.graphql.errors import bad_input
from app.graphql.executor.columns import columns_read, fields_read
from app.graphql.types.activities import (
    ACTIVITY_TYPES,
    Activity,
    TimelineEntry,
    TimelineKind,
    activity_of,
)
from app.graphql.types.common import Connection, connection
from app.graphql.types.opportunities import Opportunity, OpportunityEvent


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


async def timeline_connection(
    info: strawberry.Info,
    opportunity_id: int,
    kinds: list[str],
    first: int | None,
    after: str | None,
) -> Connection[TimelineEntry]:
    """Callers have checked that the opportunity is visible."""
    context = info.context
    # What the entries show, as the plan says (before any await: `info` moves on).
    shown_fields = fields_read(info, OpportunityEvent)
    shown = timeline.Shown.of(
        columns_read(info, *ACTIVITY_TYPES),
        shown_fields is None or not shown_fields.isdisjoint(("opportunity", "order")),
    )
    try:
        async with context.read() as session:
            page = await timeline.timeline_page(session, opportunity_id, kinds, first, after, shown)
    except DomainError as error:
        raise bad_input(error) from None
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
            return await timeline.timeline_count(session, opportunity_id, kinds)

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
