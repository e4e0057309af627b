"""Root query fields for views of the pipeline: groups with totals."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities import groups
from app.crm.opportunities.filters import OpportunityFilter
from app.crm.opportunities.groups import GroupBy
from app.graphql.errors import bad_input
from app.graphql.filters import OpportunityFilterInput
from app.graphql.types.groups import OpportunityGroup, OpportunityGroupBy


@strawberry.type
class ViewQueries:
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
        from app.graphql.queries import through_view

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
