"""Who the long-lived subscribers are now.

A subscription lives for hours; in that time its user may be deactivated, demoted or moved
between teams. The directory keeps the current Actor of every user with a live subscription
and refreshes them all with one query every few seconds, so visibility checks on events use
current rights without a query per subscriber or per event.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.actor import Actor
from app.crm.users.queries import load_actors
from app.periodic import Periodic


class ActorDirectory:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, refresh_interval: float = 5.0
    ) -> None:
        self._sessions = sessions
        self._actors: dict[int, Actor | None] = {}
        self._holders: Counter[int] = Counter()
        self.refreshing = Periodic("refreshing subscribers' rights", refresh_interval, self.refresh)

    def hold(self, actor: Actor) -> None:
        """`actor` must be freshly read: it replaces what the directory had for that user."""
        self._holders[actor.user_id] += 1
        self._actors[actor.user_id] = actor

    def release(self, user_id: int) -> None:
        self._holders[user_id] -= 1
        if self._holders[user_id] <= 0:
            del self._holders[user_id]
            self._actors.pop(user_id, None)

    def current(self, user_id: int) -> Actor | None:
        """The user's rights as last read; None once deactivated or deleted."""
        return self._actors.get(user_id)

    async def refresh(self) -> None:
        ids = list(self._holders)
        if not ids:
            return
        async with self._sessions() as session:
            found = await load_actors(session, ids)
        for user_id in ids:
            if user_id in self._holders:
                self._actors[user_id] = found.get(user_id)
