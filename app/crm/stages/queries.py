from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.stages.models import Stage

_stages = Stage.__table__


async def list_stages(session: AsyncSession) -> Sequence[Row[Any]]:
    return (await session.execute(select(_stages).order_by(_stages.c.position, _stages.c.id))).all()


async def stages_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Row[Any]]:
    rows = (await session.execute(select(_stages).where(_stages.c.id.in_(ids)))).all()
    return {r.id: r for r in rows}
