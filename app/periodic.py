"""A chore a running server repeats in the background."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from app.db import database_unavailable
from app.outage import outage

log = logging.getLogger(__name__)


class Periodic:
    """Runs `work` every `interval` seconds until stopped. A failure is logged and the work
    is tried again at the next tick: a database restart must not end the chore for good."""

    def __init__(self, name: str, interval: float, work: Callable[[], Awaitable[object]]) -> None:
        self._name = name
        self._interval = interval
        self._work = work
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"tandem-{self._name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self._work()
            except Exception as error:
                if database_unavailable(error):
                    # Not a bug: said once per outage (app/outage.py), not at every tick.
                    outage.failed(error, self._name)
                else:
                    log.exception("%s failed; retrying in %s s", self._name, self._interval)
