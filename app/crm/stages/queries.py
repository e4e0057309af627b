from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, any_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.stages.models import Stage
from app.crm.statements import Statement, by_key, keys

_stages = Stage.__table__


async def list_stages(session: AsyncSession) -> Sequence[Row[Any]]:
    return (await session.execute(select(_stages).order_by(_stages.c.position, _stages.c.id))).all()


SHOWN_COLUMNS = ("id", "name", "position", "kind", "default_probability", "forecast_category")
"""What reads of stages for showing them select (every page of deals carries its stages)."""

_STAGES_BY_ID = Statement(
    select(*(_stages.c[name] for name in SHOWN_COLUMNS)).where(_stages.c.id == any_(keys("ids")))
)


async def stages_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    return by_key(await _STAGES_BY_ID.rows(session, ids=list(ids)))
