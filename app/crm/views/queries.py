"""Reads of saved views, as the asker may see them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.actor import Actor
from app.crm.errors import DomainError, ErrorCode
from app.crm.views.models import OpportunityView
from app.crm.views.services import ViewDefinition, definition, visible_views

_table = OpportunityView.__table__


async def listed(session: AsyncSession, actor: Actor) -> Sequence[Row[Any]]:
    """Built-in views first (in their fixed order), then the others by name."""
    query = select(_table).where(visible_views(actor)).order_by(_table.c.id)
    rows = (await session.execute(query)).all()
    builtins = [r for r in rows if r.builtin_key is not None]
    saved = sorted((r for r in rows if r.builtin_key is None), key=lambda r: (r.name.lower(), r.id))
    return [*builtins, *saved]


async def visible_by_id(
    session: AsyncSession, actor: Actor, ids: Sequence[int]
) -> dict[int, Row[Any]]:
    query = select(_table).where(_table.c.id.in_(ids), visible_views(actor))
    return {r.id: r for r in (await session.execute(query)).all()}


async def applied(session: AsyncSession, actor: Actor, view_id: int) -> tuple[ViewDefinition, bool]:
    """The definition of a view the actor may see, and whether it is built in (those never
    change, and everyone may use them); NOT_FOUND otherwise."""
    found = await visible_by_id(session, actor, [view_id])
    if view_id not in found:
        raise DomainError(ErrorCode.NOT_FOUND, "view not found", ["viewId"])
    return definition(found[view_id]), found[view_id].builtin_key is not None
