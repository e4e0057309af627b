"""Root fields for saved views and the pipeline grouped; applying a view to a filter."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities import groups
from app.crm.opportunities.filters import OpportunityFilter
from app.crm.opportunities.groups import GroupBy
from app.crm.views import queries as view_queries
from app.crm.views.services import ViewDefinition
from app.graphql.errors import bad_input
from app.graphql.filters import OpportunityFilterInput
from app.graphql.ids import decode_id
from app.graphql.types.groups import OpportunityGroup, OpportunityGroupBy
from app.graphql.types.views import OpportunityView


async def through_view(
    info: strawberry.Info, selected: OpportunityFilter, view_id: str | None
) -> tuple[OpportunityFilter, ViewDefinition | None]:
    """`selected` narrowed to a view the asker may see (DomainError otherwise), and the view."""
    if view_id is None:
        return selected, None
    actor = info.context.require_actor()
    pk = decode_id(view_id, "View", "viewId")
    # Built-in views cannot change and everyone may use them, so each process reads them once.
    builtins = info.context.runtime.builtin_views
    view = builtins.get(pk)
    if view is None:
        async with info.context.read() as session:
            view, builtin = await view_queries.applied(session, actor, pk)
        if builtin:
            builtins[pk] = view
    return OpportunityFilter(all_of=(view.filter, selected)), view


@strawberry.type
class ViewQueries:
    @strawberry.field(description="The views you may use: built-in ones first, then by name.")
    async def views(self, info: strawberry.Info) -> list[OpportunityView]:
        actor = info.context.require_actor()
        async with info.context.read() as session:
            return [OpportunityView.of(r) for r in await view_queries.listed(session, actor)]

    @strawberry.field(
        description="The opportunities you may see, grouped: count and totals per currency. "
        "Grouped by stage, every stage appears, empty ones too."
    )
    async def opportunity_groups(
        self,
        info: strawberry.Info,
        group_by: OpportunityGroupBy | None = None,  # type: ignore[valid-type]
        filter: OpportunityFilterInput | None = None,
        view_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="Apply a view: its filter (narrowed by `filter`) and, unless "
                "`groupBy` is given, its grouping."
            ),
        ] = None,
    ) -> list[OpportunityGroup]:
        context = info.context
        actor = context.require_actor()
        try:
            domain_filter, view = await through_view(
                info, filter.to_domain() if filter else OpportunityFilter(), view_id
            )
            by = GroupBy(group_by) if group_by is not None else None
            if view is not None:
                by = by or view.group_by
            if by is None:
                raise DomainError(
                    ErrorCode.REQUIRED, "groupBy is required (the view has none)", ["groupBy"]
                )
            async with context.read() as session:
                found = await groups.groups(session, actor, domain_filter, by)
        except DomainError as error:
            raise bad_input(error) from None
        return [OpportunityGroup.of(g, by) for g in found]
