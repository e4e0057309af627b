"""Logging out, and the personal tokens integrations use."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.crm.auth import services
from app.crm.auth.models import AccessToken as AccessTokenModel
from app.crm.unit import Unit
from app.graphql.errors import UserError
from app.graphql.ids import decode_id
from app.graphql.mutations.base import attempt
from app.graphql.types.tokens import AccessToken, AccessTokenAccess


@strawberry.input
class CreateAccessTokenInput:
    name: str = strawberry.field(description='What it is for ("Zapier", "nightly export").')
    access: AccessTokenAccess = AccessTokenAccess.READ_WRITE
    expires_at: datetime | None = strawberry.field(default=None, description="Null: until revoked.")
    folder_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Limit the token to the deals in these folders and their sub-folders "
        "(and what hangs from those deals); null: every deal its user sees.",
    )


@strawberry.input
class RevokeAccessTokenInput:
    id: strawberry.ID


@strawberry.type
class CreateAccessTokenPayload:
    token: str | None = strawberry.field(
        description="Shown this once and never again (only its hash is kept): send it as "
        "'Authorization: Bearer <token>'."
    )
    access_token: AccessToken | None
    user_errors: list[UserError]


@strawberry.type
class AccessTokenPayload:
    access_token: AccessToken | None
    user_errors: list[UserError]


@strawberry.type
class LogoutPayload:
    logged_out: bool
    user_errors: list[UserError]


async def _tokens_ended(info: strawberry.Info) -> None:
    # This process's sockets opened with an ended token close at once; other processes'
    # at their next refresh of rights (app/crm/users/directory.py).
    await info.context.runtime.directory.refresh()


def _current(info: strawberry.Info) -> int | None:
    grant = info.context.require_actor().grant
    return grant.token_id if grant is not None else None


@strawberry.type
class TokenMutations:
    @strawberry.mutation(
        description="Revokes the token this request came with; its open sockets close (4403)."
    )
    async def logout(self, info: strawberry.Info) -> LogoutPayload:
        _, errors, _ = await attempt(info, services.log_out)
        if not errors:
            await _tokens_ended(info)
        return LogoutPayload(logged_out=not errors, user_errors=errors)

    @strawberry.mutation(description="A personal token of yours, for an integration.")
    async def create_access_token(
        self, info: strawberry.Info, input: CreateAccessTokenInput
    ) -> CreateAccessTokenPayload:
        secret_key = info.context.runtime.settings.secret_key

        async def work(unit: Unit) -> tuple[AccessTokenModel, str]:
            return await services.create_personal_token(
                unit,
                secret_key,
                name=input.name,
                access=input.access.name,
                expires_at=input.expires_at,
                folder_ids=(
                    [decode_id(f, "Folder", "folderIds") for f in input.folder_ids]
                    if input.folder_ids is not None
                    else None
                ),
            )

        made, errors, _ = await attempt(info, work)
        if made is None:
            return CreateAccessTokenPayload(token=None, access_token=None, user_errors=errors)
        row, text = made
        return CreateAccessTokenPayload(
            token=text, access_token=AccessToken.of(row, _current(info)), user_errors=[]
        )

    @strawberry.mutation(
        description="Revokes one of your tokens (admins: anyone's); its open sockets close "
        "(4403). Revoking a revoked token is no error."
    )
    async def revoke_access_token(
        self, info: strawberry.Info, input: RevokeAccessTokenInput
    ) -> AccessTokenPayload:
        async def work(unit: Unit) -> AccessTokenModel:
            return await services.revoke_token(unit, decode_id(input.id, "AccessToken"))

        row, errors, _ = await attempt(info, work)
        if row is None:
            return AccessTokenPayload(access_token=None, user_errors=errors)
        await _tokens_ended(info)
        return AccessTokenPayload(access_token=AccessToken.of(row, _current(info)), user_errors=[])
