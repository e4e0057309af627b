"""Read helpers shared by the root Query and by nested fields."""

from __future__ import annotations

import strawberry

from app.crm.errors import DomainError
from app.crm.opportunities import history, queries
from app.crm.opportunities.queries import OpportunityFilter, Sort
from app.graphql.errors import bad_input
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
) -> Connection[Opportunity]:
    context = info.context
    actor = context.require_actor()
    try:
        async with context.read() as session:
            page = await queries.page(session, actor, f, sorts, first, after)
    except DomainError as error:
        raise bad_input(error) from None

    async def count() -> int:
        async with context.read() as session:
            return await queries.count(session, actor, f)

    return connection(page, [Opportunity.of(row) for row in page.items], count)
