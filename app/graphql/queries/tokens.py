"""Root field for access tokens: your own, or (admins) anyone's."""

from __future__ import annotations

import strawberry

from app.crm.auth import queries as tokens
from app.crm.errors import DomainError
from app.graphql.errors import admins_only, bad_input
from app.graphql.ids import decode_optional
from app.graphql.types.tokens import AccessToken, AccessTokenKind


@strawberry.type
class TokenQueries:
    @strawberry.field(
        description="Your tokens, newest first: sessions and personal tokens that still work "
        "(with includeRevoked, also those revoked or expired). Admins may name a user."
    )
    async def access_tokens(
        self,
        info: strawberry.Info,
        kind: AccessTokenKind | None = None,
        include_revoked: bool = False,
        user_id: strawberry.ID | None = None,
    ) -> list[AccessToken]:
        actor = info.context.require_actor()
        try:
            owner = decode_optional(user_id, "User", "userId")
        except DomainError as error:
            raise bad_input(error) from None
        if owner is not None and owner != actor.user_id and not actor.is_admin:
            raise admins_only()
        async with info.context.read() as session:
            rows = await tokens.list_tokens(
                session,
                owner if owner is not None else actor.user_id,
                kind=kind.name if kind is not None else None,
                include_revoked=include_revoked,
            )
        current = actor.grant.token_id if actor.grant is not None else None
        return [AccessToken.of(row, current) for row in rows]
