"""The other servers on this server's database, and whether their brokers reach each other.

Servers hand each other their live events through the broker TANDEM_BROADCAST_URL names.
`memory://` (the default) reaches only its own process: beside another server on the same
database, its subscribers would get the other's changes only from the outbox poll (up to a
second late, and the broker's `/health` line saying "connected" all the while), and the
other's subscribers would get its changes the same way. So a server that broadcasts in
memory must be alone on its database, and a server with a shared broker must not have such a
server beside it. (The workers of one `tandem serve --workers N` are servers with a shared
broker here: they use the database's LISTEN/NOTIFY in place of `memory://`, app/workers.py.)

The database tells: each server holds a session-level advisory lock for as long as it runs,
exclusive with `memory://`, shared with a shared broker, so the second of two servers that
cannot work together fails to take it and refuses to start, with the fix in the message. The
lock lives on a connection of its own, so a server that dies leaves nothing behind; one that
lost it (the database restarted) takes it again, and if another server took it meanwhile,
`/health` says so (`problem`).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import asyncpg

from app.settings import to_libpq_url

log = logging.getLogger(__name__)

LOCK_KEY = 7_403_518_226_019_450_113
"""The advisory lock's number: any, as long as nothing else on the database uses it."""

_LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What a lost or unreachable database raises."""

_FIX = (
    "Give every server on this database the same shared broker: "
    "TANDEM_BROADCAST_URL=redis://<host>:6379/0, or the database's own URL "
    "(postgres://...) for PostgreSQL's LISTEN/NOTIFY. On one host, `tandem serve --workers N` "
    "runs N processes that share events by themselves."
)


def in_memory(broadcast_url: str) -> bool:
    return urlsplit(broadcast_url).scheme == "memory"


def conflict(broadcast_url: str) -> str:
    """What is wrong, and how to fix it, when this server's lock could not be taken."""
    if in_memory(broadcast_url):
        return (
            "another Tandem server is running on this database, and this one's "
            "TANDEM_BROADCAST_URL is memory://, which reaches only its own process: each "
            "server's subscribers would get the other's changes late, from the outbox poll. " + _FIX
        )
    return (
        "a Tandem server with TANDEM_BROADCAST_URL=memory:// is running on this database: it "
        "does not hear this server's changes through the broker, nor this server its. "
        + _FIX
        + " Then restart that server."
    )


class Neighbours:
    """This server's place among the servers on its database."""

    def __init__(self, database_url: str, broadcast_url: str) -> None:
        self._database_url = to_libpq_url(database_url)
        self._broadcast_url = broadcast_url
        self._connection: asyncpg.Connection | None = None
        self.problem: str | None = None
        """Set while another server holds the place this one lost (see `keep`)."""

    async def claim(self) -> str | None:
        """Take this server's place: None when taken, else what stands in the way (the
        server must not start)."""
        connection = await asyncpg.connect(self._database_url)
        try:
            take = (
                "SELECT pg_try_advisory_lock($1)"
                if in_memory(self._broadcast_url)
                else "SELECT pg_try_advisory_lock_shared($1)"
            )
            taken = await connection.fetchval(take, LOCK_KEY)
        except BaseException:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return conflict(self._broadcast_url)
        self._connection = connection
        return None

    async def keep(self) -> None:
        """Hold the place: after the lock's connection is lost (a database restart), take it
        again; when another server took it meanwhile, say so in `problem` (and the log)."""
        connection = self._connection
        if connection is not None and not connection.is_closed():
            try:
                await connection.fetchval("SELECT 1")
                return
            except _LOST:
                pass
        await self._close()
        try:
            problem = await self.claim()
        except _LOST as error:  # the database still away: the next look tries again
            log.warning("cannot take this server's place on the database yet: %r", error)
            return
        if problem is not None and problem != self.problem:
            log.error("%s", problem)
        self.problem = problem

    async def release(self) -> None:
        await self._close()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()
