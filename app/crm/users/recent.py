"""Who a token names, remembered for a moment.

Every request names its user by a signed token, and reading that user with their teams is one
round trip to PostgreSQL: on a small query, as much as the rest of the answer. So the actor
read for a token is kept for a short time (TANDEM_AUTH_CACHE_SECONDS, 1 s by default; 0 reads
it on every request).

A change of rights committed in this process (role, deactivation, password, team membership,
a token revoked) forgets every remembered actor at once, before the mutation answers
(`rights_changed`). One committed by another process, or by the CLI, is seen once the entries
expire: no later than the TTL. Long-lived connections do not use this: a WebSocket reads its
user fresh, and the subscriber directory refreshes rights on its own.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from app.crm.actor import Actor
from app.crm.auth.tokens import Presented

_generation = 0


def rights_changed() -> None:
    """Some user's rights changed: what every cache in this process holds is stale."""
    global _generation
    _generation += 1


def generation() -> int:
    return _generation


class RecentActors:
    def __init__(self, ttl_seconds: float, *, limit: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._limit = limit
        self._known: dict[tuple[int, str], tuple[Actor, int, float]] = {}
        """By (token id, secret): the actor, the generation it was read in, and when to
        forget it (monotonic; never later than the token's expiry)."""

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, presented: Presented) -> Actor | None:
        """The actor remembered for the token, if still good."""
        key = (presented.token_id, presented.secret)
        found = self._known.get(key)
        if found is None:
            return None
        actor, made_in, expires = found
        if made_in != _generation or time.monotonic() >= expires:
            del self._known[key]
            return None
        return actor

    def put(self, presented: Presented, actor: Actor, read_in: int) -> None:
        """Remember `actor`, read while the generation was `read_in`: a change committed
        while it was being read makes it stale at once."""
        if not self.enabled or read_in != _generation:
            return
        if len(self._known) >= self._limit:
            self._known.clear()  # bounded; a burst of new tokens costs one read each
        now = time.monotonic()
        forget_at = now + self._ttl
        grant = actor.grant
        if grant is not None and grant.expires_at is not None:
            left = (grant.expires_at - datetime.now(UTC)).total_seconds()
            forget_at = min(forget_at, now + left)
        self._known[(presented.token_id, presented.secret)] = (actor, read_in, forget_at)
