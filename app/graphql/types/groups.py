"""Groups of opportunities with their counts and value totals, for boards and summaries."""

from __future__ import annotations

from typing import Any

import strawberry

from app.crm.opportunities.groups import Group, GroupBy
from app.graphql.ids import encode_id
from app.graphql.loaders import now_or_later
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

    def _load(self, info: strawberry.Info, group_by: GroupBy, loader: str, present: Any) -> Any:
        if self.group_by is not group_by or self.group.key is None:
            return None
        return now_or_later(
            getattr(info.context.loaders, loader).load(self.group.key),
            lambda row: present(row) if row is not None else None,
        )

    @strawberry.field(graphql_type=Stage | None, description="When grouped by stage.")
    def stage(self, info: strawberry.Info) -> Any:
        return self._load(info, GroupBy.STAGE, "stage_by_id", Stage.of)

    @strawberry.field(graphql_type=User | None, description="When grouped by owner.")
    def owner(self, info: strawberry.Info) -> Any:
        return self._load(info, GroupBy.OWNER, "user_by_id", User.of)

    @strawberry.field(graphql_type=Team | None, description="When grouped by team.")
    def team(self, info: strawberry.Info) -> Any:
        return self._load(info, GroupBy.TEAM, "team_by_id", Team.of)

    @strawberry.field(graphql_type=Folder | None, description="When grouped by folder.")
    def folder(self, info: strawberry.Info) -> Any:
        return self._load(info, GroupBy.FOLDER, "folder_by_id", Folder.of)

    @strawberry.field(graphql_type=Company | None, description="When grouped by company.")
    def company(self, info: strawberry.Info) -> Any:
        return self._load(info, GroupBy.COMPANY, "company_by_id", Company.of)
