"""Queries stopped when they outlive TANDEM_OPERATION_TIMEOUT_SECONDS.

One look over the running queries every tenth of the limit (at most every second), where a
timer of the loop's own for each query, set and cancelled, cost a twentieth of reading one
opportunity: a query is stopped between its limit and a tenth of it later.
"""

from __future__ import annotations

import asyncio


class Deadlines:
    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.interval = min(1.0, max(limit / 10, 0.0005))
        """How often `check` should run."""
        self._running: dict[asyncio.Task[object], float] = {}
        self._stopped: set[asyncio.Task[object]] = set()

    def watch(self, task: asyncio.Task[object]) -> None:
        self._running[task] = asyncio.get_running_loop().time() + self.limit

    def done(self, task: asyncio.Task[object]) -> None:
        self._running.pop(task, None)
        self._stopped.discard(task)  # stopped as it finished: its cancellation spent

    def stopped(self, task: asyncio.Task[object]) -> bool:
        """Whether the task's cancellation was this watch's (said once)."""
        if task in self._stopped:
            self._stopped.discard(task)
            return True
        return False

    async def check(self) -> None:
        """Cancel what outlived its time (a Periodic chore of the server)."""
        if not self._running:
            return
        now = asyncio.get_running_loop().time()
        for task, deadline in list(self._running.items()):
            if deadline <= now:
                del self._running[task]
                self._stopped.add(task)
                task.cancel()
