"""Reads compiled once: the hot lookups by key, run without SQLAlchemy's per-execution work.

Under load a fifth of a page's CPU went to SQLAlchemy building, compiling (a cache lookup
with a cache key computed per execution) and materialising the same few statements: the
users, stages, companies of a page, a token's user. A `Statement` is built with SQLAlchemy
Core like any other query here, compiled once to SQL text for asyncpg, and run on the
session's asyncpg connection, which keeps it prepared: each run sends only its parameters.
Lists of keys are one array parameter (`= ANY($1)`), so the text never depends on how many.

Rows are asyncpg records that also answer attribute access (`row.name`), with the values
SQLAlchemy would give: the column types' result processors are applied where a type has one.

Only for autocommit read sessions (`create_read_session_factory`): a statement run on the
raw connection is not part of a transaction SQLAlchemy would begin.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Select, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from app.memo import Memo

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]


class Record(asyncpg.Record):  # type: ignore[misc]
    """A row: by position, by key, and by attribute as SQLAlchemy's rows are read here (a
    column must not be named like a record's methods: keys, values, items, get)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def keys(name: str) -> BindParameter[Any]:
    """A parameter holding a list of BIGINT keys, for `column == any_(keys("ids"))`."""
    return bindparam(name, type_=postgresql.ARRAY(BigInteger))


class Statement:
    def __init__(self, query: Select[Any]) -> None:
        compiled = query.compile(dialect=_DIALECT)
        self.sql = str(compiled)
        self._parameters: tuple[str, ...] = tuple(compiled.positiontup or ())
        # Values written into the query (`visibility == "PUBLIC"`) are parameters too.
        self._constants = {
            name: value for name, value in compiled.params.items() if value is not None
        }
        self._types = [column[3] for column in compiled._result_columns]
        self._processors: list[tuple[int, Callable[[Any], Any]]] | None = None
        self._converted: Any = None
        self._record_class: type[Record] = Record

    async def rows(self, session: AsyncSession, **values: Any) -> list[Any]:
        connection = await _driver_connection(session)
        if self._processors is None:
            # A type's processor may depend on the column's PostgreSQL type (numeric or
            # float): asked once, of the statement as prepared.
            prepared = await connection.prepare(self.sql)
            self._record_class = _record_class([a.name for a in prepared.get_attributes()])
            self._processors = [
                (index, processor)
                for index, (type_, attribute) in enumerate(
                    zip(self._types, prepared.get_attributes(), strict=True)
                )
                if not _as_asyncpg_gives(type_)
                and (processor := type_._cached_result_processor(_DIALECT, attribute.type.oid))
            ]
        constants = self._constants
        arguments = [
            values[name] if name in values else constants[name] for name in self._parameters
        ]
        found: list[Any] = await connection.fetch(
            self.sql, *arguments, record_class=self._record_class
        )
        if not self._processors:
            return found
        return [self._processed(row, self._processors) for row in found]

    def _processed(self, row: Any, processors: list[tuple[int, Callable[[Any], Any]]]) -> Any:
        values = list(row)
        for index, processor in processors:
            values[index] = processor(values[index])
        if self._converted is None:
            converted: Any = namedtuple("Row", row.keys(), rename=True)  # type: ignore[misc]
            self._converted = converted
        return self._converted._make(values)


def _as_asyncpg_gives(type_: Any) -> bool:
    """Whether SQLAlchemy's processor for the type would only copy what asyncpg returns: an
    array of plain items, which asyncpg already makes a list (a timeline page's e-mails had
    every row rebuilt for their address lists)."""
    if not isinstance(type_, ARRAY) or type_.as_tuple or (type_.dimensions or 1) != 1:
        return False
    item = type_.item_type.dialect_impl(_DIALECT)
    return item.result_processor(_DIALECT, None) is None


def _record_class(names: list[str]) -> type[Record]:
    """A Record whose columns are properties: `row.name` found on the class, not through
    __getattr__ after a failed lookup (which cost two microseconds a read, a third of
    making a user's object)."""
    reserved = set(dir(Record))
    columns = {
        name: property(itemgetter(index))
        for index, name in enumerate(names)
        if name.isidentifier() and name not in reserved
    }
    return type("StatementRecord", (Record,), columns)


DRIVER_CONNECTION = "asyncpg"
"""The key of a session's `info` that holds the asyncpg connection its statements run on:
the session's own (found on first use), or one the caller put there (app/db.py ReadPool)."""


def part_class(names: Sequence[str]) -> type[tuple[Any, ...]]:
    """Rows for a slice of a joined statement's row (one table's columns): tuples that
    answer attribute access like a Statement's own rows, so that either may stand for the
    other (app/crm/opportunities/queries.py reads owners and stages with their deals). One
    class per list of names."""
    key = tuple(names)
    found = _PART_CLASSES.get(key)
    if found is None:
        columns: dict[str, Any] = {
            name: property(itemgetter(index)) for index, name in enumerate(names)
        }
        columns["__slots__"] = ()
        found = _PART_CLASSES.keep(key, type("PartRow", (tuple,), columns))
    return found


_PART_CLASSES: Memo[tuple[str, ...], type[tuple[Any, ...]]] = Memo(1024)


async def _driver_connection(session: AsyncSession) -> Any:
    # Kept on the session: one lookup per session, not per statement.
    found = session.info.get(DRIVER_CONNECTION)
    if found is None:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        found = raw.driver_connection
        session.info[DRIVER_CONNECTION] = found
    return found


def by_key(rows: Sequence[Any], key: str = "id") -> dict[Any, Any]:
    """{row.<key>: row}"""
    return {getattr(row, key): row for row in rows}
