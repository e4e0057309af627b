"""Shutdown within a bound, whatever the broker, the database or a client does.

On SIGTERM uvicorn stops accepting, closes every WebSocket with 1012 (service restart: the
clients reconnect elsewhere and resume with `since`) and waits for the requests in flight,
at most GRACEFUL_SECONDS (SERVER_OPTIONS); then the app stops its parts (app/web.py's
lifespan), each within STEP_SECONDS, all of them within SHUTDOWN_SECONDS. A part that does
not finish in its time is left behind with a log line; a process still not done then exits
anyway (`tandem serve` only: a test's server shares its process with the tests).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

GRACEFUL_SECONDS = 10
"""How long requests in flight may take to finish after SIGTERM."""
STEP_SECONDS = 3.0
SHUTDOWN_SECONDS = 5.0
"""How long the app's own shutdown may take, after the requests in flight."""
FORCED_EXIT_CODE = 70  # EX_SOFTWARE: not the 143 of a shutdown that finished

SERVER_OPTIONS: dict[str, Any] = {"timeout_graceful_shutdown": GRACEFUL_SECONDS}
"""What uvicorn is told about shutting down (`tandem serve`)."""


async def bounded(step: Coroutine[Any, Any, object], seconds: float = STEP_SECONDS) -> None:
    """Run one step of the shutdown for at most `seconds`. asyncio.wait, not wait_for: a
    step that swallows its cancellation must not hold the rest (wait_for waits for it)."""
    what = getattr(step, "__qualname__", repr(step))
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        log.warning("shutdown: %s did not finish within %s s; left behind", what, seconds)
        return
    if not task.cancelled() and task.exception() is not None:
        log.warning("shutdown: %s failed: %r", what, task.exception())


class ExitUnlessStopped:
    """Ends the process if the shutdown has not finished within `seconds` (`done()` then)."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._timer = threading.Timer(seconds, self._exit)
        self._timer.daemon = True
        self._timer.start()

    def done(self) -> None:
        self._timer.cancel()

    def _exit(self) -> None:
        log.error("shutdown did not finish within %s s; exiting now", self._seconds)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(FORCED_EXIT_CODE)
