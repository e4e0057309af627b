"""Reads of orders and their lines, visibility applied in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.actor import Actor
from app.crm.errors import DomainError, ErrorCode
from app.crm.orders.models import STATUSES, Order, OrderLine
from app.crm.orders.rows import LINE_COLUMNS, ORDER_COLUMNS, LineRow, OrderRow
from app.crm.orders.services import order_visible
from app.crm.paging import (
    Page,
    SortKey,
    fetch_page,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_text,
    sort_keys,
)

_orders = Order.__table__
_lines = OrderLine.__table__
_columns = [_orders.c[name] for name in ORDER_COLUMNS]


class OrderSortField(StrEnum):
    ORDER_DATE = "ORDER_DATE"
    NUMBER = "NUMBER"
    GRAND_TOTAL = "GRAND_TOTAL"
    STATUS = "STATUS"
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"


_SORT_EXPRESSIONS = {
    OrderSortField.ORDER_DATE: (_orders.c.order_date, parse_date),
    OrderSortField.NUMBER: (_orders.c.number, parse_text),
    OrderSortField.GRAND_TOTAL: (_orders.c.grand_total, parse_decimal),
    OrderSortField.STATUS: (_orders.c.status, parse_text),
    OrderSortField.CREATED_AT: (_orders.c.created_at, parse_datetime),
    OrderSortField.UPDATED_AT: (_orders.c.updated_at, parse_datetime),
}


@dataclass(frozen=True, slots=True)
class OrderSort:
    field: OrderSortField
    descending: bool


DEFAULT_SORT = (OrderSort(OrderSortField.ORDER_DATE, True),)


@dataclass(frozen=True, slots=True)
class OrderFilter:
    statuses: Sequence[str] = ()
    company_id: int | None = None
    opportunity_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


def _where(actor: Actor, f: OrderFilter) -> list[Any]:
    for status in f.statuses:
        if status not in STATUSES:
            raise DomainError(ErrorCode.INVALID, f"unknown status {status}", ["filter", "status"])
    if f.date_from is not None and f.date_to is not None and f.date_to < f.date_from:
        raise DomainError(
            ErrorCode.INVALID, "dateTo must not be before dateFrom", ["filter", "dateTo"]
        )
    where: list[Any] = [order_visible(actor)]
    if f.statuses:
        where.append(_orders.c.status.in_(f.statuses))
    if f.company_id is not None:
        where.append(_orders.c.company_id == f.company_id)
    if f.opportunity_id is not None:
        where.append(_orders.c.opportunity_id == f.opportunity_id)
    if f.date_from is not None:
        where.append(_orders.c.order_date >= f.date_from)
    if f.date_to is not None:
        where.append(_orders.c.order_date <= f.date_to)
    return where


def _sort_keys(sorts: Sequence[OrderSort]) -> list[SortKey]:
    pairs = [(s.field, s.descending) for s in sorts or DEFAULT_SORT]
    return sort_keys(pairs, _SORT_EXPRESSIONS, _orders.c.id)


async def page(
    session: AsyncSession,
    actor: Actor,
    f: OrderFilter,
    sorts: Sequence[OrderSort],
    first: int | None,
    after: str | None,
) -> Page[OrderRow]:
    keys = _sort_keys(sorts)
    tag = "orders:" + ",".join(
        f"{s.field.value} {'DESC' if s.descending else 'ASC'}" for s in sorts or DEFAULT_SORT
    )
    rows = await fetch_page(session, _columns, _where(actor, f), keys, first, after, tag=tag)
    return Page(
        [OrderRow.from_source(r) for r in rows.items],
        rows.cursors,
        has_next_page=rows.has_next_page,
        has_previous_page=rows.has_previous_page,
    )


async def count(session: AsyncSession, actor: Actor, f: OrderFilter) -> int:
    query = select(func.count()).select_from(_orders).where(*_where(actor, f))
    return int((await session.execute(query)).scalar_one())


async def visible_by_id(
    session: AsyncSession, actor: Actor, ids: Sequence[int]
) -> dict[int, OrderRow]:
    query = select(*_columns).where(_orders.c.id.in_(ids), order_visible(actor))
    return {r.id: OrderRow.from_source(r) for r in (await session.execute(query)).all()}


async def by_opportunity(
    session: AsyncSession, opportunity_ids: Sequence[int]
) -> dict[int, list[OrderRow]]:
    """Orders of opportunities the caller has already checked to be visible, oldest first."""
    query = (
        select(*_columns)
        .where(_orders.c.opportunity_id.in_(opportunity_ids))
        .order_by(_orders.c.id)
    )
    result: dict[int, list[OrderRow]] = {i: [] for i in opportunity_ids}
    for row in (await session.execute(query)).all():
        result[row.opportunity_id].append(OrderRow.from_source(row))
    return result


async def lines_by_order(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[LineRow]]:
    """The lines of orders the caller has already checked to be visible, by position."""
    query = (
        select(*(_lines.c[name] for name in LINE_COLUMNS), _orders.c.currency)
        .join(_orders, _orders.c.id == _lines.c.order_id)
        .where(_lines.c.order_id.in_(order_ids))
        .order_by(_lines.c.order_id, _lines.c.position)
    )
    result: dict[int, list[LineRow]] = {i: [] for i in order_ids}
    for row in (await session.execute(query)).all():
        result[row.order_id].append(LineRow.from_source(row, row.currency))
    return result


async def line_order_ids(session: AsyncSession, line_ids: Sequence[int]) -> dict[int, int]:
    rows = (
        await session.execute(
            select(_lines.c.id, _lines.c.order_id).where(_lines.c.id.in_(line_ids))
        )
    ).all()
    return {r.id: r.order_id for r in rows}
