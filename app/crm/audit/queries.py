"""Reads of the audit log, newest first. Only admins may read it: the API checks who asks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.audit.models import AuditEntry
from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities.filters import TimeRange, check_time_range, time_clauses
from app.crm.paging import Page, SortKey, fetch_page, parse_datetime, parse_int
from app.crm.validation import required_text

MAX_ACTIONS = 50

_table = AuditEntry.__table__
_KEYS = [SortKey(_table.c.at, True, parse_datetime), SortKey(_table.c.id, True, parse_int)]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Entries that meet every condition given."""

    actions: tuple[str, ...] = ()
    """Any of these."""
    actor_id: int | None = None
    via: str | None = None
    subject_type: str | None = None
    subject_id: int | None = None
    at: TimeRange | None = None


def _where(f: AuditFilter) -> list[ColumnElement[bool]]:
    if len(f.actions) > MAX_ACTIONS:
        raise DomainError(ErrorCode.OUT_OF_RANGE, f"at most {MAX_ACTIONS} actions", ["actions"])
    where: list[ColumnElement[bool]] = []
    if f.actions:
        actions = [required_text("actions", a, max_length=64) for a in f.actions]
        where.append(_table.c.action.in_(actions))
    if f.actor_id is not None:
        where.append(_table.c.actor_id == f.actor_id)
    if f.via is not None:
        where.append(_table.c.via == f.via)
    if f.subject_type is not None:
        subject_type = required_text("subjectType", f.subject_type, max_length=32)
        where.append(_table.c.subject_type == subject_type)
    if f.subject_id is not None:
        where.append(_table.c.subject_id == f.subject_id)
    if f.at is not None:
        check_time_range(f.at, ["at"])
        where += time_clauses(_table.c.at, f.at, datetime.now(UTC).date())
    return where


async def page(
    session: AsyncSession, f: AuditFilter, first: int | None, after: str | None
) -> Page[Row[Any]]:
    return await fetch_page(session, [_table], _where(f), _KEYS, first, after, tag="audit")


async def count(session: AsyncSession, f: AuditFilter) -> int:
    query = select(func.count()).select_from(_table).where(*_where(f))
    return int((await session.execute(query)).scalar_one())
