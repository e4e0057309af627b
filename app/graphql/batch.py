"""Batched fields: one function reads a relation for many parent objects at once.

`@batched` turns `async def field(parents, info, **arguments) -> list` into a Strawberry field.
The plan executor calls it once for all the parents of one level of a result (a page of 50
opportunities: one call for their 50 owners); the standard executor, through the resolver
made here, calls it for one parent at a time. Both get the same answer from the same code.

`Reader` is what batch functions read through: one per operation, every row it has read kept
by key, so two fields that need the same users read them once.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.actor import Actor

BATCH = "tandem.batch"
"""The metadata key of a batched field's batch function."""

K = TypeVar("K")
V = TypeVar("V")

Fetch = Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]]
VisibleFetch = Callable[[AsyncSession, Actor, Sequence[Any]], Awaitable[dict[Any, Any]]]


class Reader:
    """The reads of one operation, through one session at a time, each row kept by key.

    Batch functions of one level run one after another in the plan executor (measured: a
    millisecond faster than side by side, each in a session of its own); under the standard
    executor they may run side by side, and then take turns on the lock.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], actor: Actor | None) -> None:
        self._sessions = sessions
        self.actor = actor
        self._known: dict[object, dict[Any, Any]] = {}
        self._lock = asyncio.Lock()
        self._session: AsyncSession | None = None

    @asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """Keep one session for every read inside (a whole plan's execution)."""
        async with self._sessions() as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            if self._session is not None:
                yield self._session
            else:
                async with self._sessions() as session:
                    yield session

    async def fetch(self, fetch: Fetch, keys: Iterable[Any], default: Any = None) -> dict[Any, Any]:
        """{key: row} for `keys` (`default` for a missing one): read once per operation."""
        known = self._known.setdefault(fetch, {})
        missing = [key for key in dict.fromkeys(keys) if key not in known]
        if missing:
            async with self.session() as session:
                missing = [key for key in missing if key not in known]
                if missing:
                    found = await fetch(session, missing)
                    for key in missing:
                        known[key] = found.get(key, default)
        return known

    async def visible(
        self, fetch: VisibleFetch, keys: Iterable[Any], default: Any = None
    ) -> dict[Any, Any]:
        """`fetch` with this operation's actor: what that actor may see."""
        actor = self.actor
        if actor is None:
            raise RuntimeError("reading what an actor may see needs an actor")
        known = self._known.setdefault(fetch, {})
        missing = [key for key in dict.fromkeys(keys) if key not in known]
        if missing:
            async with self.session() as session:
                missing = [key for key in missing if key not in known]
                if missing:
                    found = await fetch(session, actor, missing)
                    for key in missing:
                        known[key] = found.get(key, default)
        return known


def reader(info: Any) -> Reader:
    found: Reader = info.context.reader
    return found


BatchFunction = Callable[..., Awaitable[Sequence[Any]]]


def _one_at_a_time(batch: BatchFunction) -> Callable[..., Awaitable[Any]]:
    """The resolver the standard executor calls: the batch function for one parent."""
    signature = inspect.signature(batch)
    parents, *rest = signature.parameters.values()

    async def resolve(root: Any, *args: Any, **kwargs: Any) -> Any:
        return (await batch([root], *args, **kwargs))[0]

    root = inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    resolve.__signature__ = signature.replace(parameters=[root, *rest])  # type: ignore[attr-defined]
    resolve.__annotations__ = {
        name: hint for name, hint in batch.__annotations__.items() if name != parents.name
    }
    resolve.__module__ = batch.__module__
    resolve.__name__ = batch.__name__
    resolve.__qualname__ = batch.__qualname__
    return resolve


def batched(
    *,
    graphql_type: Any,
    description: str | None = None,
    name: str | None = None,
    deprecation_reason: str | None = None,
) -> Callable[[BatchFunction], Any]:
    """A field whose values for many parents come from one call of the decorated function,
    `async def f(parents, info, **arguments) -> list` (one value per parent, in order)."""

    def field(batch: BatchFunction) -> Any:
        return strawberry.field(
            resolver=_one_at_a_time(batch),
            graphql_type=graphql_type,
            description=description,
            name=name,
            deprecation_reason=deprecation_reason,
            metadata={BATCH: batch},
        )

    return field
