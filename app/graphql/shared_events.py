"""What the subscribers of one event share in this process: its payload object, whether its
opportunity admits them now, and whether it is in their filter, each found once per event
(per distinct filter), however many sockets receive it. The results built from a payload
are shared by the plan executor (app/graphql/executor/events.py).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.actor import Actor
from app.crm.opportunities import audience
from app.crm.opportunities.filters import OpportunityFilter, filter_to_json
from app.crm.opportunities.membership import membership
from app.db import ReadPool
from app.events.envelope import Audience, ChangeEvent
from app.graphql.batch import read_session
from app.graphql.types.opportunities import OpportunityEvent, ViewChange
from app.graphql.types.orders import OrderEvent

SharedPayload = OpportunityEvent | OrderEvent
T = TypeVar("T")


class SharedEvents:
    """One payload per recent event, and the answers about it, for all its subscribers."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keep: int = 64,
        *,
        pool: ReadPool | None = None,
    ) -> None:
        self._sessions = sessions
        self._pool = pool
        self._keep = keep
        self._by_seq: OrderedDict[tuple[int, type, Any], SharedPayload] = OrderedDict()
        self._answers: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()
        # The event being dispatched, met by each of its subscribers in turn (a thousand,
        # maybe): its plain payload and its opportunity's audience now, found without a key.
        self._last_payload: OpportunityEvent | None = None
        self._last_audience: tuple[ChangeEvent | None, Audience | None] = (None, None)

    def payload(self, event: ChangeEvent, change: ViewChange | None = None) -> OpportunityEvent:
        last = self._last_payload
        if change is None and last is not None and last.event is event:
            return last
        shared = self._shared(event, OpportunityEvent, change)
        assert isinstance(shared, OpportunityEvent)
        if change is None:
            self._last_payload = shared
        return shared

    def order_payload(self, event: ChangeEvent) -> OrderEvent:
        shared = self._shared(event, OrderEvent, None)
        assert isinstance(shared, OrderEvent)
        return shared

    def _shared(
        self,
        event: ChangeEvent,
        kind: type[OpportunityEvent] | type[OrderEvent],
        change: ViewChange | None,
    ) -> SharedPayload:
        key = (event.seq, kind, change)
        shared = self._by_seq.get(key)
        if shared is None:
            if kind is OpportunityEvent:
                shared = OpportunityEvent.of(event, change)
            else:
                shared = OrderEvent.of(event)
            self._by_seq[key] = shared
            while len(self._by_seq) > self._keep:
                self._by_seq.popitem(last=False)
        return shared

    async def membership(
        self, event: ChangeEvent, selected: OpportunityFilter, key: bytes, me: int
    ) -> tuple[bool, bool]:
        """Whether the event's opportunity is selected before and after the change: one query
        per event and distinct filter in the process, however many subscribers share it, even
        when they ask at the same moment. `key` is the filter's stored form (filter_key)."""

        async def judge() -> tuple[bool, bool]:
            async with self._sessions() as session:
                return await membership(session, selected, me, event)

        return await self._once(("in", event.seq, key, me if b'"mine"' in key else None), judge)

    def admitted_if_known(
        self, event: ChangeEvent, actor: Actor, reach: frozenset[int] | None = None
    ) -> bool | None:
        """Whether the event's opportunity admits `actor` (through a token limited to the
        folders `reach`) now, when that is known already (audience_now below); None when it
        must be read."""
        if event.opportunity_id is None:
            return True
        last, now = self._last_audience
        if last is not event:
            known = self._answers.get(_audience_key(event.opportunity_id, event.seq))
            if known is None or not _made(known):
                return None
            now = known.result()
            self._last_audience = (event, now)
        return now is not None and now.admits(actor.user_id, actor.team_ids, actor.is_admin, reach)

    async def prepare_audience(self, event: ChangeEvent) -> None:
        """audience_now of the event's opportunity, before its subscribers ask."""
        if event.opportunity_id is not None:
            await self.audience_now(event.opportunity_id, event.seq)

    async def audience_now(self, opportunity_id: int, seq: int) -> Audience | None:
        """Who may see the opportunity now (not when the event was committed): once per event."""

        async def read() -> Audience | None:
            # On the read pool when there is one: it is read before an event's thousand
            # subscribers get it (an SQLAlchemy session's checkout took a tenth of that time).
            async with read_session(self._sessions, self._pool) as session:
                return (await audience.audiences_by_id(session, [opportunity_id])).get(
                    opportunity_id
                )

        return await self._once(_audience_key(opportunity_id, seq), read)

    async def _once(self, key: Hashable, compute: Callable[[], Awaitable[T]]) -> T:
        answer = self._answers.get(key)
        if answer is None:
            answer = asyncio.ensure_future(compute())
            self._answers[key] = answer
            while len(self._answers) > self._keep * 16:
                self._answers.popitem(last=False)
        elif _made(answer):
            known: T = answer.result()  # every asker but the first
            return known
        try:
            found: T = await asyncio.shield(answer)
        except Exception:
            self._answers.pop(key, None)  # a failed query is not an answer to keep
            raise
        return found


def _audience_key(opportunity_id: int, seq: int) -> Hashable:
    return ("audience", seq, opportunity_id)


def _made(answer: asyncio.Future[Any]) -> bool:
    """Whether the answer is there to take (not still in the making, nor failed)."""
    return answer.done() and not answer.cancelled() and answer.exception() is None


def filter_key(selected: OpportunityFilter) -> bytes:
    """One byte string per distinct filter, to share membership answers by."""
    return orjson.dumps(filter_to_json(selected), option=orjson.OPT_SORT_KEYS)
