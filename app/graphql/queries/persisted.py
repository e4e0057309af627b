"""Root field for the persisted queries: admins only (app/graphql/access.py)."""

from __future__ import annotations

import strawberry

from app.crm.persisted import queries
from app.graphql.persisted.registered import Registered
from app.graphql.types.persisted import PersistedQuery


@strawberry.type
class PersistedQueryQueries:
    @strawberry.field(
        description="Admins only: the registered documents (files and admins'), by name."
    )
    async def persisted_queries(self, info: strawberry.Info) -> list[PersistedQuery]:
        # Members are refused before the operation runs (app/graphql/access.py: ADMIN).
        # The database's list as it is now, not this process's copy, which may be seconds old.
        async with info.context.read() as session:
            rows = await queries.listed(session)
        files = info.context.runtime.persisted.registered.directory
        registered = [
            *files.values(),
            *(Registered.of(row) for row in rows if row.hash not in files),
        ]
        registered.sort(key=lambda d: (d.name, d.hash))
        return [PersistedQuery.of(d) for d in registered]
