"""The per-process event hub: one ordered stream in, one bounded queue per subscriber out.

Events reach the hub from the broker in whatever order the broker delivers them, possibly with
some missing (a publish lost while the broker was down). The hub hands them on strictly in
sequence order: an event beyond the next expected one makes it read the gap from the outbox
first, and a periodic check reads anything the broker never delivered. So every subscriber
sees each committed event exactly once, in commit order (docs/architecture.md, live-update
invariant 2).

A subscriber never slows the hub or the others: the hub only appends to its bounded queue.
When that queue is full the subscriber is switched to reading the outbox at its own pace,
and the queue is emptied, so its memory stays bounded (invariant 5).

What an event's subscribers will all need (who may see its opportunity now, the result of
each distinct selection) is prepared once before they are woken: subscriptions that take the
same events and deliver them the same way (one user's, with the same arguments and
selection) form a herd, judged once per event; each herd names its preparations, by a key
shared with the others that need the same, and the hub runs each distinct one once per event.
Then a subscriber whose task waits gets the event written to its client in the hub's turn
(what to write found once per herd); one woken finds everything made and delivers at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events import outbox
from app.events.envelope import ChangeEvent
from app.metrics import Metrics
from app.outage import outage
from app.periodic import Periodic

log = logging.getLogger(__name__)

Accept = Callable[[ChangeEvent], bool]
Prepare = Callable[[ChangeEvent], Awaitable[object]]
"""How to make something for an event (its result is the preparer's own business: it keeps
it where it will look)."""
Message = Callable[[ChangeEvent], object]
"""What every subscriber of a herd writes for an event it takes (found once for all of them):
a value for their `write`, SKIP when it is for none of them after all, None when it cannot
be known now (each subscriber's task then takes the event on its own path)."""
Write = Callable[[Any], bool]
"""Writes a Message's value to one subscriber's client at once, or says it cannot (False)."""

SKIP = object()
REPLAY_BATCH = 500


class Herd:
    """Subscriptions that take the same events and deliver each the same way: one user's,
    with the same arguments and selection (a wall of a thousand dashboards is a few dozen
    herds). The hub judges an event, runs its preparations and finds the message once per
    herd; only the write is per subscriber. Their functions are taken from the first member
    (any would do: that is what sharing a key promises), so a member that leaves takes
    nothing the others need with it."""

    __slots__ = ("key", "members", "verdict")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.members: dict[Subscription, None] = {}
        self.verdict: tuple[ChangeEvent | None, bool] = (None, False)
        """The last event judged, and whether the herd takes it."""

    def lead(self) -> Subscription:
        return next(iter(self.members))

    def takes(self, event: ChangeEvent, verdicts: dict[Hashable, bool]) -> bool:
        """Whether the herd takes the event (judged once per event; `verdicts`: the event's
        so far, by `judged_by`, shared with the herds whose judging is the same)."""
        judged, accepted = self.verdict
        if judged is event:
            return accepted
        lead = self.lead()
        judged_by = lead.judged_by
        if judged_by is None:
            accepted = lead.accept(event)
        else:
            found = verdicts.get(judged_by)
            if found is None:
                found = verdicts[judged_by] = lead.accept(event)
            accepted = found
        self.verdict = (event, accepted)
        return accepted

    def offer(self, hub: EventHub, event: ChangeEvent) -> int:
        """Hand the event to every member, in the hub's turn; never blocks. How many members
        that take it were handed it (counted here, added to /metrics once per event)."""
        accepted = self.takes(event, {})
        seq = event.seq
        message: object = _UNKNOWN
        handed = 0
        for member in list(self.members):
            if member.replaying or seq <= member.cursor:
                continue  # its replay reads it from the outbox; or it had it already
            if member.queue:
                if member.enqueue(event) and accepted:
                    handed += 1
                continue
            if not accepted:
                # Not for it: passed over without waking its task (a dashboard watching
                # one deal sleeps through the changes to all the others).
                member.cursor = seq
                continue
            write = member.write
            if write is None or member.waiter is None:
                handed += member.enqueue(event)
                continue
            # Its task waits with nothing queued, so nothing of an earlier event can still
            # be on its way: written at once, where a thousand subscribers woken one by one,
            # each passing the event up through the layers of its stream to the same write,
            # cost a fifth of the server's time for a change (bench/run.py).
            if message is _UNKNOWN:
                message = self._message(event)
            if message is SKIP:
                member.cursor = seq
                continue
            if message is not None:
                try:
                    written = write(message)
                except Exception as error:  # the task meets it again, on its own path
                    log.debug("writing event %s at once failed: %r", seq, error)
                    written = False
                if written:
                    member.cursor = seq
                    hub.direct_deliveries += 1
                    handed += 1
                    continue
            handed += member.enqueue(event)
        return handed

    def _message(self, event: ChangeEvent) -> object:
        message = self.lead().message
        if message is None:
            return None
        try:
            return message(event)
        except Exception as error:  # each task meets it again, on its own path
            log.debug("finding the message of event %s failed: %r", event.seq, error)
            return None


_UNKNOWN = object()


class Subscription:
    def __init__(
        self,
        hub: EventHub,
        accept: Accept,
        cursor: int,
        *,
        replay: bool,
        max_queue: int,
        judged_by: Hashable,
        preparations: dict[Hashable, Prepare],
        message: Message | None,
        write: Write | None,
    ) -> None:
        self._hub = hub
        self.accept = accept
        self.judged_by = judged_by
        self.preparations = preparations
        self.message = message
        self.write = write
        self.queue: deque[ChangeEvent] = deque()
        self._max_queue = max_queue
        self.waiter: asyncio.Future[None] | None = None
        # The last sequence number this subscriber has been given or has skipped.
        self.cursor = cursor
        self.replaying = replay
        self.closed = False
        self.herd: Herd | None = None

    def enqueue(self, event: ChangeEvent) -> bool:
        """For its task to take; past its bound, it reads the outbox at its own pace instead
        (False: the event, and those queued, dropped from its queue)."""
        if len(self.queue) >= self._max_queue:
            dropped = len(self.queue) + 1
            self.queue.clear()
            self.replaying = True
            self._hub.overflows += 1
            metrics = self._hub.metrics
            metrics.overflows.inc()
            metrics.events_dropped.inc(dropped)
            self._wake()
            return False
        self.queue.append(event)
        self._wake()
        return True

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _replay(self) -> AsyncIterator[ChangeEvent]:
        # Replay until caught up with the hub; the hub's position only holds committed events.
        while self.cursor < self._hub.position:
            events = await self._hub.read_outbox(self.cursor, self._hub.position)
            if not events:
                break
            replayed = 0
            try:
                for event in events:
                    self.cursor = event.seq
                    if self.accept(event):
                        replayed += 1
                        yield event
            finally:
                self._hub.metrics.events_replayed.inc(replayed)  # once per batch read
        self.replaying = False

    async def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        while not self.closed:
            if self.replaying:
                async for event in self._replay():
                    yield event
                continue
            if not self.queue:
                # A future of its own rather than an asyncio.Event: one wake-up per event for
                # each of thousands of subscribers, the cheapest there is.
                self.waiter = asyncio.get_running_loop().create_future()
                try:
                    await self.waiter
                finally:
                    self.waiter = None
                continue
            event = self.queue.popleft()
            if event.seq <= self.cursor:
                continue
            self.cursor = event.seq
            herd = self.herd
            if herd is not None and herd.verdict[0] is event:
                accepted = herd.verdict[1]  # judged a moment ago, when the hub prepared it
            else:
                accepted = self.accept(event)
            if accepted:
                yield event

    def close(self) -> None:
        self.closed = True
        self._hub.leave(self)
        self._wake()


class EventHub:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_interval: float = 1.0,
        max_queue: int = 1000,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self.metrics = metrics if metrics is not None else Metrics()
        self._max_queue = max_queue
        self._lock = asyncio.Lock()
        # Whatever the broker lost (a publish while it was down, a dropped connection) is
        # picked up within one interval: one cheap query per process, not per subscriber.
        self._poller = Periodic("reading the outbox", poll_interval, self.catch_up)
        self.position = 0
        self._herds: dict[Hashable, Herd] = {}
        self.subscription_count = 0
        self.overflows = 0
        self.dispatched = 0
        self.direct_deliveries = 0
        # Where the time from an event's arrival to its last subscriber goes (/metrics).
        self.preparing_seconds = 0.0
        self.dispatching_seconds = 0.0

    async def start(self) -> None:
        async with self._sessions() as session:
            self.position = await outbox.last_seq(session)
        self.metrics.event_position.set(self.position)
        await self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()
        for herd in list(self._herds.values()):
            for subscription in list(herd.members):
                subscription.close()

    async def database_identity(self) -> str:
        async with self._sessions() as session:
            return await outbox.database_identity(session)

    async def latest_committed(self) -> int:
        async with self._sessions() as session:
            latest = await outbox.last_seq(session)
        outage.answered()  # read every second (the poll): an outage's end is seen at once
        return latest

    async def read_outbox(self, after: int, up_to: int) -> list[ChangeEvent]:
        async with self._sessions() as session:
            return await outbox.read_after(session, after, up_to=up_to, limit=REPLAY_BATCH)

    def subscribe(
        self,
        accept: Accept,
        since: int,
        *,
        herd: Hashable = None,
        judged_by: Hashable = None,
        preparations: dict[Hashable, Prepare] | None = None,
        message: Message | None = None,
        write: Write | None = None,
    ) -> Subscription:
        """Every event after `since` (a committed seq; for "from now on", the latest one):
        those this process has dispatched already first, from the outbox.

        `herd`: a key equal for subscriptions that take the same events and deliver each the
        same way (their `accept`, `preparations` and `message` interchangeable; only `write`
        their own): the hub does all but the write once per event for all of them.
        `judged_by`: a key equal for subscriptions whose `accept` takes the same events
        though their herds differ (one user's, with the same arguments and other
        selections). `preparations`: what to make for an event before any subscriber is
        handed it, by a key shared by the subscriptions that need the same (whichever of
        theirs runs, it makes the same). `message` and `write`: how an event goes to the
        subscriber's client at once, in the hub's turn, while its task waits (True), or
        cannot (False: its task is woken for it)."""
        subscription = Subscription(
            self,
            accept,
            since,
            replay=since < self.position,
            max_queue=self._max_queue,
            judged_by=judged_by,
            preparations=preparations or {},
            message=message,
            write=write,
        )
        key = herd if herd is not None else subscription
        found = self._herds.get(key)
        if found is None:
            found = self._herds[key] = Herd(key)
        found.members[subscription] = None
        subscription.herd = found
        self.subscription_count += 1
        self.metrics.subscriptions.inc()
        return subscription

    def leave(self, subscription: Subscription) -> None:
        herd = subscription.herd
        if herd is None or subscription not in herd.members:
            return
        del herd.members[subscription]
        self.subscription_count -= 1
        self.metrics.subscriptions.dec()
        if not herd.members and self._herds.get(herd.key) is herd:
            del self._herds[herd.key]

    async def receive(self, event: ChangeEvent | None, seq: int) -> None:
        """An event (or just its number, when too big for the broker) arrived from the broker."""
        if seq <= self.position:
            return  # already delivered through a gap fill
        if event is not None and seq == self.position + 1 and not self._lock.locked():
            async with self._lock:
                if seq == self.position + 1:
                    await self._deliver(event)
                    return
        await self.catch_up(seq)

    async def catch_up(self, up_to: int | None = None) -> None:
        """Read from the outbox whatever this process has not dispatched yet."""
        async with self._lock:
            target = up_to if up_to is not None else await self.latest_committed()
            while self.position < target:
                before = self.position
                for event in await self.read_outbox(self.position, target):
                    if event.seq == self.position + 1:
                        await self._deliver(event)
                if self.position == before:
                    break  # nothing newer is committed yet

    async def _deliver(self, event: ChangeEvent) -> None:
        started = time.perf_counter()
        await self._prepare(event)
        prepared = time.perf_counter()
        self._dispatch(event)
        dispatched = time.perf_counter()
        self.preparing_seconds += prepared - started
        self.dispatching_seconds += dispatched - prepared
        metrics = self.metrics
        metrics.preparing_seconds.inc(prepared - started)
        metrics.dispatching_seconds.inc(dispatched - prepared)

    async def _prepare(self, event: ChangeEvent) -> None:
        """Run, once each, the preparations of the herds that take the event."""
        distinct: dict[Hashable, Prepare] = {}
        verdicts: dict[Hashable, bool] = {}
        for herd in self._herds.values():
            preparations = herd.lead().preparations
            if preparations and herd.takes(event, verdicts):
                distinct.update(preparations)
        # One after the other: what one reads, the next may find read (the same owner and
        # stage for every selection of an event's opportunity).
        for prepare in distinct.values():
            try:
                await prepare(event)
            except Exception as error:
                # The subscribers will meet it again, each on its own: not the hub's to answer.
                log.debug("preparing event %s failed: %r", event.seq, error)

    def _dispatch(self, event: ChangeEvent) -> None:
        self.position = event.seq
        self.dispatched += 1
        written_before = self.direct_deliveries
        handed = 0
        for herd in list(self._herds.values()):
            handed += herd.offer(self, event)
        # Once per event, whatever the number of subscribers (each increment takes a lock).
        metrics = self.metrics
        metrics.event_position.set(event.seq)
        metrics.events_dispatched.inc()
        metrics.events_delivered.inc(handed)
        metrics.written_at_once.inc(self.direct_deliveries - written_before)
