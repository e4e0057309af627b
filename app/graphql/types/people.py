"""Users and teams."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

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

    @strawberry.field
    async def teams(self, info: strawberry.Info) -> list[Team]:
        loaders = info.context.loaders
        ids = await loaders.team_ids_by_user.load(self.pk)
        return [Team.of(t) for t in await loaders.team_by_id.load_many(ids) if t is not None]


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

    @strawberry.field
    async def members(self, info: strawberry.Info) -> list[User]:
        loaders = info.context.loaders
        ids = await loaders.member_ids_by_team.load(self.pk)
        return [User.of(u) for u in await loaders.user_by_id.load_many(ids) if u is not None]
