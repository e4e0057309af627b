"""Running a mutation: one unit of work, DomainErrors turned into userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry

from app.crm.errors import DomainError
from app.crm.unit import Unit
from app.graphql.errors import UserError

T = TypeVar("T")


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
