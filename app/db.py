"""Engine, session factories, the read pool and the declarative base shared by every model."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import asyncpg
import orjson
from sqlalchemy import MetaData, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names let Alembic migrations refer to constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Fetch server-generated values (updated_at's onupdate) with RETURNING at flush: an
    # expired attribute cannot be lazily reloaded once the unit of work has closed its session.
    __mapper_args__ = {"eager_defaults": True}


# Statements are short; a runaway one must not hold a connection forever. JIT compiling pays
# off for long analytic queries; for ours (a page, a group-by) the planner's cost guesses
# trigger it and it costs 10-15 ms to save nothing.
_SERVER_SETTINGS = {"statement_timeout": "30000", "jit": "off"}


CONNECT_TIMEOUT_SECONDS = 10.0
"""How long opening a connection may take (asyncpg's own default is a minute): a database
host that does not answer at all fails requests (DATABASE_UNAVAILABLE) instead of holding
them."""


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # A dead pooled connection fails its next statement and is replaced; pinging before
        # every checkout would cost a round trip on each of a request's many short reads.
        pool_pre_ping=False,
        connect_args={"server_settings": _SERVER_SETTINGS, "timeout": CONNECT_TIMEOUT_SECONDS},
        # A failed statement's error (logged with its traceback) must not quote what it was
        # given: a document's bytes, a password's hash, a customer's data.
        hide_parameters=True,
    )
    event.listen(engine.sync_engine.pool, "checkout", _closed_is_replaced)
    return engine


def _closed_is_replaced(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection the server ended (a restart, an idle timeout) is known closed
    without a round trip: the pool replaces it (DisconnectionError makes it try another)
    instead of handing it to a request that would fail on it."""
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # what only the standard library reads (a 65-bit integer)
        return json.loads(raw)


class _ReadConnection(asyncpg.Connection):  # type: ignore[misc]
    session: Any = None
    """An AsyncSession whose compiled statements run on this connection, kept by its user
    for the next operation (making one costs more than most reads)."""

    def get_reset_query(self) -> str:
        # Connections of the read pool only ever run single autocommit SELECTs: nothing to
        # reset, and the reset would cost a round trip per operation.
        return ""


class ReadPool:
    """asyncpg connections for the reads of GraphQL operations (app/crm/statements.py runs
    its compiled statements on them), in autocommit, handed out and back in microseconds.

    An operation used to check out a connection through an SQLAlchemy session: ~200 µs of
    CPU, a sixth of reading one opportunity. asyncpg's own pool costs ~30 µs, as it resets a
    connection on release. Here a released connection goes to the next waiter or the idle
    stack; one that may be mid-statement (its holder was cancelled) or that the server
    closed is dropped.

    Its statements are planned once, for any values (`plan_cache_mode=force_generic_plan`).
    Only compiled statements run here (lookups by key, the unfiltered pipeline pages, the
    timeline), and for each of them the plan PostgreSQL makes for given values is the one it
    makes for any (compared with EXPLAIN for every sort order); yet in its default mode it
    kept planning one opportunity's lookup anew on every run (an array parameter looks
    costlier unplanned), which took more of PostgreSQL's time than running it (348 against
    159 µs a lookup). Statements that need plans for their values (a walk over a search's
    matches, db.custom_plans) run through SQLAlchemy's connections.
    """

    def __init__(self, engine: AsyncEngine, size: int = 20) -> None:
        sync = engine.sync_engine
        args, kwargs = sync.dialect.create_connect_args(sync.url)
        kwargs.pop("async_creator_fn", None)
        kwargs.pop("prepared_statement_name_func", None)
        kwargs["statement_cache_size"] = kwargs.pop("prepared_statement_cache_size", 100)
        self._connect_args: tuple[tuple[Any, ...], dict[str, Any]] = (tuple(args), dict(kwargs))
        self._size = size
        self._open = 0
        self._idle: list[Any] = []
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._closed = False

    async def acquire(self) -> Any:
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():
                return connection
            self._open -= 1
        if self._closed:
            raise RuntimeError("the read pool is closed")
        if self._open < self._size:
            self._open += 1
            try:
                return await self._connect()
            except BaseException:
                self._open -= 1
                self._wake()
                raise
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # handed over as this one gave up
            raise

    def release(self, connection: Any, *, clean: bool = True) -> None:
        """`clean`: the holder's statements all finished (else the connection is closed)."""
        if not clean or connection.is_closed() or connection.is_in_transaction():
            connection.terminate()
            self._open -= 1
            self._wake()
            return
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if self._closed:
            connection.terminate()
            self._open -= 1
            return
        self._idle.append(connection)

    def _wake(self) -> None:
        """A slot freed: the first waiter connects anew."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                self._open += 1
                task = asyncio.ensure_future(self._connect())
                task.add_done_callback(partial(self._handed, waiter=waiter))
                return

    def _handed(self, connecting: asyncio.Future[Any], *, waiter: asyncio.Future[Any]) -> None:
        if connecting.cancelled() or connecting.exception() is not None:
            self._open -= 1
            if not waiter.done():
                error = connecting.exception() if not connecting.cancelled() else None
                waiter.set_exception(error or asyncio.CancelledError())
            return
        if waiter.done():
            self.release(connecting.result())
        else:
            waiter.set_result(connecting.result())

    async def _connect(self) -> Any:
        args, kwargs = self._connect_args
        connection = await asyncpg.connect(
            *args,
            **kwargs,
            server_settings={**_SERVER_SETTINGS, "plan_cache_mode": "force_generic_plan"},
            connection_class=_ReadConnection,
            timeout=CONNECT_TIMEOUT_SECONDS,
        )
        # JSON decoded to what SQLAlchemy's asyncpg dialect gives, so that a compiled
        # statement's rows are alike on either connection (a timeline page holds dozens of
        # events' JSON: orjson reads it several times faster).
        await connection.set_type_codec(
            "json", encoder=str.encode, decoder=_json, schema="pg_catalog", format="binary"
        )
        await connection.set_type_codec(
            "jsonb",
            encoder=lambda text: b"\x01" + text.encode(),
            decoder=lambda raw: _json(raw[1:]),
            schema="pg_catalog",
            format="binary",
        )
        return connection

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._open -= 1
            await connection.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def create_read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads only: in autocommit each SELECT is one round trip, without the
    BEGIN and ROLLBACK around it (a page of results makes a dozen such reads)."""
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return async_sessionmaker(autocommit, expire_on_commit=False, autoflush=False)


_CUSTOM_PLANS = text("SET plan_cache_mode = force_custom_plan")
_DEFAULT_PLANS = text("RESET plan_cache_mode")


@asynccontextmanager
async def custom_plans(session: AsyncSession) -> AsyncIterator[None]:
    """Inside, a read session's statements are planned for their values on every execution.

    After five executions a prepared statement may get one plan for any values, when that
    looks no costlier. PostgreSQL hashes an `= ANY(array)` test only for a constant array,
    so in such a generic plan a test of 32,000 index entries against 8,000 ids compares each
    with each: 870 ms where the custom plan takes 6. For autocommit sessions only (in a
    transaction, a failed statement would make the reset fail too)."""
    await session.execute(_CUSTOM_PLANS)
    try:
        yield
    finally:
        await session.execute(_DEFAULT_PLANS)


_UNAVAILABLE_STATES = ("57P01", "57P02", "57P03", "53300")
"""The server shutting down, crashed, starting up; too many connections (`08…`: the
connection itself failed)."""


_UNREACHABLE_ERRNOS = frozenset(
    {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.ETIMEDOUT}
)


def database_unavailable(error: BaseException | None) -> bool:
    """Whether `error` (or what it wraps: SQLAlchemy's and the driver's errors wrap the
    driver's) says the database cannot be reached now: not a bug, but a moment to wait."""
    seen = 0
    while error is not None and seen < 6:
        if isinstance(error, ConnectionError | TimeoutError | socket.gaierror | PoolTimeout):
            return True  # refused, reset, no answer, no such host, no connection free in time
        if isinstance(error, OSError) and error.errno in _UNREACHABLE_ERRNOS:
            return True
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True  # SQLAlchemy saw the connection end under a statement
        if isinstance(error, PendingRollbackError) and "invalid transaction" in str(error):
            return True  # a later statement of a session whose connection so ended
        if isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error):
            return True  # one the server ended, found closed when next used
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and (
            state.startswith("08")
            or state in _UNAVAILABLE_STATES
            or (state == "55000" and "not currently accepting connections" in str(error))
        ):
            return True
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__
        seen += 1
    return False
