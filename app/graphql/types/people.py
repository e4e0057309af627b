"""Users and teams."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.crm.users import queries as users
from app.graphql.batch import batched, reader, related_lists
from app.graphql.types.common import Node, Role
from app.graphql.types.rows import EnumColumn, RowBacked, check_row_fields, columns, node_id


@strawberry.type
class User(Node, RowBacked):
    id: strawberry.ID
    email: str
    name: str
    handle: str = strawberry.field(
        description="How to mention the user in an activity's text: `@handle`."
    )
    role: Role
    is_active: bool
    created_at: datetime
    row: strawberry.Private[Any]

    @batched()
    async def teams(parents: list[User], info: strawberry.Info) -> list[list[Team]]:
        keys = [u.row.id for u in parents]
        ids = await reader(info).fetch(users.team_ids_by_user, keys, [])
        return await related_lists(info, users.teams_by_id, [ids[k] for k in keys], Team.of)


@strawberry.type
class Team(Node, RowBacked):
    id: strawberry.ID
    name: str
    handle: str = strawberry.field(
        description="How to mention the team's active members in an activity's text: `@handle`."
    )
    created_at: datetime
    row: strawberry.Private[Any]

    @batched()
    async def members(parents: list[Team], info: strawberry.Info) -> list[list[User]]:
        keys = [t.row.id for t in parents]
        ids = await reader(info).fetch(users.member_ids_by_team, keys, [])
        return await related_lists(info, users.users_by_id, [ids[k] for k in keys], User.of)


User.ROW_FIELDS = {
    "id": node_id("User"),
    **columns("email", "name", "handle", "is_active", "created_at"),
    "role": EnumColumn("role", Role),
}
User.ROW_USES = {"teams": ("id",)}
check_row_fields(User)

Team.ROW_FIELDS = {"id": node_id("Team"), **columns("name", "handle", "created_at")}
Team.ROW_USES = {"members": ("id",)}
check_row_fields(Team)
