"""Subscriptions through their plans: each event's result built once per group of subscribers.

A subscription's resolver makes its stream of events (the same code the standard executor
runs); each event is then the value of the root field, and the rest of the selection is
filled as a query's would be. Subscribers of one event that share the plan (document,
operation, @skip/@include values) and variables share one result, and the JSON of its
payload is encoded once (`EncodedData.payload`) for every socket it goes to. A plan whose
fields read what the actor may see (a folder's count, an order's opportunity) is shared only
between subscribers who see the same (`Context.visibility`): the first event that reads
through the actor says so, and from then on that plan's results are kept per visibility.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Hashable
from contextlib import aclosing
from contextvars import ContextVar
from typing import Any

from graphql import GraphQLError
from strawberry.types.execution import ExecutionResult

from app.graphql.encoding import encode_json
from app.graphql.executor.plan import OperationPlan, Planner
from app.graphql.executor.run import Execution, Pending, Slot
from app.graphql.executor.types import TypeNames
from app.graphql.masking import as_client_sees
from app.metrics import event_results_built

Writer = Callable[[bytes], bool]

live_writer: ContextVar[Writer | None] = ContextVar("live_writer", default=None)
"""Set by the transport in the task of one operation (app/graphql/websocket.py): writes to
its socket at once the `next` message of a result of that operation's stream, given the end
of the message every subscriber of the result shares (`EncodedData.tail`), or says it
cannot (False: the socket is closing or holds data not yet sent, the operation is over).
With it, an event whose result is made before its subscribers are woken goes to each of
their sockets in the hub's turn, without waking them (app/events/hub.py)."""


class EncodedData(dict[str, Any]):
    """An event's `data`, with the JSON of the whole payload (data and errors) it goes in."""

    payload: bytes = b""
    _tail: bytes | None = None

    def tail(self) -> bytes:
        """`,"payload":<the payload>}`, the end of every message that carries it (made once:
        thousands of sockets may get it)."""
        if self._tail is None:
            self._tail = b',"payload":' + self.payload + b"}"
        return self._tail

    def text_tail(self) -> str:
        """The same, as text."""
        return self.tail().decode()


class _Shared:
    __slots__ = ("asked_actor", "result")

    def __init__(self, result: ExecutionResult, asked_actor: bool) -> None:
        self.result = result
        self.asked_actor = asked_actor


class SharedResults:
    """The results of recent events, by event and (plan, variables[, visibility])."""

    def __init__(self, events: int = 256) -> None:
        self._events = events
        # id(event) -> (the event, kept so that its id is not reused; its results)
        self._by_event: OrderedDict[int, _EventResults] = OrderedDict()
        self._last: _EventResults | None = None
        self.built = 0
        """Results built: with sharing, one per event and group of subscribers."""

    def ready(
        self, event: object, base: tuple[Any, ...], asks_actor: bool, context: Any
    ) -> ExecutionResult | None:
        """The result already made for the event and this group of subscribers, if any."""
        entry = self._entry(event)
        if entry is None:
            return None
        key = (*base, context.visibility()) if asks_actor else base
        future = entry.results.get(key)
        if future is None or not future.done() or future.cancelled() or future.exception():
            return None
        shared = future.result()
        # One that read what the actor may see is not for all: _result sorts that out.
        return None if shared.asked_actor and not asks_actor else shared.result

    def ready_tail(
        self, event: object, base: tuple[Any, ...], asks_actor: bool, context: Any
    ) -> bytes | None:
        """The shared end of the message of the result `ready` gives (`EncodedData.tail`),
        None when there is none, or the result carries what is not for everyone (errors'
        extensions of its own): found once per event and group of subscribers, then by key
        alone, for each of a thousand subscribers."""
        entry = self._entry(event)
        if entry is None:
            return None
        key = (*base, context.visibility()) if asks_actor else base
        tail = entry.tails.get(key)
        if tail is None:
            result = self.ready(event, base, asks_actor, context)
            if result is None or result.extensions:
                return None
            data = result.data
            if not isinstance(data, EncodedData) or not data.payload:
                return None
            tail = entry.tails[key] = data.tail()
        return tail

    def _entry(self, event: object) -> _EventResults | None:
        entry = self._last
        if entry is None or entry.event is not event:
            entry = self._by_event.get(id(event))
            if entry is None or entry.event is not event:
                return None
            self._last = entry  # its other subscribers come next
        return entry

    def of(self, event: object) -> _EventResults:
        entry = self._by_event.get(id(event))
        if entry is None or entry.event is not event:
            entry = _EventResults(event)
            self._by_event[id(event)] = entry
            while len(self._by_event) > self._events:
                self._by_event.popitem(last=False)
        return entry


class _EventResults:
    """One event's results by group of subscribers, and the rows they read that are the same
    for everyone (an opportunity's owner and stage: read once for all the selections)."""

    __slots__ = ("event", "results", "rows", "tails")

    def __init__(self, event: object) -> None:
        self.event = event  # kept, so that its id is not reused while this lives
        self.results: dict[Hashable, asyncio.Future[_Shared]] = {}
        self.tails: dict[Hashable, bytes] = {}
        """The shared ends of the messages of results found made (`ready_tail`), by key."""
        self.rows: dict[object, dict[Any, Any]] = {}


async def event_stream(
    types: TypeNames,
    plan: OperationPlan,
    planner: Planner,
    context: Any,
    variables: Any,
    variables_key: Hashable,
    root_value: Any,
    shared: SharedResults,
) -> AsyncGenerator[ExecutionResult, None]:
    """The results of a subscription, one per event its resolver yields."""
    root_field = plan.root.fields[0]
    setup = Execution(plan, planner, types, context, variables, root_value)

    async def prepare(payload: Any) -> None:
        await _result(
            types, plan, planner, context, variables, variables_key, root_value, shared, payload
        )

    # Subscribers of one plan, variables and visibility share results: one preparation.
    setup.info.prepare_event = ((id(plan), variables_key, context.visibility()), prepare)
    base = (id(plan), variables_key)
    writer = live_writer.get()
    if writer is not None:

        def ready_tail(payload: Any) -> bytes | None:
            return shared.ready_tail(payload, base, plan.asks_actor, context)

        # Found once for all the subscribers of a herd (app/events/hub.py), written to each.
        setup.info.live_delivery = (ready_tail, writer)
    try:
        source = setup.source_stream(root_field)
        async with aclosing(source):
            async for event in source:
                # Nearly always prepared before this subscriber was woken (hub.py).
                ready = shared.ready(event, base, plan.asks_actor, context)
                yield ready or await _result(
                    types,
                    plan,
                    planner,
                    context,
                    variables,
                    variables_key,
                    root_value,
                    shared,
                    event,
                )
    except Exception as error:
        # As the standard executor answers a stream that fails: one result with the error.
        located = (
            error
            if isinstance(error, GraphQLError)
            else GraphQLError(str(error), original_error=error)
        )
        yield ExecutionResult(data=None, errors=as_client_sees([located]))


async def _result(
    types: TypeNames,
    plan: OperationPlan,
    planner: Planner,
    context: Any,
    variables: Any,
    variables_key: Hashable,
    root_value: Any,
    shared: SharedResults,
    event: Any,
) -> ExecutionResult:
    entry = shared.of(event)
    results = entry.results
    base = (id(plan), variables_key)
    visibility = context.visibility()
    while True:
        key: Hashable = (*base, visibility) if plan.asks_actor else base
        future = results.get(key)
        mine = future is None
        if future is None:
            shared.built += 1
            event_results_built.inc()
            future = asyncio.ensure_future(
                _build(types, plan, planner, context, variables, root_value, event, entry.rows)
            )
            results[key] = future
        if future.done() and not future.cancelled() and future.exception() is None:
            built = future.result()  # built for an earlier subscriber of this event
        else:
            try:
                built = await asyncio.shield(future)
            except Exception:
                results.pop(key, None)  # a failure is not a result to share
                raise
        if not built.asked_actor or key != base:
            return built.result
        # Its fields read what the actor may see: this result is for that actor's kind only.
        plan.asks_actor = True
        results.pop(base, None)
        if mine:
            results[(*base, visibility)] = future
            return built.result


async def _build(
    types: TypeNames,
    plan: OperationPlan,
    planner: Planner,
    context: Any,
    variables: Any,
    root_value: Any,
    event: Any,
    rows: dict[object, dict[Any, Any]],
) -> _Shared:
    own = context.for_event(rows)
    execution = Execution(plan, planner, types, own, variables, root_value, event)
    data: dict[str, Any] = EncodedData()
    holder: dict[str, Any] = {"data": data}
    async with own.reader.holding():
        root = Pending(plan.root, root_value, data, Slot(holder, "data", True, None))
        await execution.run(root, serially=False)
    errors = as_client_sees(execution.errors) if execution.errors else None
    final = holder["data"]
    if final is not None:
        assert isinstance(final, EncodedData)
        payload: dict[str, Any] = {"data": final}
        if errors:
            payload["errors"] = [error.formatted for error in errors]
        final.payload = encode_json(payload)
    return _Shared(ExecutionResult(data=final, errors=errors), own.asked_actor)
