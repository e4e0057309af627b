"""Users and teams."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.crm.users import queries as users
from app.graphql.batch import batched, reader, related_lists
from app.graphql.ids import encode_id
from app.graphql.types.common import Node, Role


@strawberry.type
class User(Node):
    id: strawberry.ID
    email: str
    name: str
    role: Role
    is_active: bool
    created_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: Any) -> User:
        return cls(
            id=strawberry.ID(encode_id("User", row.id)),
            email=row.email,
            name=row.name,
            role=Role(row.role),
            is_active=row.is_active,
            created_at=row.created_at,
            pk=row.id,
        )

    @batched()
    async def teams(parents: list[User], info: strawberry.Info) -> list[list[Team]]:
        ids = await reader(info).fetch(users.team_ids_by_user, [u.pk for u in parents], [])
        return await related_lists(info, users.teams_by_id, [ids[u.pk] for u in parents], Team.of)


@strawberry.type
class Team(Node):
    id: strawberry.ID
    name: str
    created_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: Any) -> Team:
        return cls(
            id=strawberry.ID(encode_id("Team", row.id)),
            name=row.name,
            created_at=row.created_at,
            pk=row.id,
        )

    @batched()
    async def members(parents: list[Team], info: strawberry.Info) -> list[list[User]]:
        ids = await reader(info).fetch(users.member_ids_by_team, [t.pk for t in parents], [])
        return await related_lists(info, users.users_by_id, [ids[t.pk] for t in parents], User.of)
