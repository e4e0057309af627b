"""`tandem serve --workers N`: N server processes on one host, sharing one listening socket.

uvicorn's own supervisor runs them (`uvicorn.supervisors.Multiprocess`): the parent binds the
socket and spawns the workers; each accepts connections from it. The parent replaces a worker
that dies, and on SIGTERM (or SIGINT) tells every worker to stop, as one server process stops
on its own: it stops accepting, finishes the requests in flight and closes its WebSockets
with 1012 (service restart), so that clients reconnect and resume from their cursors. The
parent waits for them a bounded time (`STOP_SECONDS`), then kills what is left.

What is done once per server, the parent does before any worker starts: the embedded
PostgreSQL (the workers connect to it; the parent stops it after the last worker ended), the
migrations, the first admin, and the look at the other servers on the database
(app/events/neighbours.py). A worker only builds the app, from the environment the parent
leaves it (`serve`), so that it needs nothing passed but what `tandem serve` reads anyway.

Workers are separate processes: each hears the others' changes through the broker. `memory://`
reaches one process only, so with it the workers use their database's LISTEN/NOTIFY (the
broker's postgres backend), and one host needs nothing but PostgreSQL. Because that broker is
a shared one, the workers of one `serve` pass the neighbours' check together, while a server
started on its own with `memory://` beside them is refused, as beside any other server.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from app.events.neighbours import in_memory
from app.metrics import multiprocess_directory, worker_ended
from app.settings import SettingsError, load_settings, to_libpq_url
from app.shutdown import GRACEFUL_SECONDS, SHUTDOWN_SECONDS

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("tandem")

WORKER_HEADER = "Tandem-Worker"
"""The header on every answer (and WebSocket handshake) naming the worker that served it, by
its process id: which worker holds a client, for whoever looks into a problem."""

STOP_SECONDS = GRACEFUL_SECONDS + SHUTDOWN_SECONDS + 5.0
"""How long the parent waits for its workers to stop before it kills those left: a little
longer than a worker's own bound (app/shutdown.py), past which it ends itself."""

PARENT_LOOK_SECONDS = 1.0
"""How often a worker looks whether its parent is still there."""


def shared_broadcast_url(broadcast_url: str, database_url: str, workers: int) -> str:
    """The broker the workers share: the configured one, or for `memory://` the database's
    LISTEN/NOTIFY (said once in the log: it is a choice made for the operator)."""
    if not in_memory(broadcast_url):
        return broadcast_url
    log.info(
        "%d workers share live events through PostgreSQL LISTEN/NOTIFY on their database "
        "(TANDEM_BROADCAST_URL is memory://, which reaches one process only)",
        workers,
    )
    return to_libpq_url(database_url)


class WorkerConfig(Config):
    """uvicorn's configuration, which each worker loads itself: with its process id on every
    answer (`WORKER_HEADER`)."""

    def load(self) -> None:
        self.headers = [*self.headers, (WORKER_HEADER, str(os.getpid()))]
        super().load()


class Supervisor(Multiprocess):
    """uvicorn's supervisor, saying when a worker died and waiting a bounded time for the
    workers to stop."""

    def keep_subprocess_alive(self) -> None:
        before = list(self.processes)
        super().keep_subprocess_alive()
        for old, new in zip(before, self.processes, strict=True):
            if new is not old:
                worker_ended(old.pid)
                log.warning(
                    "worker %s ended (exit code %s); worker %s takes its place",
                    old.pid,
                    old.exitcode,
                    new.pid,
                )

    def join_all(self) -> None:
        deadline = time.monotonic() + STOP_SECONDS
        for worker in self.processes:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.exitcode is None:
                log.error("worker %s did not stop within %g s: killed", worker.pid, STOP_SECONDS)
                worker.kill()
                worker.process.join()

    @property
    def failed_to_start(self) -> bool:
        return any(worker.exitcode == STARTUP_FAILURE for worker in self.processes)


def run_workers(
    workers: int, database_url: str, broadcast_url: str, options: dict[str, Any]
) -> bool:
    """Serve with `workers` processes until told to stop; False when one could not start (it
    logged why; the others were stopped). `options`: uvicorn's, as for one process."""
    # Spawned workers start from this environment: the database this parent runs or was
    # given, and the broker they share. Each reads the rest of its settings as `serve` did.
    os.environ["TANDEM_DATABASE_URL"] = database_url
    os.environ["TANDEM_BROADCAST_URL"] = broadcast_url
    config = WorkerConfig(f"{__name__}:worker_app", factory=True, workers=workers, **options)
    supervisor = Supervisor(config, sockets=[config.bind_socket()])
    # Each worker's /metrics answers for them all, from the files they keep there.
    with multiprocess_directory():
        supervisor.run()
    return not supervisor.failed_to_start


def worker_app() -> Starlette:
    """One worker's app: uvicorn calls this in the worker (`factory=True`)."""
    from app.cli import configure_logging, tune_garbage_collector
    from app.web import create_app

    settings = load_settings()  # read and checked by the parent already
    configure_logging(settings)
    assert settings.database_url is not None, "the parent names the database"
    try:
        app = create_app(settings, settings.database_url, stop_within=True)
    except SettingsError as error:
        log.error("%s", error)
        sys.exit(STARTUP_FAILURE)  # the parent stops the others, and says so
    _stop_with_parent(os.getppid())
    tune_garbage_collector()
    return app


def _stop_with_parent(parent: int) -> None:
    """Stop this worker, gracefully, if its parent dies without stopping it (SIGKILL, OOM):
    nothing would replace it, stop the embedded database after it, nor free the port."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_LOOK_SECONDS)
        log.warning("the parent process %d is gone: this worker stops", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="tandem-parent-watch", daemon=True).start()
