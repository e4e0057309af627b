"""Who is on an opportunity (or on the board) right now: held in memory, shared between the
server processes through the broker link, never stored.

An entry is one client session of one user on one topic (an opportunity, or BOARD), VIEWING
or EDITING, with `since`: when it entered that state (a heartbeat does not move it). Every
entry has a lifetime of TANDEM_PRESENCE_TTL_SECONDS: one announced over HTTP lives as long
as it is repeated; one a `presence(announce: ...)` subscription holds is refreshed by that
subscription while its socket answers and goes the moment the subscription ends. So a
closed tab leaves at once, and a dropped network or a killed process within the lifetime.

Across processes: each process publishes its own entries on the broker link when they change
and all of them again every third of a lifetime; an entry heard from another process lives
a lifetime from when it was last heard. A killed process's entries therefore vanish from the
others within one lifetime. With `memory://` there is only this process, and nothing else
changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

log = logging.getLogger(__name__)

BOARD = 0
"""The board's topic; an opportunity's topic is its id (never 0)."""
MAX_SESSIONS_PER_TOPIC = 20
"""Sessions one user may have present on one topic in one process: many tabs, not a flood."""
MAX_ENTRIES_PER_USER = 200
"""Entries one user may have in one process, over every topic."""
_PER_MESSAGE = 40
"""Entries per broker message: well under PostgreSQL's 8,000-byte NOTIFY payloads."""


GONE = "gone"
LEFT = "left"


class PresenceState(StrEnum):
    VIEWING = "VIEWING"
    EDITING = "EDITING"


@dataclass(frozen=True, slots=True)
class Entry:
    topic: int
    user_id: int
    session_id: str
    state: PresenceState
    since: datetime


class TooManySessions(Exception):
    """A user's entries reached a limit: the announcement is refused, nothing changes."""


Key = tuple[int, int, str]
"""(topic, user, session)."""
Publish = Callable[[bytes], Awaitable[None]]


class _Local:
    __slots__ = ("entry", "expires", "holder")

    def __init__(self, entry: Entry, expires: float, holder: object | None) -> None:
        self.entry = entry
        self.expires = expires
        self.holder = holder


class Watch:
    """A subscriber's wish to hear of changes to one topic (None: to every topic)."""

    def __init__(self, presence: Presence, topic: int | None) -> None:
        self.topic = topic
        self.changed = asyncio.Event()
        self._presence = presence

    async def wait(self, timeout: float) -> bool:
        """Whether something changed (True) before `timeout` seconds passed."""
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except TimeoutError:
            return False
        self.changed.clear()
        return True

    def close(self) -> None:
        self._presence.unwatch(self)


class Presence:
    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.origin = secrets.token_hex(8)
        """This process's name in presence messages (its own are ignored when they echo)."""
        self._clock = clock
        self._local: dict[int, dict[tuple[int, str], _Local]] = {}
        self._remote: dict[int, dict[tuple[str, int, str], tuple[Entry, float]]] = {}
        self._per_user: dict[int, int] = {}
        self._held: dict[object, set[tuple[int, int, str]]] = {}
        """By holder, the keys of the entries it holds."""
        self._watchers: dict[int | None, set[Watch]] = {}
        self._outgoing: dict[Key, Entry | str] = {}
        """What to tell the others: an entry, or that it ended (GONE) or its client left (LEFT)."""
        self._publish: Publish | None = None
        self._wanted: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.shared: dict[Hashable, Any] = {}
        """What the readers of the registry as it stands share (the subscribers one change
        wakes, who see the same deals): emptied on every change."""

    # Wiring ------------------------------------------------------------------------------

    def publish_through(self, publish: Publish) -> None:
        """Where this process's entries go to the others (the broker link)."""
        self._publish = publish

    @property
    def sweep_interval(self) -> float:
        return max(0.05, min(self.ttl / 4, 0.5))

    async def start(self) -> None:
        self._wanted = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._sweeping(), name="tandem-presence-sweep"),
            asyncio.create_task(self._publishing(), name="tandem-presence-publish"),
        ]

    async def stop(self) -> None:
        # Tell the others at once rather than let them wait a lifetime.
        for topic in list(self._local):
            for local in self._local[topic].values():
                entry = local.entry
                self._outgoing[(entry.topic, entry.user_id, entry.session_id)] = GONE
        if self._outgoing and self._publish is not None:
            try:
                await asyncio.wait_for(self._flush(), timeout=1.0)
            except Exception as error:
                log.debug("telling the others this server's presence ended failed: %r", error)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # This process's clients ---------------------------------------------------------------

    def announce(
        self,
        topic: int,
        user_id: int,
        session_id: str,
        state: PresenceState | None,
        *,
        holder: object | None = None,
    ) -> None:
        """Set (or, with None, end) a session's presence on a topic. `holder`: the
        subscription that keeps it (refresh_held, release); None: it lives a lifetime unless
        repeated. Raises TooManySessions past the limits."""
        sessions = self._local.get(topic)
        found = sessions.get((user_id, session_id)) if sessions else None
        if state is None:
            if found is not None:
                self._drop(topic, (user_id, session_id), LEFT)
            return
        expires = self._clock() + self.ttl
        if found is not None:
            found.expires = expires
            if holder is not None and found.holder is not holder:
                self._unhold(found, (topic, user_id, session_id))
                found.holder = holder
                self._held.setdefault(holder, set()).add((topic, user_id, session_id))
            if found.entry.state is not state:
                found.entry = Entry(topic, user_id, session_id, state, _now())
                self._changed(topic, found.entry)
            return
        if sum(1 for user, _ in (sessions or ()) if user == user_id) >= MAX_SESSIONS_PER_TOPIC:
            raise TooManySessions(
                f"a user may be present with at most {MAX_SESSIONS_PER_TOPIC} sessions on one "
                "opportunity (or the board) at once; end one (state null) or let it expire"
            )
        if self._per_user.get(user_id, 0) >= MAX_ENTRIES_PER_USER:
            raise TooManySessions(
                f"a user may be present with at most {MAX_ENTRIES_PER_USER} sessions at once; "
                "end some (state null) or let them expire"
            )
        # Known from another process already (a heartbeat that reached another server): the
        # same presence, since the same moment.
        since = next(
            (
                e.since
                for (_, u, s), (e, _) in self._remote.get(topic, {}).items()
                if u == user_id and s == session_id and e.state is state
            ),
            None,
        )
        entry = Entry(topic, user_id, session_id, state, since or _now())
        self._local.setdefault(topic, {})[(user_id, session_id)] = _Local(entry, expires, holder)
        self._per_user[user_id] = self._per_user.get(user_id, 0) + 1
        if holder is not None:
            self._held.setdefault(holder, set()).add((topic, user_id, session_id))
        self._changed(topic, entry)

    def refresh_held(self, holder: object, heard_ago: float = 0.0) -> None:
        """A holder's socket still answers (last heard `heard_ago` seconds ago): its entries
        live a lifetime from then."""
        expires = self._clock() + self.ttl - heard_ago
        for topic, user_id, session_id in self._held.get(holder, ()):
            local = self._local[topic][(user_id, session_id)]
            local.expires = max(local.expires, expires)  # a heartbeat over HTTP counts too

    def release(self, holder: object) -> None:
        """The holder ended (its socket closed): its entries go now."""
        for topic, user_id, session_id in list(self._held.get(holder, ())):
            self._drop(topic, (user_id, session_id))

    # Reading ------------------------------------------------------------------------------

    def entries(self, topic: int) -> list[Entry]:
        """Who is on `topic`, every process's, one entry per (user, session), in the order
        they arrived (then by user and session)."""
        merged: dict[tuple[int, str], Entry] = {}
        for (user_id, session_id), local in self._local.get(topic, {}).items():
            merged[(user_id, session_id)] = local.entry
        for (_, user_id, session_id), (entry, _) in self._remote.get(topic, {}).items():
            known = merged.get((user_id, session_id))
            merged[(user_id, session_id)] = entry if known is None else _together(known, entry)
        return sorted(merged.values(), key=lambda e: (e.since, e.user_id, e.session_id))

    def topics(self) -> list[int]:
        """The opportunities someone is on (not the board), in id order."""
        present = {t for t, s in self._local.items() if s} | {
            t for t, s in self._remote.items() if s
        }
        present.discard(BOARD)
        return sorted(present)

    def watch(self, topic: int | None) -> Watch:
        watch = Watch(self, topic)
        self._watchers.setdefault(topic, set()).add(watch)
        return watch

    def unwatch(self, watch: Watch) -> None:
        watchers = self._watchers.get(watch.topic)
        if watchers is not None:
            watchers.discard(watch)
            if not watchers:
                del self._watchers[watch.topic]

    # Other processes ----------------------------------------------------------------------

    def received(self, message: Any) -> None:
        """A presence message from the broker link (this process's own are ignored)."""
        try:
            origin = message["o"]
            ttl = float(message["ttl"])
            items = message["e"]
            if not isinstance(origin, str) or not isinstance(items, list) or not 0 < ttl <= 3600:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed presence message")
            return
        if origin == self.origin:
            return
        expires = self._clock() + ttl
        for item in items:
            try:
                topic, user_id, session_id, state, since = item
                key = (origin, int(user_id), str(session_id))
                topic = int(topic)
                entry = (
                    None
                    if state is None
                    else Entry(
                        topic,
                        key[1],
                        key[2],
                        PresenceState(state),
                        datetime.fromtimestamp(float(since), UTC),
                    )
                )
            except (TypeError, ValueError):
                log.warning("ignoring a malformed presence entry")
                continue
            remote = self._remote.setdefault(topic, {})
            before = remote.get(key)
            if entry is None:
                if before is not None:
                    del remote[key]
                    self._changed(topic)
                local = self._local.get(topic, {}).get(key[1:])
                if since == LEFT and local is not None and local.holder is None:
                    # Its client left through the other server; the heartbeats that reached
                    # this one were the same session's.
                    self._drop(topic, key[1:])
                continue
            remote[key] = (entry, expires)
            if before is None or before[0] != entry:
                self._changed(topic)

    # Inside -------------------------------------------------------------------------------

    def _drop(self, topic: int, key: tuple[int, str], why: str = GONE) -> None:
        sessions = self._local[topic]
        local = sessions.pop(key)
        self._unhold(local, (topic, *key))
        if not sessions:
            del self._local[topic]
        left = self._per_user[key[0]] - 1
        if left:
            self._per_user[key[0]] = left
        else:
            del self._per_user[key[0]]
        self._outgoing[(topic, key[0], key[1])] = why
        self._changed(topic)

    def _unhold(self, local: _Local, key: tuple[int, int, str]) -> None:
        held = self._held.get(local.holder) if local.holder is not None else None
        if held is not None:
            held.discard(key)
            if not held:
                del self._held[local.holder]

    def _changed(self, topic: int, local: Entry | None = None) -> None:
        """Wake the topic's watchers; `local`: an entry of this process's, for the others."""
        if local is not None:
            self._outgoing[(topic, local.user_id, local.session_id)] = local
        self.shared.clear()
        if self._outgoing and self._wanted is not None:
            self._wanted.set()
        for watchers in (self._watchers.get(topic), self._watchers.get(None)):
            for watch in watchers or ():
                watch.changed.set()

    async def _sweeping(self) -> None:
        interval = self.sweep_interval
        while True:
            await asyncio.sleep(interval)
            self.sweep()

    def sweep(self) -> None:
        """End what was not repeated (or refreshed by its holder) within its lifetime."""
        now = self._clock()
        for topic in list(self._local):
            for key, local in list(self._local[topic].items()):
                if local.expires < now:
                    self._drop(topic, key)
        for topic in list(self._remote):
            remote = self._remote[topic]
            for origin_key, (_, expires) in list(remote.items()):
                if expires < now:
                    del remote[origin_key]
                    self._changed(topic)
            if not remote:
                del self._remote[topic]

    async def _publishing(self) -> None:
        """Send what changed as it changes, and everything every third of a lifetime."""
        assert self._wanted is not None
        again = self._clock() + self.ttl / 3
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), max(0.0, again - self._clock()))
            self._wanted.clear()
            if self._clock() >= again:
                again = self._clock() + self.ttl / 3
                for sessions in self._local.values():
                    for local in sessions.values():
                        entry = local.entry
                        self._outgoing[(entry.topic, entry.user_id, entry.session_id)] = entry
            try:
                await self._flush()
            except Exception as error:  # the next round sends everything again
                log.debug("publishing presence failed: %r", error)

    async def _flush(self) -> None:
        publish = self._publish
        outgoing, self._outgoing = self._outgoing, {}
        if publish is None or not outgoing:
            return
        for chunk in _chunks(outgoing.items(), _PER_MESSAGE):
            items = [
                [topic, user_id, session_id, entry.state.value, entry.since.timestamp()]
                if isinstance(entry, Entry)
                else [topic, user_id, session_id, None, entry]
                for (topic, user_id, session_id), entry in chunk
            ]
            await publish(
                orjson.dumps({"presence": {"o": self.origin, "ttl": self.ttl, "e": items}})
            )


def _together(one: Entry, other: Entry) -> Entry:
    """One session announced to two processes (heartbeats spread by a load balancer): the
    earlier since when the state is the same, else the later announcement."""
    if one.state is other.state:
        return one if one.since <= other.since else other
    return one if one.since >= other.since else other


def _chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _now() -> datetime:
    return datetime.now(UTC)
