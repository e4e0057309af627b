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
each distinct selection) is prepared once before they are woken: each subscription names
its preparations, by a key shared with the others that need the same, and the hub runs each
distinct one once per event. Woken after that, a subscriber finds everything made and
delivers at once, where before each of a thousand subscribers woke, found the answer in the
making and went back to waiting, two or three times per event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events import outbox
from app.events.envelope import ChangeEvent
from app.periodic import Periodic

log = logging.getLogger(__name__)

Accept = Callable[[ChangeEvent], bool]
Prepare = Callable[[ChangeEvent], Awaitable[object]]
"""How to make something for an event (its result is the preparer's own business: it keeps
it where it will look)."""

REPLAY_BATCH = 500


class Subscription:
    def __init__(
        self,
        hub: EventHub,
        accept: Accept,
        cursor: int,
        *,
        replay: bool,
        max_queue: int,
        judged_by: Hashable = None,
    ) -> None:
        self._hub = hub
        self._accept = accept
        self._judged_by = judged_by
        self._queue: deque[ChangeEvent] = deque()
        self._max_queue = max_queue
        self._waiter: asyncio.Future[None] | None = None
        self._verdict: tuple[int, ChangeEvent | None, bool] = (0, None, False)
        # The last sequence number this subscriber has been given or has skipped.
        self.cursor = cursor
        self._replaying = replay
        self.closed = False
        self.preparations: dict[Hashable, Prepare] = {}
        """By a key shared by the subscriptions that need the same thing made for an event
        (whichever of theirs runs, it makes the same)."""
        self.direct: Callable[[ChangeEvent], bool] | None = None
        """Delivers an event it takes at once, in the hub's turn (True), or says it cannot
        (False: its task is woken for it). Tried only while its task waits with nothing
        queued, so nothing of an earlier event can still be on its way."""

    def wants(self, event: ChangeEvent, verdicts: dict[Hashable, bool]) -> bool:
        """Whether the next event it will be given is this one, and it takes it. `verdicts`:
        the event's verdicts so far, by `judged_by` (its own, if it has none)."""
        if self._replaying or event.seq <= self.cursor:
            return False
        judged_by = self._judged_by
        if judged_by is None:
            accepted = self._accept(event)
        else:
            found = verdicts.get(judged_by)
            if found is None:
                found = verdicts[judged_by] = self._accept(event)
            accepted = found
        self._verdict = (event.seq, event, accepted)
        return accepted

    def offer(self, event: ChangeEvent) -> None:
        """Called by the hub for every event in order; never blocks."""
        if self._replaying:
            return  # the replay reads it from the outbox
        seq, judged, accepted = self._verdict
        if judged is event and not self._queue:
            if not accepted:
                # Judged a moment ago, and not for it: passed over without waking its task (a
                # dashboard watching one deal sleeps through the changes to all the others).
                if seq > self.cursor:
                    self.cursor = seq
                return
            direct = self.direct
            if direct is not None and self._waiter is not None:
                # Delivered at once (its result written to the socket already): a thousand
                # subscribers woken one by one, each passing the event up through the layers
                # of its stream to the same write, cost a fifth of the server's time for a
                # change (bench/run.py, 1,000 subscribers: 35-37 -> 29-33 ms of CPU per change).
                try:
                    delivered = direct(event)
                except Exception as error:  # the task meets it again, on its own path
                    log.debug("delivering event %s at once failed: %r", event.seq, error)
                    delivered = False
                if delivered:
                    self.cursor = event.seq
                    self._hub.direct_deliveries += 1
                    return
        if len(self._queue) >= self._max_queue:
            self._queue.clear()
            self._replaying = True
            self._hub.overflows += 1
        else:
            self._queue.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _replay(self) -> AsyncIterator[ChangeEvent]:
        # Replay until caught up with the hub; the hub's position only holds committed events.
        while self.cursor < self._hub.position:
            events = await self._hub.read_outbox(self.cursor, self._hub.position)
            if not events:
                break
            for event in events:
                self.cursor = event.seq
                if self._accept(event):
                    yield event
        self._replaying = False

    async def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        while not self.closed:
            if self._replaying:
                async for event in self._replay():
                    yield event
                continue
            if not self._queue:
                # A future of its own rather than an asyncio.Event: one wake-up per event for
                # each of thousands of subscribers, the cheapest there is.
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                continue
            event = self._queue.popleft()
            if event.seq <= self.cursor:
                continue
            self.cursor = event.seq
            verdict = self._verdict
            if verdict[0] == event.seq and verdict[1] is event:
                accepted = verdict[2]  # judged a moment ago, when the hub prepared it
            else:
                accepted = self._accept(event)
            if accepted:
                yield event

    def close(self) -> None:
        self.closed = True
        self._hub.subscriptions.discard(self)
        self._wake()


class EventHub:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_interval: float = 1.0,
        max_queue: int = 1000,
    ) -> None:
        self._sessions = sessions
        self._max_queue = max_queue
        self._lock = asyncio.Lock()
        # Whatever the broker lost (a publish while it was down, a dropped connection) is
        # picked up within one interval: one cheap query per process, not per subscriber.
        self._poller = Periodic("reading the outbox", poll_interval, self.catch_up)
        self.position = 0
        self.subscriptions: set[Subscription] = set()
        self.overflows = 0
        self.dispatched = 0
        self.direct_deliveries = 0
        # Where the time from an event's arrival to its last subscriber goes (/metrics).
        self.preparing_seconds = 0.0
        self.dispatching_seconds = 0.0

    async def start(self) -> None:
        async with self._sessions() as session:
            self.position = await outbox.last_seq(session)
        await self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()
        for subscription in list(self.subscriptions):
            subscription.close()

    async def database_identity(self) -> str:
        async with self._sessions() as session:
            return await outbox.database_identity(session)

    async def latest_committed(self) -> int:
        async with self._sessions() as session:
            return await outbox.last_seq(session)

    async def read_outbox(self, after: int, up_to: int) -> list[ChangeEvent]:
        async with self._sessions() as session:
            return await outbox.read_after(session, after, up_to=up_to, limit=REPLAY_BATCH)

    def subscribe(self, accept: Accept, since: int, *, judged_by: Hashable = None) -> Subscription:
        """Every event after `since` (a committed seq; for "from now on", the latest one):
        those this process has dispatched already first, from the outbox. `judged_by`: a key
        equal for subscriptions whose `accept` takes the same events (one user's, with the
        same arguments): each event is judged once for all of them (a thousand dashboards
        of a team are a few dozen users')."""
        subscription = Subscription(
            self,
            accept,
            since,
            replay=since < self.position,
            max_queue=self._max_queue,
            judged_by=judged_by,
        )
        self.subscriptions.add(subscription)
        return subscription

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
        self.preparing_seconds += prepared - started
        self.dispatching_seconds += time.perf_counter() - prepared

    async def _prepare(self, event: ChangeEvent) -> None:
        """Run, once each, the preparations of the subscriptions that take the event."""
        distinct: dict[Hashable, Prepare] = {}
        verdicts: dict[Hashable, bool] = {}
        for subscription in self.subscriptions:
            if subscription.preparations and subscription.wants(event, verdicts):
                distinct.update(subscription.preparations)
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
        for subscription in list(self.subscriptions):
            subscription.offer(event)
