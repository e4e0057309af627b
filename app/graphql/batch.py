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
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.actor import Actor
from app.crm.paging import PartialRows
from app.crm.statements import DRIVER_CONNECTION
from app.db import ReadPool
from app.graphql.types.rows import RowBacked
from app.memo import Memo

BATCH = "tandem.batch"
"""The metadata key of a batched field's batch function."""

K = TypeVar("K")
V = TypeVar("V")

Fetch = Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]]
VisibleFetch = Callable[[AsyncSession, Actor, Sequence[Any]], Awaitable[dict[Any, Any]]]


@asynccontextmanager
async def pooled_session(
    pool: ReadPool, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[AsyncSession]:
    """A read session (of `sessions`) whose compiled statements run on a connection of the
    read pool, handed out in microseconds; SQLAlchemy connects it only for the other reads,
    if any."""
    connection = await pool.acquire()
    session = connection.session
    if session is None:
        session = connection.session = sessions()
        session.info[DRIVER_CONNECTION] = connection
    clean = True
    try:
        yield session
    except BaseException as error:
        # Cancelled, it may be in the middle of a statement: not to be used again. After
        # any other error (a client's bad cursor, a statement PostgreSQL refused) it is
        # as good as before; a broken one the pool notices by itself.
        clean = isinstance(error, Exception)
        raise
    finally:
        if session.in_transaction():  # it read through SQLAlchemy's own connection too
            await session.close()
        pool.release(connection, clean=clean)


def read_session(
    sessions: async_sessionmaker[AsyncSession], pool: ReadPool | None
) -> AbstractAsyncContextManager[AsyncSession]:
    """A read session of `sessions`: on a connection of the read pool when there is one."""
    return sessions() if pool is None else pooled_session(pool, sessions)


class Reader:
    """The reads of one operation, through one session at a time, each row kept by key.

    Batch functions of one level run one after another in the plan executor (measured: a
    millisecond faster than side by side, each in a session of its own); under the standard
    executor they may run side by side, and then take turns on the lock.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        actor: Actor | None,
        *,
        pool: ReadPool | None = None,
        remember: bool = True,
        shared: dict[object, dict[Any, Any]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self.actor = actor
        self._remember = remember
        """False for a subscription under the standard executor: its context lives as long as
        the subscription, and each event must show the rows as they are now."""
        self.asked_actor = False
        """Whether a field read what the actor may see: then a live event's result depends
        on who receives it."""
        self._known: dict[object, dict[Any, Any]] = {}
        self._plain = self._known if shared is None else shared
        """Rows that are the same whoever reads them (not through `visible`): `shared` with
        other readers of the same moment, e.g. the results of one live event."""
        self._lock = asyncio.Lock()
        self._objects: dict[tuple[int, Any], dict[Any, Any]] = {}
        self._partial: dict[object, list[tuple[frozenset[str], dict[Any, Any]]]] = {}
        """Rows read along with others with some of their columns (PartialRows), by the
        function that reads whole ones."""
        self._session: AsyncSession | None = None

    @asynccontextmanager
    async def holding(self) -> AsyncIterator[None]:
        """Keep one session for every read inside (a whole plan's execution)."""
        async with self._fresh() as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """The session to read with: the one held, or one of its own for this read (the
        standard executor's resolvers, which may run side by side, take turns)."""
        async with self._lock:
            if self._session is not None:
                yield self._session
            else:
                async with self._fresh() as session:
                    yield session

    def _fresh(self) -> AbstractAsyncContextManager[AsyncSession]:
        return read_session(self._sessions, self._pool)

    def remember(self, related: Mapping[Any, Mapping[Any, Any]]) -> None:
        """Rows read along with others ({fetch function: {key: row}}, e.g. a page's owners):
        a later `fetch` of those keys finds them. A row read before stays."""
        if not self._remember:
            return
        for fetch, rows in related.items():
            if isinstance(fetch, PartialRows):
                kept = rows if isinstance(rows, dict) else dict(rows)
                self._partial.setdefault(fetch.fetch, []).append((fetch.columns, kept))
                continue
            known = self._plain.setdefault(fetch, {})
            for key, row in rows.items():
                known.setdefault(key, row)

    def kept(self, kind: Any, key: Any) -> Any:
        """What was read along with something else and remembered under `kind` and `key`
        (e.g. a deal's timeline page, read with the deal), or None."""
        return self._plain.get(kind, {}).get(key)

    async def fetch(
        self,
        fetch: Fetch,
        keys: Iterable[Any],
        default: Any = None,
        columns: frozenset[str] | None = None,
    ) -> dict[Any, Any]:
        """{key: row} for `keys` (`default` for a missing one): read once per operation.
        With the `columns` the caller reads of them: rows read along with others with
        those columns at least (PartialRows) do."""
        if columns is not None and fetch in self._partial:
            wanted = keys if isinstance(keys, list | tuple) else list(keys)
            for have, rows in self._partial[fetch]:
                if columns <= have and all(key in rows for key in wanted):
                    return rows
            keys = wanted
        return await self._read(fetch, keys, default, None)

    async def visible(
        self, fetch: VisibleFetch, keys: Iterable[Any], default: Any = None
    ) -> dict[Any, Any]:
        """`fetch` with this operation's actor: what that actor may see."""
        actor = self.actor
        self.asked_actor = True
        if actor is None:
            raise RuntimeError("reading what an actor may see needs an actor")
        return await self._read(fetch, keys, default, actor)

    def objects(
        self, rows: dict[Any, Any], present: Callable[[Any], V]
    ) -> Callable[[Any], V | None]:
        """key -> `present(rows[key])` (None for a missing row), each made once per operation:
        the 50 deals of a page share a handful of owners and stages."""
        # `rows` is this reader's own memo of one fetch, alive as long as the reader, so its
        # id names it (without a memo, nothing is kept either).
        made: dict[Any, Any] = (
            self._objects.setdefault((id(rows), present), {}) if self._remember else {}
        )
        # Objects that are their row (row-backed types) cost less to make than to look up.
        make = present if _row_backed(present) else partial(presented, present)

        def object_of(key: Any) -> V | None:
            try:
                found: V | None = made[key]
            except KeyError:
                row = rows[key]
                made[key] = found = None if row is None else make(row)
            return found

        return object_of

    async def one(self, fetch: Fetch, key: Any, default: Any = None) -> Any:
        return (await self.fetch(fetch, (key,), default))[key]

    async def one_visible(self, fetch: VisibleFetch, key: Any, default: Any = None) -> Any:
        return (await self.visible(fetch, (key,), default))[key]

    async def _read(
        self, fetch: Any, keys: Iterable[Any], default: Any, actor: Actor | None
    ) -> dict[Any, Any]:
        memo = self._known if actor is not None else self._plain
        known = memo.setdefault(fetch, {}) if self._remember else {}
        missing = [key for key in dict.fromkeys(keys) if key not in known]
        if missing:
            async with self.session() as session:
                missing = [key for key in missing if key not in known]
                if missing:
                    if actor is None:
                        found = await fetch(session, missing)
                    else:
                        found = await fetch(session, actor, missing)
                    related = getattr(found, "related", None)
                    if related:
                        self.remember(related)
                    for key in missing:
                        known[key] = found.get(key, default)
        return known


_PRESENTED: Memo[tuple[Any, Any], Any] = Memo(4096)


def presented(present: Callable[[Any], V], row: Any) -> V:
    """`present(row)`, made once for equal rows across operations: every page shows the same
    owners, stages and companies, and their objects depend on nothing but their row (a row
    that changed is another key)."""
    try:
        # Its values as a tuple: comparing two equal records is ten times slower.
        key = (present, tuple(row))
        found: V = _PRESENTED[key]
        return found
    except KeyError:
        pass
    except TypeError:  # a row that is not a tuple of hashable values: made each time
        return present(row)
    made: V = _PRESENTED.keep(key, present(row))
    return made


def _row_backed(present: Callable[[Any], Any]) -> bool:
    owner = getattr(present, "__self__", None)
    return isinstance(owner, type) and issubclass(owner, RowBacked)


def reader(info: Any) -> Reader:
    found: Reader = info.context.reader
    return found


async def related(
    info: Any,
    fetch: Fetch,
    keys: Sequence[Any],
    present: Callable[[Any], V],
    default: Any = None,
) -> list[V | None]:
    """`present(row)` for each key's row: None where the key is None or the row missing."""
    known = reader(info)
    found = await known.fetch(fetch, (k for k in keys if k is not None), default)
    objects = known.objects(found, present)
    return [None if key is None else objects(key) for key in keys]


@dataclass(frozen=True, slots=True)
class Related:
    """A field whose value is the row of another table that the parent refers to (a deal's
    owner: its row's `owner_id`), presented as an object: declared once (a class's
    `RELATED`), for the field's batched resolver (`of`) and for the compiled tier, which
    follows it for a whole level without calling that resolver
    (app/graphql/executor/compiled.py)."""

    key: str | Callable[[Any], Any]
    """The column of the parent's row that holds the reference, or how to find it."""
    fetch: Fetch
    present: Callable[[Any], Any]
    row_backed: bool = field(init=False, compare=False)
    """Whether it presents rows as objects of a row-backed type (asked on every follow)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "row_backed", _row_backed(self.present))

    def keys(self, parents: Sequence[Any]) -> list[Any]:
        key = self.key
        if isinstance(key, str):
            return [getattr(p.row, key) for p in parents]
        return [key(p) for p in parents]

    async def of(self, info: Any, parents: Sequence[Any]) -> list[Any]:
        """The object of each parent's reference (None where it is null or missing)."""
        return await related(info, self.fetch, self.keys(parents), self.present)


def related_field(cls: type, name: str) -> Related | None:
    """The declaration of the field `name` of `cls`, if it is a Related."""
    found: Related | None = getattr(cls, "RELATED", {}).get(name)
    return found


async def related_required(
    info: Any, fetch: Fetch, keys: Sequence[Any], present: Callable[[Any], V]
) -> list[V]:
    """`related` for a field that cannot be null: a missing row (a broken reference) still
    comes back as None, which the executor reports as that field's error."""
    found: list[Any] = await related(info, fetch, keys, present)
    return found


async def related_visible(
    info: Any,
    fetch: VisibleFetch,
    keys: Sequence[Any],
    present: Callable[[Any], V],
) -> list[V | None]:
    """`related` over what the operation's actor may see."""
    known = reader(info)
    found = await known.visible(fetch, (k for k in keys if k is not None))
    objects = known.objects(found, present)
    return [None if key is None else objects(key) for key in keys]


async def related_lists(
    info: Any, fetch: Fetch, key_lists: Sequence[Iterable[Any]], present: Callable[[Any], V]
) -> list[list[V]]:
    """For each list of keys, `present` of each row found (missing rows left out)."""
    lists = [list(keys) for keys in key_lists]
    known = reader(info)
    found = await known.fetch(fetch, (k for keys in lists for k in keys))
    objects = known.objects(found, present)
    return [[o for k in keys if (o := objects(k)) is not None] for keys in lists]


BatchFunction = Callable[..., Awaitable[Sequence[Any]]]


def _one_at_a_time(batch: BatchFunction) -> Callable[..., Awaitable[Any]]:
    """The resolver the standard executor calls: the batch function for one parent."""
    signature = inspect.signature(batch)
    parents, *rest = signature.parameters.values()

    async def resolve(root: Any, *args: Any, **kwargs: Any) -> Any:
        return (await batch([root], *args, **kwargs))[0]

    root = inspect.Parameter("root", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    annotations = {
        name: hint for name, hint in batch.__annotations__.items() if name != parents.name
    }
    returns = inspect.Signature.empty
    if "return" in annotations:
        annotations["return"] = returns = _item_of(annotations["return"])
    resolve.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[root, *rest], return_annotation=returns
    )
    resolve.__annotations__ = annotations
    resolve.__module__ = batch.__module__
    resolve.__name__ = batch.__name__
    resolve.__qualname__ = batch.__qualname__
    return resolve


def _item_of(annotation: Any) -> Any:
    """The field's type from the batch function's return annotation, `list[T]`: `T`."""
    if isinstance(annotation, str):
        text = annotation.strip()
        if text.startswith("list[") and text.endswith("]"):
            return text[len("list[") : -1]
    elif typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0]
    raise TypeError(f"a batch function returns list[...], one value per parent: {annotation!r}")


def batched(
    *,
    graphql_type: Any = None,
    description: str | None = None,
    name: str | None = None,
    deprecation_reason: str | None = None,
) -> Callable[[BatchFunction], Any]:
    """A field whose values for many parents come from one call of the decorated function,
    `async def f(parents, info, **arguments) -> list[T]` (one value per parent, in order); the
    field's type is `T`, unless `graphql_type` says otherwise."""

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
