"""What /health/live and /health/ready answer (a load balancer's and an orchestrator's probes).

live: the process answers; it touches nothing, so a database outage never gets a healthy
server restarted. ready: this server can serve now: its database answers within a moment,
its schema is the one the code expects (a server started before `tandem migrate` finished,
or a host left on an older release, must get no traffic), and, with a broker other than
memory://, its link to it is up (else its subscribers would miss other servers' events until
the outbox poll).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import cache

from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import database_unavailable
from app.migrate import alembic_config
from app.outage import outage

DATABASE_TIMEOUT_SECONDS = 2.0
"""How long the database may take to answer a probe before the server is not ready."""

_REVISION = text("SELECT version_num FROM alembic_version")


@cache
def code_heads() -> frozenset[str]:
    """The migration revisions this code expects the database to be at."""
    # Reading the scripts imports them, and one names a constraint with `op.f` as it is
    # imported: that needs an operations context (an offline one: nothing is run).
    with Operations.context(MigrationContext.configure(dialect_name="postgresql")):
        return frozenset(ScriptDirectory.from_config(alembic_config("")).get_heads())


class Readiness:
    def __init__(
        self,
        reads: async_sessionmaker[AsyncSession],
        broker_connected: Callable[[], bool] | None,
    ) -> None:
        """`broker_connected`: None for the memory:// broker (nothing to connect to)."""
        self._reads = reads
        self._broker_connected = broker_connected

    async def _revisions(self) -> frozenset[str]:
        async with self._reads() as session:
            rows = (await session.execute(_REVISION)).scalars().all()
        return frozenset(rows)

    async def checks(self) -> tuple[bool, dict[str, str]]:
        """(ready, each check's state): "ok", or what is wrong."""
        checks: dict[str, str] = {}
        try:
            found = await asyncio.wait_for(self._revisions(), DATABASE_TIMEOUT_SECONDS)
        except TimeoutError:
            checks["database"] = f"no answer within {DATABASE_TIMEOUT_SECONDS:g} s"
            checks["migrations"] = "unknown"
        except Exception as error:
            if database_unavailable(error):
                checks["database"] = "unavailable"
                checks["migrations"] = "unknown"
            else:  # it answered: no alembic_version table, or another error
                checks["database"] = "ok"
                checks["migrations"] = "not applied (run `tandem migrate`)"
        else:
            outage.answered()
            checks["database"] = "ok"
            expected = code_heads()
            if found == expected:
                checks["migrations"] = "ok"
            else:
                checks["migrations"] = (
                    f"database at {', '.join(sorted(found)) or 'none'}, "
                    f"code expects {', '.join(sorted(expected))} (run `tandem migrate`)"
                )
        if self._broker_connected is not None:
            checks["broker"] = "ok" if self._broker_connected() else "reconnecting"
        return all(state == "ok" for state in checks.values()), checks
