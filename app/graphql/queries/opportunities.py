"""Root fields for opportunities: one by ID, pages of them, the event cursor to resume from."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.crm.errors import DomainError
from app.crm.opportunities import queries as opportunities
from app.crm.opportunities.filters import OpportunityFilter
from app.graphql.batch import reader
from app.graphql.errors import bad_input
from app.graphql.executor.columns import columns_read
from app.graphql.filters import OpportunityFilterInput
from app.graphql.inputs import OpportunityOrder
from app.graphql.queries.arguments import decoded
from app.graphql.queries.connections import opportunity_connection, timeline_ahead
from app.graphql.queries.views import through_view
from app.graphql.types.common import Connection
from app.graphql.types.opportunities import Opportunity


@strawberry.type
class OpportunityQueries:
    @strawberry.field(
        description="The cursor of the newest committed event. Read it before loading data, "
        "then subscribe to opportunityEvents with since: this cursor, and no change made in "
        "between is missed (an event may repeat what the data already shows: compare version)."
    )
    async def event_cursor(self, info: strawberry.Info) -> str:
        info.context.require_actor()
        return str(await info.context.runtime.hub.latest_committed())

    @strawberry.field(description="null when it does not exist or you may not see it.")
    async def opportunity(self, info: strawberry.Info, id: strawberry.ID) -> Opportunity | None:
        columns = columns_read(info, Opportunity)
        actor = info.context.require_actor()
        pk = decoded(id, "Opportunity")
        if columns is None:
            row = await reader(info).one_visible(opportunities.visible_by_id, pk)
        else:
            # The deal view's timeline, when it shows one, comes in the same statement.
            timeline = timeline_ahead(info)
            # Only what the operation shows of it: not a row for the Reader to share.
            async with info.context.read() as session:
                found = await opportunities.visible_by_id(
                    session, actor, [pk], columns=columns, timeline=timeline
                )
            reader(info).remember(found.related)
            row = found.get(pk)
        return Opportunity.of(row) if row is not None else None

    @strawberry.field(description="Opportunities you may see, filtered and sorted, by page.")
    async def opportunities(
        self,
        info: strawberry.Info,
        filter: OpportunityFilterInput | None = None,
        order_by: list[OpportunityOrder] | None = None,
        first: int | None = 50,
        after: str | None = None,
        view_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Apply a saved or built-in view; `filter` narrows it further and "
                "`orderBy` replaces its sort."
            ),
        ] = None,
    ) -> Connection[Opportunity]:
        columns = columns_read(info, Opportunity)
        info.context.require_actor()
        try:
            domain_filter, view = await through_view(
                info, filter.to_domain() if filter else OpportunityFilter(), view_id
            )
            sorts = [o.to_domain() for o in order_by or []]
            if view is not None:
                sorts = sorts or list(view.sorts)
        except DomainError as error:
            raise bad_input(error) from None
        return await opportunity_connection(info, domain_filter, sorts, first, after, columns)
