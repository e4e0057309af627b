"""Keyset pagination: stable under concurrent inserts and sorts, no OFFSET scans.

A cursor holds the sort-key values of the last row seen (the id last, as the tie-breaker);
the next page starts strictly after that position in the same order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar, overload

import orjson
from sqlalchemy import ColumnElement, Integer, Row, Select, and_, bindparam, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.errors import DomainError, ErrorCode
from app.crm.jsonable import jsonable
from app.crm.statements import Statement

T = TypeVar("T")

_max_page_size = 100


def configure_page_size(largest: int) -> None:
    """The largest `first` this process's pages take from now on."""
    global _max_page_size
    _max_page_size = largest


DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class SortKey:
    expression: Any  # a column or SQL expression
    descending: bool
    # Turns a cursor's JSON value back into the column's Python type.
    parse: Callable[[Any], Any]
    # For a column that may be NULL: where the NULLs go (None: never NULL).
    nulls_first: bool | None = None


def _parse_or_null(key: SortKey, value: Any) -> Any:
    return None if value is None and key.nulls_first is not None else key.parse(value)


def parse_identity(value: Any) -> Any:
    return value


def parse_int(value: Any) -> int:
    # A cursor is client input: a value of the wrong type must be refused here, not by the
    # database (a string compared with an integer column is a driver error, i.e. a 500).
    if not isinstance(value, int) or isinstance(value, bool) or not -(2**63) <= value < 2**63:
        raise ValueError
    return value


def parse_text(value: Any) -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError
    return value


def parse_float(value: Any) -> float:
    if not isinstance(value, float | int) or isinstance(value, bool):
        raise ValueError
    return float(value)


def parse_decimal(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError
    number = Decimal(value)
    # NaN, infinities and absurd exponents would reach the driver (a 500), not compare.
    if not number.is_finite() or not -1000 < number.adjusted() < 1000:
        raise ValueError
    return number


def parse_date(value: Any) -> date:
    return date.fromisoformat(value)


def parse_datetime(value: Any) -> datetime:
    # Every time a cursor holds was written in UTC; in UTC it must be representable (a year-1
    # time east of Greenwich is not: OverflowError here, a 500 in the driver otherwise).
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError
    return parsed.astimezone(UTC)


def encode_cursor(tag: str, values: Sequence[Any]) -> str:
    raw = orjson.dumps([tag, *(jsonable(v) for v in values)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_INVALID_CURSOR = "the cursor is not valid for this list and order"


def _cursor_values(cursor: str) -> list[Any]:
    """[tag, value, ...] as encode_cursor wrote them; ValueError for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, orjson.JSONDecodeError):
        raise ValueError from None
    if not isinstance(values, list) or not values or not isinstance(values[0], str):
        raise ValueError
    return values


def decode_cursor(cursor: str, keys: Sequence[SortKey], tag: str) -> list[Any]:
    """The sort-key values in `cursor`. A cursor names the list and order it was made for
    (`tag`): one from another order is refused rather than comparing, say, an amount with a
    name."""
    try:
        values = _cursor_values(cursor)
        if len(values) != len(keys) + 1 or values[0] != tag:
            raise ValueError
        return [_parse_or_null(key, v) for key, v in zip(keys, values[1:], strict=True)]
    except (ValueError, TypeError, ArithmeticError):
        raise DomainError(ErrorCode.INVALID, _INVALID_CURSOR, ["after"]) from None


def cursor_tag(cursor: str) -> str:
    """The tag a cursor was made with, before its values are read (see decode_cursor)."""
    try:
        tag: str = _cursor_values(cursor)[0]
    except ValueError:
        raise DomainError(ErrorCode.INVALID, _INVALID_CURSOR, ["after"]) from None
    return tag


def after_position(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `keys` (any mix of directions, NULLs
    first or last), written so that no comparison ever meets a NULL (which is unknown)."""
    alternatives = []
    for i, key in enumerate(keys):
        equal_prefix = [_equal(keys[j], values[j]) for j in range(i)]
        alternatives.append(and_(*equal_prefix, _beyond(key, values[i])))
    return or_(*alternatives)


def _equal(key: SortKey, value: Any) -> ColumnElement[bool]:
    if value is None:
        return key.expression.is_(None)  # type: ignore[no-any-return]
    return key.expression == value  # type: ignore[no-any-return]


def _beyond(key: SortKey, value: Any) -> ColumnElement[bool]:
    expression = key.expression
    if value is None:
        # Past a NULL come the values, when NULLs come first; nothing, when they come last.
        return expression.is_not(None) if key.nulls_first else false()
    beyond = expression < value if key.descending else expression > value
    if key.nulls_first is False:
        beyond = or_(beyond, expression.is_(None))
    return beyond  # type: ignore[no-any-return]


def sort_keys(
    sorts: Sequence[tuple[Any, bool]],
    expressions: Mapping[Any, tuple[Any, Callable[[Any], Any]]],
    id_column: Any,
) -> list[SortKey]:
    """Keys for (field, descending) pairs, each field once, with the id last to break ties
    (in the direction of the last key) so the order is total and cursors are exact."""
    if len({field for field, _ in sorts}) != len(sorts):
        raise DomainError(ErrorCode.INVALID, "each field may appear once in orderBy", ["orderBy"])
    keys = [
        SortKey(expressions[field][0], descending, expressions[field][1])
        for field, descending in sorts
    ]
    keys.append(SortKey(id_column, keys[-1].descending, parse_int))
    return keys


def page_query(
    columns: Sequence[Any],
    where: Sequence[Any],
    keys: Sequence[SortKey],
    size: int,
    after: str | None,
    *,
    tag: str,
) -> Select[Any]:
    """The statement behind fetch_page: one row more than the page, to tell if more follow."""
    position = decode_cursor(after, keys, tag) if after else None
    return _page_select(columns, where, keys, position, size + 1)


def parameter_page_query(
    columns: Sequence[Any], where: Sequence[Any], keys: Sequence[SortKey], *, after: bool
) -> Select[Any]:
    """page_query with the page size (`size`, one more than the page) and the cursor's
    values (`after0`, `after1`, ...) as parameters: one statement for every page of a list,
    compiled once (app/crm/statements.py), run by fetch_compiled_page. Only for keys that
    are never NULL: where NULLs may sort, the comparison depends on which values are NULL."""
    if any(key.nulls_first is not None for key in keys):
        raise ValueError("parameter_page_query: a sort key that may be NULL")
    position = (
        [bindparam(f"after{i}", type_=k.expression.type) for i, k in enumerate(keys)]
        if after
        else None
    )
    return _page_select(columns, where, keys, position, bindparam("size", type_=Integer))


def _page_select(
    columns: Sequence[Any],
    where: Sequence[Any],
    keys: Sequence[SortKey],
    position: Sequence[Any] | None,
    limit: Any,
) -> Select[Any]:
    query = select(*columns, *(k.expression.label(f"k{i}") for i, k in enumerate(keys)))
    query = query.where(*where)
    if position is not None:
        query = query.where(after_position(keys, position))
    return ordered(query, keys).limit(limit)


def check_page_size(first: int | None) -> int:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 0 <= size <= _max_page_size:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"first must be between 0 and {_max_page_size}", ["first"]
        )
    return size


def ordered(query: Select[Any], keys: Sequence[SortKey]) -> Select[Any]:
    return query.order_by(*(_order(k) for k in keys))


def _order(key: SortKey) -> Any:
    clause = key.expression.desc() if key.descending else key.expression.asc()
    if key.nulls_first is None:
        return clause
    return clause.nulls_first() if key.nulls_first else clause.nulls_last()


async def fetch_page(
    session: AsyncSession,
    columns: Sequence[Any],
    where: Sequence[Any],
    keys: Sequence[SortKey],
    first: int | None,
    after: str | None,
    *,
    tag: str,
) -> Page[Row[Any]]:
    """One page of `columns` matching `where`, in the order of `keys` (the last one unique)."""
    size = check_page_size(first)
    query = page_query(columns, where, keys, size, after, tag=tag)
    # Core, not the ORM session's execute: a page is plain rows, and the ORM's statement
    # handling was a twentieth of a page's CPU.
    connection = await session.connection()
    rows = (await connection.execute(query)).all()
    return as_page(rows, len(keys), size, tag, has_previous_page=after is not None)


async def fetch_compiled_page(
    session: AsyncSession,
    statement: Statement,
    keys: Sequence[SortKey],
    first: int | None,
    after: str | None,
    *,
    tag: str,
    **parameters: Any,
) -> Page[Any]:
    """fetch_page for a parameter_page_query compiled once; `parameters` are its others."""
    size = check_page_size(first)
    values = {**parameters, "size": size + 1}
    if after:
        for i, value in enumerate(decode_cursor(after, keys, tag)):
            values[f"after{i}"] = value
    rows = await statement.rows(session, **values)
    return as_page(rows, len(keys), size, tag, has_previous_page=after is not None)


def as_page(
    rows: Sequence[T], key_count: int, size: int, tag: str, *, has_previous_page: bool
) -> Page[T]:
    """The rows of a page_query (one more than `size` when more follow), with their cursors."""
    items = list(rows[:size])
    return Page(
        items,
        Cursors(items, key_count, tag),
        has_next_page=len(rows) > size,
        has_previous_page=has_previous_page,
    )


class Cursors(Sequence[str]):
    """The cursors of a page's rows, each encoded when asked: most clients ask only for
    `endCursor`, and encoding 50 of them was a twentieth of a page's time."""

    def __init__(self, rows: list[Any], key_count: int, tag: str) -> None:
        self._rows = rows
        self._names = [f"k{i}" for i in range(key_count)]
        self._tag = tag
        self._made: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self._rows)
        cursor = self._made.get(index)
        if cursor is None:
            row = self._rows[index]  # IndexError beyond the page, as a list's
            cursor = encode_cursor(self._tag, [getattr(row, name) for name in self._names])
            self._made[index] = cursor
        return cursor


@dataclass(frozen=True, slots=True)
class PartialRows:
    """A key of `Page.related` for rows read with only some of their columns (what the
    reader said it shows): only a reader that needs no other finds them."""

    fetch: Any
    columns: frozenset[str]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: Sequence[str]
    has_next_page: bool
    has_previous_page: bool
    related: Mapping[Any, dict[Any, Any]] = field(default_factory=dict)
    """Rows of other tables read with the items, by the function that reads them by key
    (`users_by_id`: {id: row}) or as PartialRows: whoever reads through a Reader need not
    read them again."""
