"""Access tokens as their users (and admins) see them: never their secrets."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from app.crm.folders.queries import folders_by_id
from app.graphql.batch import batched, related_lists
from app.graphql.ids import encode_id
from app.graphql.types.pipeline import Folder


@strawberry.enum(description="How a token was made.")
class AccessTokenKind(Enum):
    SESSION = strawberry.enum_value("SESSION", description="By `login`; expires by itself.")
    PERSONAL = strawberry.enum_value(
        "PERSONAL", description="By `createAccessToken`, for an integration."
    )


@strawberry.enum(description="What a token may do.")
class AccessTokenAccess(Enum):
    READ_WRITE = "READ_WRITE"
    READ_ONLY = strawberry.enum_value(
        "READ_ONLY", description="Queries and subscriptions; every mutation is refused."
    )


@strawberry.type(description="A token acting as its user: a login's session or a personal token.")
class AccessToken:
    id: strawberry.ID
    kind: AccessTokenKind
    name: str | None = strawberry.field(description="A personal token's; null for sessions.")
    access: AccessTokenAccess
    created_at: datetime
    expires_at: datetime | None = strawberry.field(description="Null: never expires.")
    last_used_at: datetime | None = strawberry.field(
        description="To the minute; null when never used."
    )
    revoked_at: datetime | None
    current: bool = strawberry.field(description="Whether this request came with it.")
    folder_ids: strawberry.Private[list[int] | None]

    @batched(description="The folders it is limited to (with their sub-folders); null: none.")
    async def folders(
        parents: list[AccessToken], info: strawberry.Info
    ) -> list[list[Folder] | None]:
        # One read for every token listed, not one per token.
        found = await related_lists(
            info, folders_by_id, [p.folder_ids or () for p in parents], Folder.of
        )
        return [None if p.folder_ids is None else f for p, f in zip(parents, found, strict=True)]

    @classmethod
    def of(cls, row: Any, current_id: int | None) -> AccessToken:
        return cls(
            id=strawberry.ID(encode_id("AccessToken", row.id)),
            kind=AccessTokenKind(row.kind),
            name=row.name,
            access=AccessTokenAccess(row.access),
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
            current=row.id == current_id,
            folder_ids=row.folder_ids,
        )
