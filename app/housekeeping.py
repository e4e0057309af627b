"""Chores a running server does in the background: folding the pipeline's running totals.

Each server folds; an advisory lock lets one at a time do it, so several servers on one
database are fine. Totals are exact whether folded or not: folding only keeps the pending
changes, which every group-by reads, few.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.opportunities import totals

log = logging.getLogger(__name__)


class Housekeeping:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float) -> None:
        self._sessions = sessions
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="tandem-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                async with self._sessions() as session:
                    await totals.fold(session)
            except Exception:
                log.exception("folding the pipeline totals failed; retrying")
