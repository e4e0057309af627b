"""A database outage, said once: when it begins, and when it ends.

While PostgreSQL is away every request, every background chore's tick and every subscribe
fails for the same reason (app/db.py `database_unavailable`); a line for each (124 in 10 s)
buries the one fact an operator needs. So the first failure of an outage is a WARNING, each
later one only counted (a DEBUG line with its request id, for a user's report), and the
first success after it an INFO with how long it lasted and how many requests were refused.

An outage ends when the database answers again: any chore's successful tick (the outbox is
read every second, app/events/hub.py) or /health/ready.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1
"""What a 503 tells a client to wait (`Retry-After`): the outbox poll notices the database's
return within a second."""

TRY_AGAIN_LATER = 1013
"""The close code of a WebSocket whose connection_init could not be checked for want of
the database (RFC 6455's registry: Try Again Later)."""
UNAVAILABLE_REASON = "the database is unavailable; try again shortly"


class Outage:
    """This process's view of whether its database is away (one per process)."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.refused = 0
        self._started_at = 0.0
        self._last_request: str | None = None

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException | None, where: str, request: str | None = None) -> None:
        """The database could not be reached by `where` (a chore, or a client's `request`,
        answered DATABASE_UNAVAILABLE: counted once however many of its fields failed)."""
        if self.since is None:
            self.since = time.time()
            self._started_at = time.monotonic()
            self.refused = 0
            self._last_request = None
            log.warning(
                "the database is unavailable (%s: %r); answering DATABASE_UNAVAILABLE "
                "until it returns",
                where,
                error,
            )
        else:
            log.debug("database still unavailable (%s): %r", where, error)
        if request is not None and request != self._last_request:
            self._last_request = request
            self.refused += 1

    def answered(self) -> None:
        """The database answered: an outage, if one was seen, is over."""
        if self.since is None:
            return
        lasted = time.monotonic() - self._started_at
        log.info(
            "the database is available again after %.1f s; %d requests were refused meanwhile",
            lasted,
            self.refused,
        )
        self.since = None


outage = Outage()
