"""Root fields for people: yourself, users, teams."""

from __future__ import annotations

import strawberry

from app.crm.users import queries as users
from app.graphql.batch import reader
from app.graphql.types.people import Team, User


@strawberry.type
class PeopleQueries:
    @strawberry.field(description="The logged-in user.")
    async def me(self, info: strawberry.Info) -> User:
        actor = info.context.require_actor()
        return User.of(await reader(info).one(users.users_by_id, actor.user_id))

    @strawberry.field
    async def users(self, info: strawberry.Info, include_inactive: bool = False) -> list[User]:
        info.context.require_actor()
        async with info.context.read() as session:
            rows = await users.list_users(session, include_inactive=include_inactive)
        return [User.of(r) for r in rows]

    @strawberry.field
    async def teams(self, info: strawberry.Info) -> list[Team]:
        info.context.require_actor()
        async with info.context.read() as session:
            return [Team.of(r) for r in await users.list_teams(session)]
