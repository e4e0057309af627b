"""Registering and removing persisted queries: admins only."""

from __future__ import annotations

import strawberry

from app.crm.persisted import services
from app.crm.persisted.models import PersistedQuery as PersistedQueryModel
from app.crm.unit import Unit
from app.graphql.errors import UserError
from app.graphql.mutations.base import attempt
from app.graphql.persisted.registered import Registered
from app.graphql.types.persisted import PersistedQuery


@strawberry.input
class RegisterPersistedQueryInput:
    document: str = strawberry.field(
        description="One GraphQL document, exactly as clients send it: it is hashed as given."
    )
    name: str


@strawberry.input
class RemovePersistedQueryInput:
    hash: str


@strawberry.type
class PersistedQueryPayload:
    persisted_query: PersistedQuery | None
    user_errors: list[UserError]


@strawberry.type
class RemovePersistedQueryPayload:
    removed_hash: str | None
    user_errors: list[UserError]


@strawberry.type
class PersistedQueryMutations:
    @strawberry.mutation(
        description="Admins only. The document must parse and validate against the schema. "
        "It runs by its hash at once on this server, and within seconds on every other."
    )
    async def register_persisted_query(
        self, info: strawberry.Info, input: RegisterPersistedQueryInput
    ) -> PersistedQueryPayload:
        persisted = info.context.runtime.persisted

        async def work(unit: Unit) -> PersistedQueryModel:
            return await services.register(
                unit, document=input.document, name=input.name, check=persisted.problem
            )

        row, errors, _ = await attempt(info, work)
        if row is None:
            return PersistedQueryPayload(persisted_query=None, user_errors=errors)
        await persisted.registered.add(row)
        return PersistedQueryPayload(
            persisted_query=PersistedQuery.of(Registered.of(row)), user_errors=[]
        )

    @strawberry.mutation(
        description="Admins only. Documents read from TANDEM_PERSISTED_QUERIES_DIR are removed "
        "by removing their file."
    )
    async def remove_persisted_query(
        self, info: strawberry.Info, input: RemovePersistedQueryInput
    ) -> RemovePersistedQueryPayload:
        persisted = info.context.runtime.persisted
        key = input.hash.lower()

        async def work(unit: Unit) -> None:
            await services.remove(unit, key, from_directory=persisted.registered.directory)

        _, errors, _ = await attempt(info, work)
        if errors:
            return RemovePersistedQueryPayload(removed_hash=None, user_errors=errors)
        await persisted.registered.discard(key)
        return RemovePersistedQueryPayload(removed_hash=key, user_errors=[])
