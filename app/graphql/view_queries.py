"""Root query fields for views of the pipeline: groups with totals."""

from __future__ import annotations

import strawberry

from app.crm.errors import DomainError
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
        group_by: OpportunityGroupBy,  # type: ignore[valid-type]
        filter: OpportunityFilterInput | None = None,
    ) -> list[OpportunityGroup]:
        context = info.context
        actor = context.require_actor()
        by = GroupBy(group_by)
        try:
            domain_filter = filter.to_domain() if filter else OpportunityFilter()
            async with context.read() as session:
                found = await groups.groups(session, actor, domain_filter, by)
        except DomainError as error:
            raise bad_input(error) from None
        return [OpportunityGroup.of(g, by) for g in found]
