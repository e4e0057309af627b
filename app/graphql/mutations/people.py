"""Login, passwords, and the admin-managed users and teams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import strawberry

from app.crm.auth.services import start_session
from app.crm.errors import DomainError
from app.crm.unit import Unit
from app.crm.users import services
from app.crm.users.models import Team as TeamModel
from app.crm.users.models import User as UserModel
from app.graphql.errors import UserError
from app.graphql.ids import decode_id
from app.graphql.inputs import (
    ChangePasswordInput,
    CreateTeamInput,
    CreateUserInput,
    DeleteInput,
    LoginInput,
    RenameTeamInput,
    TeamMemberInput,
    UpdateUserInput,
)
from app.graphql.mutations.base import DeletePayload, deletion, presented
from app.graphql.types.people import Team, User


@strawberry.type
class LoginPayload:
    token: str | None = strawberry.field(description="Send as 'Authorization: Bearer <token>'.")
    expires_at: datetime | None
    user: User | None
    must_change_password: bool
    user_errors: list[UserError]
    retry_after_seconds: int | None = strawberry.field(
        default=None,
        description="With TOO_MANY_ATTEMPTS or BUSY: how long to wait before trying again "
        "(also sent as the HTTP Retry-After header).",
    )


@strawberry.type
class ChangePasswordPayload:
    token: str | None = strawberry.field(
        description="A new session token: the one this request came with has ended."
    )
    expires_at: datetime | None
    user: User | None
    user_errors: list[UserError]


@strawberry.type
class UserPayload:
    user: User | None
    user_errors: list[UserError]


@strawberry.type
class TeamPayload:
    team: Team | None
    user_errors: list[UserError]


async def _rights_changed(info: strawberry.Info) -> None:
    # Open subscriptions in this process follow a change of rights at once (a deactivated
    # user's sockets close before another event can reach them); other processes follow at
    # their next periodic refresh.
    await info.context.runtime.directory.refresh()


async def _session(info: strawberry.Info, user_id: int) -> tuple[str, datetime]:
    settings = info.context.runtime.settings
    return await start_session(
        info.context.runtime.sessions, settings.secret_key, user_id, settings.token_ttl_seconds
    )


async def _user(info: strawberry.Info, work: Callable[[Unit], Awaitable[UserModel]]) -> UserPayload:
    user, errors = await presented(info, work, User.of)
    if not errors:
        await _rights_changed(info)
    return UserPayload(user=user, user_errors=errors)


async def _team(info: strawberry.Info, work: Callable[[Unit], Awaitable[TeamModel]]) -> TeamPayload:
    team, errors = await presented(info, work, Team.of)
    if not errors:
        await _rights_changed(info)
    return TeamPayload(team=team, user_errors=errors)


@strawberry.type
class PeopleMutations:
    @strawberry.mutation(description="The one operation that needs no token.")
    async def login(self, info: strawberry.Info, input: LoginInput) -> LoginPayload:
        context = info.context
        runtime = context.runtime
        try:
            user = await services.log_in(
                runtime.sessions,
                email=input.email,
                password=input.password,
                address=context.client_address,
            )
        except DomainError as error:
            retry_after = error.retry_after
            if retry_after is not None and context.response is not None:
                context.response.headers["Retry-After"] = str(retry_after)
            return LoginPayload(
                token=None,
                expires_at=None,
                user=None,
                must_change_password=False,
                user_errors=[UserError.of(error)],
                retry_after_seconds=retry_after,
            )
        token, expires_at = await _session(info, user.id)
        return LoginPayload(
            token=token,
            expires_at=expires_at,
            user=User.of(user),
            must_change_password=user.must_change_password,
            user_errors=[],
        )

    @strawberry.mutation(
        description="Ends every token of yours, this request's too: the payload carries a new "
        "session token for this client."
    )
    async def change_password(
        self, info: strawberry.Info, input: ChangePasswordInput
    ) -> ChangePasswordPayload:
        async def work(unit: Unit) -> UserModel:
            return await services.change_password(
                unit, current_password=input.current_password, new_password=input.new_password
            )

        changed = await _user(info, work)
        if changed.user is None:
            return ChangePasswordPayload(
                token=None, expires_at=None, user=None, user_errors=changed.user_errors
            )
        token, expires_at = await _session(info, info.context.require_actor().user_id)
        return ChangePasswordPayload(
            token=token, expires_at=expires_at, user=changed.user, user_errors=[]
        )

    @strawberry.mutation(description="Admins only.")
    async def create_user(self, info: strawberry.Info, input: CreateUserInput) -> UserPayload:
        async def work(unit: Unit) -> UserModel:
            return await services.create_user(
                unit,
                email=input.email,
                name=input.name,
                password=input.password,
                role=input.role.value,
                must_change_password=input.must_change_password,
            )

        return await _user(info, work)

    @strawberry.mutation(description="Admins only.")
    async def update_user(self, info: strawberry.Info, input: UpdateUserInput) -> UserPayload:
        async def work(unit: Unit) -> UserModel:
            return await services.update_user(
                unit,
                decode_id(input.id, "User"),
                name=input.name,
                role=input.role.value if input.role else None,
                is_active=input.is_active,
                handle=input.handle,
            )

        return await _user(info, work)

    @strawberry.mutation(description="Admins only.")
    async def create_team(self, info: strawberry.Info, input: CreateTeamInput) -> TeamPayload:
        async def work(unit: Unit) -> TeamModel:
            return await services.create_team(unit, name=input.name)

        return await _team(info, work)

    @strawberry.mutation(description="Admins only: a new name, a new handle, or both.")
    async def rename_team(self, info: strawberry.Info, input: RenameTeamInput) -> TeamPayload:
        async def work(unit: Unit) -> TeamModel:
            return await services.rename_team(
                unit, decode_id(input.id, "Team"), name=input.name, handle=input.handle
            )

        return await _team(info, work)

    @strawberry.mutation(
        description="Admins only; a team linked to opportunities stays (IN_USE). Views shared "
        "with the team become private views of their owners."
    )
    async def delete_team(self, info: strawberry.Info, input: DeleteInput) -> DeletePayload:
        async def work(unit: Unit) -> None:
            await services.delete_team(unit, decode_id(input.id, "Team"))

        deleted = await deletion(info, work, input.id)
        if not deleted.user_errors:
            await _rights_changed(info)
        return deleted

    @strawberry.mutation(description="Admins only.")
    async def add_team_member(self, info: strawberry.Info, input: TeamMemberInput) -> TeamPayload:
        async def work(unit: Unit) -> TeamModel:
            return await services.add_team_member(
                unit,
                decode_id(input.team_id, "Team", "teamId"),
                decode_id(input.user_id, "User", "userId"),
            )

        return await _team(info, work)

    @strawberry.mutation(description="Admins only.")
    async def remove_team_member(
        self, info: strawberry.Info, input: TeamMemberInput
    ) -> TeamPayload:
        async def work(unit: Unit) -> TeamModel:
            return await services.remove_team_member(
                unit,
                decode_id(input.team_id, "Team", "teamId"),
                decode_id(input.user_id, "User", "userId"),
            )

        return await _team(info, work)
