"""Saved views of the pipeline."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from app.crm.opportunities.groups import GroupBy
from app.crm.opportunities.sorting import SortField
from app.crm.users import queries as users
from app.graphql.batch import batched, related
from app.graphql.filters import filter_to_api
from app.graphql.ids import encode_id
from app.graphql.inputs import OpportunitySortField
from app.graphql.scalars import JSON
from app.graphql.types.common import Node, SortDirection
from app.graphql.types.groups import OpportunityGroupBy
from app.graphql.types.people import Team, User


@strawberry.enum
class ViewKind(Enum):
    TABLE = "TABLE"
    BOARD = "BOARD"


@strawberry.enum
class ViewVisibility(Enum):
    PRIVATE = "PRIVATE"
    TEAM = "TEAM"
    EVERYONE = "EVERYONE"


@strawberry.type(description="One sort key of a view.")
class ViewSort:
    field: OpportunitySortField  # type: ignore[valid-type]
    direction: SortDirection
    nulls_first: bool | None


@strawberry.type(description="A saved filter, sort, grouping and set of columns.")
class OpportunityView(Node):
    id: strawberry.ID
    name: str
    kind: ViewKind
    visibility: ViewVisibility
    is_built_in: bool = strawberry.field(description="Built in: for everyone, not editable.")
    filter: JSON = strawberry.field(
        description="In the shape of OpportunityFilterInput, ready to edit and send back."
    )
    sort: list[ViewSort]
    group_by: OpportunityGroupBy | None  # type: ignore[valid-type]
    columns: list[str]
    version: int
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[Any]

    @classmethod
    def of(cls, row: Any) -> OpportunityView:
        return cls(
            id=strawberry.ID(encode_id("View", row.id)),
            name=row.name,
            kind=ViewKind(row.kind),
            visibility=ViewVisibility(row.visibility),
            is_built_in=row.builtin_key is not None,
            filter=JSON(filter_to_api(row.filter)),
            sort=[
                ViewSort(
                    field=SortField(s["field"]),
                    direction=SortDirection.DESC if s["descending"] else SortDirection.ASC,
                    nulls_first=s.get("nulls_first"),
                )
                for s in row.sort
            ],
            group_by=GroupBy(row.group_by) if row.group_by else None,
            columns=list(row.columns),
            version=row.version,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @batched(description="Null for built-in views.")
    async def owner(parents: list[OpportunityView], info: strawberry.Info) -> list[User | None]:
        return await related(info, users.users_by_id, [v.row.owner_id for v in parents], User.of)

    @batched(description="The team a TEAM view is shared with.")
    async def team(parents: list[OpportunityView], info: strawberry.Info) -> list[Team | None]:
        return await related(info, users.teams_by_id, [v.row.team_id for v in parents], Team.of)
