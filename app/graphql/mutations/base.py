"""Running a mutation: one unit of work, DomainErrors turned into userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from app.crm.errors import DomainError
from app.crm.unit import Unit
from app.graphql.errors import UserError

T = TypeVar("T")
P = TypeVar("P")


async def attempt(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[T]]
) -> tuple[T | None, list[UserError], DomainError | None]:
    """Run `work` in its own transaction; on a DomainError nothing is committed."""
    try:
        async with info.context.unit() as unit:
            result = await work(unit)
    except DomainError as error:
        return None, [UserError.of(error)], error
    return result, [], None


async def presented(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[T]], present: Callable[[T], P]
) -> tuple[P | None, list[UserError]]:
    """`attempt`, with the result turned into its GraphQL type."""
    result, errors, _ = await attempt(info, work)
    return (present(result) if result is not None else None), errors


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


async def deletion(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[None]], deleted: strawberry.ID
) -> DeletePayload:
    _, errors, _ = await attempt(info, work)
    return DeletePayload(deleted_id=deleted if not errors else None, user_errors=errors)
