"""Engine, session factory and the declarative base shared by every model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, text
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


def create_engine(url: str, *, pool_size: int = 20) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # A dead pooled connection fails its next statement and is replaced; pinging before
        # every checkout would cost a round trip on each of a request's many short reads.
        pool_pre_ping=False,
        # Statements are short; a runaway one must not hold a pool slot forever.
        # JIT compiling pays off for long analytic queries; for ours (a page, a group-by) the
        # planner's cost guesses trigger it and it costs 10-15 ms to save nothing.
        connect_args={"server_settings": {"statement_timeout": "30000", "jit": "off"}},
    )


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
