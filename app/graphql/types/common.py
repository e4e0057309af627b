"""The Node interface, connections, Money and the enums shared across types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, TypeVar

import strawberry

from app.crm.paging import Page

T = TypeVar("T")


@strawberry.interface(description="An object with a globally unique, opaque ID.")
class Node:
    id: strawberry.ID


@strawberry.type(description="An exact amount in an ISO 4217 currency.")
class Money:
    amount: Decimal
    currency: str


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    _cursors: strawberry.Private[Sequence[str]]

    # Made only when asked for: a cursor costs an encoding, and most pages show one of two.
    @strawberry.field
    def start_cursor(self) -> str | None:
        return self._cursors[0] if self._cursors else None

    @strawberry.field
    def end_cursor(self) -> str | None:
        return self._cursors[-1] if self._cursors else None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    page_info: PageInfo
    _nodes: strawberry.Private[list[Any]]
    _cursors: strawberry.Private[Sequence[str]]
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    def edges(self) -> list[Edge[T]]:
        # Made only when asked for: a client that reads `nodes` needs no edge or cursor.
        return [Edge(cursor=c, node=n) for c, n in zip(self._cursors, self._nodes, strict=True)]

    @strawberry.field(description="All items that match, as the asking user may see them.")
    async def total_count(self) -> int:
        return await self._count()

    @strawberry.field(description="The page's nodes, without the edges.")
    def nodes(self) -> list[T]:
        return self._nodes


def connection(
    page: Page[Any], nodes: list[T], count: Callable[[], Awaitable[int]]
) -> Connection[T]:
    cursors = page.cursors
    return Connection(
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            _cursors=cursors,
        ),
        _nodes=nodes,
        _cursors=cursors,
        _count=count,
    )


@strawberry.enum
class Role(Enum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


@strawberry.enum
class OpportunityStatus(Enum):
    OPEN = "OPEN"
    WON = "WON"
    LOST = "LOST"


@strawberry.enum
class Visibility(Enum):
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


@strawberry.enum
class StageKind(Enum):
    OPEN = "OPEN"
    WON = "WON"
    LOST = "LOST"


@strawberry.enum
class ForecastCategory(Enum):
    PIPELINE = "PIPELINE"
    BEST_CASE = "BEST_CASE"
    COMMIT = "COMMIT"
    CLOSED = "CLOSED"
    OMITTED = "OMITTED"


@strawberry.enum
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"
