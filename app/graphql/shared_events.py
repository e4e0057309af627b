"""Executing subscription events: once per event and query, whatever the subscriber count.

Every subscriber admitted to an event sees the same thing (the visibility gate runs before an
event is yielded, and nothing in an event's fields depends on who asks), so subscribers with
the same query and variables share one execution of it: an event costs a GraphQL execution
per distinct query, not per socket (DESIGN.md §5, invariant 4).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from typing import Any

import orjson
from graphql.execution.executor import Executor
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.crm.opportunities.filters import OpportunityFilter, filter_to_json
from app.crm.opportunities.membership import membership
from app.events.envelope import ChangeEvent
from app.graphql.loaders import Loaders
from app.graphql.plain_fields import PlainFieldsExecutionContext
from app.graphql.types.opportunities import OpportunityEvent, ViewChange
from app.graphql.types.orders import OrderEvent

SharedPayload = OpportunityEvent | OrderEvent


class EventExecutionContext(PlainFieldsExecutionContext):
    _event: SharedPayload | None = None

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        executor = super().build_per_event_executor(payload)
        # graphql-core 3.3.2 copies the subscription's executor shallowly for every event, so
        # all events would share one `_relevant_sub_fields` memo keyed by the id of
        # per-event lists: it never hits and grows for the subscription's whole life
        # (measured: 100 subscribers, 300 updates -> +260 MiB and a 3 s GC pause).
        executor._relevant_sub_fields = {}
        if (
            isinstance(executor, EventExecutionContext)
            and isinstance(payload, OpportunityEvent | OrderEvent)
            and payload.loaders is not None
        ):
            executor._event = payload
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        event = self._event
        if event is None:
            return super().execute_operation(serially)
        # The shared payload lives as long as the event is recent in this runtime, which is
        # how long its results are worth keeping.
        results = event.results
        key = (id(self.operation), repr(sorted(self.variable_values.coerced.items())))
        shared = results.get(key)
        if shared is None:
            result = super().execute_operation(serially)
            if not inspect.isawaitable(result):
                results[key] = (self.operation, result)
                return result
            task = asyncio.ensure_future(result)
            results[key] = (self.operation, task)
            return task
        _operation, result = shared
        if isinstance(result, asyncio.Future):
            return asyncio.shield(result)
        return result


class SharedEvents:
    """One payload per recent event, shared by all its subscribers in this process.

    With it come loaders of its own, so the actor, owner or stage an event shows is read once
    per process, however many sockets receive it, and the results cache above.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], keep: int = 64) -> None:
        self._sessions = sessions
        self._keep = keep
        self._by_seq: OrderedDict[tuple[int, type, Any], SharedPayload] = OrderedDict()
        self._memberships: OrderedDict[
            tuple[int, bytes, int | None], asyncio.Future[tuple[bool, bool]]
        ] = OrderedDict()

    def payload(self, event: ChangeEvent, change: ViewChange | None = None) -> OpportunityEvent:
        shared = self._shared(event, OpportunityEvent, change)
        assert isinstance(shared, OpportunityEvent)
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
            loaders = Loaders(self._sessions, None)
            if kind is OpportunityEvent:
                shared = OpportunityEvent.of(event, loaders, change)
            else:
                shared = OrderEvent.of(event, loaders)
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
        cache_key = (event.seq, key, me if b'"mine"' in key else None)
        judged = self._memberships.get(cache_key)
        if judged is None:
            judged = asyncio.ensure_future(self._judge(event, selected, me))
            self._memberships[cache_key] = judged
            while len(self._memberships) > self._keep * 16:
                self._memberships.popitem(last=False)
        try:
            return await asyncio.shield(judged)
        except Exception:
            self._memberships.pop(cache_key, None)  # a failed query is not an answer to keep
            raise

    async def _judge(
        self, event: ChangeEvent, selected: OpportunityFilter, me: int
    ) -> tuple[bool, bool]:
        async with self._sessions() as session:
            return await membership(session, selected, me, event)


def filter_key(selected: OpportunityFilter) -> bytes:
    """One byte string per distinct filter, to share membership answers by."""
    return orjson.dumps(filter_to_json(selected), option=orjson.OPT_SORT_KEYS)
