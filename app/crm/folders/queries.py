from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Row, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.crm.actor import Actor, live_and_visible
from app.crm.folders.models import Folder
from app.crm.opportunities.models import Opportunity

_folders = Folder.__table__


async def list_folders(
    session: AsyncSession, parent_id: int | None = None, *, roots_only: bool = False
) -> Sequence[Row[Any]]:
    query = select(_folders).order_by(_folders.c.path)
    if parent_id is not None:
        query = query.where(_folders.c.parent_id == parent_id)
    elif roots_only:
        query = query.where(_folders.c.parent_id.is_(None))
    return (await session.execute(query)).all()


async def folders_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Row[Any]]:
    rows = (await session.execute(select(_folders).where(_folders.c.id.in_(ids)))).all()
    return {r.id: r for r in rows}


async def children_by_parent(
    session: AsyncSession, parent_ids: Sequence[int]
) -> dict[int, list[Row[Any]]]:
    rows = (
        await session.execute(
            select(_folders)
            .where(_folders.c.parent_id.in_(parent_ids))
            .order_by(func.lower(_folders.c.name))
        )
    ).all()
    result: dict[int, list[Row[Any]]] = {p: [] for p in parent_ids}
    for row in rows:
        result[row.parent_id].append(row)
    return result


async def subtrees(session: AsyncSession, folder_ids: Collection[int]) -> dict[int, list[int]]:
    """Each folder's id with its descendants' ids; an unknown folder gets an empty list."""
    top = aliased(Folder)
    rows = await session.execute(
        select(top.id, Folder.id)
        .join(top, Folder.path.startswith(top.path))
        .where(top.id.in_(folder_ids))
        .order_by(Folder.id)
    )
    found: dict[int, list[int]] = {i: [] for i in folder_ids}
    for top_id, folder_id in rows:
        found[top_id].append(folder_id)
    return found


async def opportunity_counts(
    session: AsyncSession, actor: Actor, folder_ids: Sequence[int], *, include_subfolders: bool
) -> dict[int, int]:
    """Live opportunities per folder that `actor` may see (with the subtree when asked)."""
    top = aliased(Folder)
    inner = aliased(Folder)
    query: Select[int | None, int]
    if include_subfolders:
        query = (
            select(top.id, func.count(Opportunity.id))
            .select_from(top)
            .join(inner, inner.path.startswith(top.path))
            .join(Opportunity, and_(Opportunity.folder_id == inner.id, live_and_visible(actor)))
            .where(top.id.in_(folder_ids))
            .group_by(top.id)
        )
    else:
        query = (
            select(Opportunity.folder_id, func.count(Opportunity.id))
            .where(Opportunity.folder_id.in_(folder_ids), live_and_visible(actor))
            .group_by(Opportunity.folder_id)
        )
    counts = {folder_id: 0 for folder_id in folder_ids}
    for folder_id, count in (await session.execute(query)).all():
        if folder_id is not None:
            counts[folder_id] = count
    return counts
