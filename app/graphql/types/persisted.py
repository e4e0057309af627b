"""Persisted queries as admins see them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from app.crm.users import queries as users
from app.graphql.batch import batched, related
from app.graphql.persisted.registered import Registered
from app.graphql.types.people import User


@strawberry.enum(description="Where a persisted query was registered.")
class PersistedQuerySource(Enum):
    DIRECTORY = strawberry.enum_value(
        "DIRECTORY", description="A file of TANDEM_PERSISTED_QUERIES_DIR, read at start-up."
    )
    ADMIN = strawberry.enum_value(
        "ADMIN", description="registerPersistedQuery, or `tandem persisted-queries register`."
    )


@strawberry.type(description="A document that runs by its hash, and in allow-list mode may run.")
class PersistedQuery:
    hash: str = strawberry.field(
        description="SHA-256 of the document's text as hexadecimal: what a client sends as "
        "extensions.persistedQuery.sha256Hash."
    )
    name: str
    document: str
    source: PersistedQuerySource
    created_at: datetime | None = strawberry.field(description="Null for files.")
    created_by_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, registered: Registered) -> PersistedQuery:
        return cls(
            hash=registered.hash,
            name=registered.name,
            document=registered.document,
            source=PersistedQuerySource(registered.source),
            created_at=registered.created_at,
            created_by_id=registered.created_by,
        )

    @batched(description="The admin who registered it; null for files and the command line.")
    async def created_by(parents: list[PersistedQuery], info: strawberry.Info) -> list[User | None]:
        return await related(info, users.users_by_id, [p.created_by_id for p in parents], User.of)
