"""Who the long-lived subscribers are now.

A subscription lives for hours; in that time its user may be deactivated, demoted or moved
between teams. The directory keeps the current Actor of every user with a live subscription
and refreshes them all with one query every few seconds, so visibility checks on events use
current rights without a query per subscriber or per event. A connection that must end when
its user loses access (deactivated, deleted) or its token ends (revoked: logout, a password
change; expired) is *watched*: the refresh that finds it calls the watch's callback once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.actor import Actor
from app.crm.auth.queries import live_tokens
from app.crm.users.queries import load_actors
from app.periodic import Periodic

log = logging.getLogger(__name__)


class Watch:
    """One connection's claim on a user's access, made with the token it was opened with.
    `release()` when the connection ends, whether or not the watch fired."""

    def __init__(
        self,
        directory: ActorDirectory,
        actor: Actor,
        on_revoked: Callable[[], Awaitable[None]],
    ) -> None:
        self._directory = directory
        self.user_id = actor.user_id
        self.token_id = actor.grant.token_id if actor.grant is not None else None
        self.on_revoked = on_revoked
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._directory.unwatch(self)


class ActorDirectory:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, refresh_interval: float = 5.0
    ) -> None:
        self._sessions = sessions
        self._actors: dict[int, Actor | None] = {}
        self.current: Callable[[int], Actor | None] = self._actors.get
        """The user's rights as last read; None once deactivated or deleted. (The dictionary's
        own lookup: asked for each subscriber of each event, a thousand times per change.)"""
        self._holders: Counter[int] = Counter()
        self._watches: set[Watch] = set()
        self._watched: Counter[int] = Counter()
        self._reads = 0
        """Refreshes begun so far; `_held_in[user]`: the count when the user was last held
        (read freshly by whoever held them)."""
        self._held_in: dict[int, int] = {}
        self.refreshing = Periodic("refreshing subscribers' rights", refresh_interval, self.refresh)

    def hold(self, actor: Actor) -> None:
        """`actor` must be freshly read: it replaces what the directory had for that user."""
        self._holders[actor.user_id] += 1
        self._actors[actor.user_id] = actor
        self._held_in[actor.user_id] = self._reads

    def release(self, user_id: int) -> None:
        self._holders[user_id] -= 1
        if self._holders[user_id] <= 0:
            del self._holders[user_id]
            self._actors.pop(user_id, None)
            self._held_in.pop(user_id, None)

    def watch(self, actor: Actor, on_revoked: Callable[[], Awaitable[None]]) -> Watch:
        """Call `on_revoked` once when the user is deactivated or deleted, or the token the
        actor came with ends. `actor` must be freshly read."""
        self.hold(actor)
        watch = Watch(self, actor, on_revoked)
        self._watches.add(watch)
        self._watched[actor.user_id] += 1
        return watch

    def unwatch(self, watch: Watch) -> None:
        if watch in self._watches:
            self._watches.discard(watch)
            self._watched[watch.user_id] -= 1
            if self._watched[watch.user_id] <= 0:
                del self._watched[watch.user_id]
            self.release(watch.user_id)

    def watching(self, user_id: int) -> int:
        """The user's connections open in this process (each watches the user)."""
        return self._watched[user_id]

    async def refresh(self) -> None:
        ids = list(self._holders)
        if not ids:
            return
        # Only what was known before this read is judged by it: a user held or a connection
        # watched while it runs was read freshly by whoever did it, maybe after this read
        # (and a user not among `ids` is not in it at all: such a watch was taken for a
        # revoked one, and a connection that had just been acknowledged closed with 4403).
        self._reads += 1
        begun = self._reads
        watches = list(self._watches)
        tokens = {watch.token_id for watch in watches if watch.token_id is not None}
        async with self._sessions() as session:
            found = await load_actors(session, ids)
            live = await live_tokens(session, list(tokens)) if tokens else set()
        for user_id in ids:
            if user_id in self._holders and self._held_in.get(user_id, begun) < begun:
                self._actors[user_id] = found.get(user_id)
        revoked = [
            watch
            for watch in watches
            if watch in self._watches
            and (
                found.get(watch.user_id) is None
                or (watch.token_id is not None and watch.token_id not in live)
            )
        ]
        for watch in revoked:
            watch.release()
            try:
                await watch.on_revoked()
            except Exception:  # one connection's failure to close must not stop the others
                log.exception("ending a revoked connection of user %s failed", watch.user_id)
