"""Groups of opportunities with their counts and value totals, for boards and summaries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from app.crm.companies import queries as companies
from app.crm.folders import queries as folders
from app.crm.opportunities.groups import Group, GroupBy
from app.crm.stages import queries as stages
from app.crm.users import queries as users
from app.graphql.batch import Fetch, batched, related
from app.graphql.ids import encode_id
from app.graphql.types.common import Money
from app.graphql.types.parties import Company
from app.graphql.types.people import Team, User
from app.graphql.types.pipeline import Folder, Stage

OpportunityGroupBy = strawberry.enum(GroupBy, name="OpportunityGroupBy")

# Groupings whose key is a record, and the node type of its ID.
_KEY_TYPES = {
    GroupBy.STAGE: "Stage",
    GroupBy.OWNER: "User",
    GroupBy.TEAM: "Team",
    GroupBy.FOLDER: "Folder",
    GroupBy.COMPANY: "Company",
}


@strawberry.type(description="Opportunities of one group in one currency.")
class GroupTotal:
    currency: str
    count: int
    value: Money = strawberry.field(description="The sum of expected values.")
    weighted_value: Money = strawberry.field(
        description="The sum of value x probability, rounded once (half even)."
    )


@strawberry.type(description="One group: its key, how many, and how much per currency.")
class OpportunityGroup:
    key: str | None = strawberry.field(
        description="The group's record ID (stage, owner, team, folder, company) or value "
        "(status, forecast category, lead source, 2026-11, 2026-Q4); null: none of them."
    )
    count: int
    totals: list[GroupTotal]
    group: strawberry.Private[Group]
    group_by: strawberry.Private[GroupBy]

    @classmethod
    def of(cls, group: Group, group_by: GroupBy) -> OpportunityGroup:
        node_type = _KEY_TYPES.get(group_by)
        key: str | None
        if group.key is None:
            key = None
        elif node_type is not None:
            key = encode_id(node_type, int(group.key))
        else:
            key = str(group.key)
        return cls(
            key=key,
            count=group.count,
            totals=[
                GroupTotal(
                    currency=t.currency,
                    count=t.count,
                    value=Money(amount=t.value, currency=t.currency),
                    weighted_value=Money(amount=t.weighted_value, currency=t.currency),
                )
                for t in group.totals
            ],
            group=group,
            group_by=group_by,
        )

    @batched(description="When grouped by stage.")
    async def stage(parents: list[OpportunityGroup], info: strawberry.Info) -> list[Stage | None]:
        return await _records(info, parents, GroupBy.STAGE, stages.stages_by_id, Stage.of)

    @batched(description="When grouped by owner.")
    async def owner(parents: list[OpportunityGroup], info: strawberry.Info) -> list[User | None]:
        return await _records(info, parents, GroupBy.OWNER, users.users_by_id, User.of)

    @batched(description="When grouped by team.")
    async def team(parents: list[OpportunityGroup], info: strawberry.Info) -> list[Team | None]:
        return await _records(info, parents, GroupBy.TEAM, users.teams_by_id, Team.of)

    @batched(description="When grouped by folder.")
    async def folder(parents: list[OpportunityGroup], info: strawberry.Info) -> list[Folder | None]:
        return await _records(info, parents, GroupBy.FOLDER, folders.folders_by_id, Folder.of)

    @batched(description="When grouped by company.")
    async def company(
        parents: list[OpportunityGroup], info: strawberry.Info
    ) -> list[Company | None]:
        return await _records(info, parents, GroupBy.COMPANY, companies.by_id, Company.of)


async def _records(
    info: strawberry.Info,
    groups: list[OpportunityGroup],
    group_by: GroupBy,
    fetch: Fetch,
    present: Callable[[Any], Any],
) -> list[Any]:
    """The record each group's key names, when the groups are by `group_by` (else null)."""
    keys = [g.group.key if g.group_by is group_by else None for g in groups]
    return await related(info, fetch, keys, present)
