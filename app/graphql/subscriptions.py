"""Live opportunity events over WebSocket.

Each subscription is a filter over the process's event hub: deciding whether a subscriber may
see an event is an in-memory check against the audience the event carries, so one event costs
work per socket and no query per subscriber (docs/architecture.md, live-update invariant 4).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from contextlib import aclosing
from typing import TypeVar

import strawberry

from app.crm.actor import Actor
from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities import queries as opportunities
from app.crm.opportunities.filters import OpportunityFilter, check_filter
from app.crm.orders import queries as orders
from app.crm.users.directory import ActorDirectory
from app.crm.users.queries import load_actor
from app.events.envelope import ChangeEvent
from app.events.hub import SKIP, Message, Prepare
from app.graphql.batch import reader
from app.graphql.errors import bad_input, unauthenticated
from app.graphql.filters import OpportunityFilterInput
from app.graphql.ids import decode_id
from app.graphql.queries.views import through_view
from app.graphql.shared_events import SharedEvents, filter_key
from app.graphql.types.opportunities import (
    OpportunityEvent,
    OpportunityEventKind,
    ViewChange,
    event_kind,
)
from app.graphql.types.orders import OrderEvent


@strawberry.input(
    description="Which events: their kinds, and opportunities as a filter selects them. With "
    "opportunity conditions, an event comes when its opportunity is selected before or after "
    "the change, and says which (viewChange)."
)
class OpportunityEventFilter(OpportunityFilterInput):
    kinds: list[OpportunityEventKind] | None = None  # type: ignore[valid-type]
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, deprecation_reason="Use ownerIds."
    )

    def event_filter(self) -> OpportunityFilter:
        selected = self.to_domain()
        if self.owner_id:
            selected = dataclasses.replace(
                selected,
                owner_ids=(*selected.owner_ids, decode_id(self.owner_id, "User", "ownerId")),
            )
        return selected


def _parse_since(since: str) -> int:
    if not since.isdigit() or len(since) > 18:
        raise bad_input(DomainError(ErrorCode.INVALID, "since is not a valid cursor", ["since"]))
    return int(since)


async def current_actor(info: strawberry.Info) -> Actor:
    # The socket was authenticated at connection_init, perhaps hours ago: subscribe with
    # the rights the user has now, so a deactivated user gets nothing, not even a replay.
    connected = info.context.require_actor()
    async with info.context.runtime.reads() as session:
        current = await load_actor(session, connected.user_id)
    if current is None:
        raise unauthenticated()
    # With what the socket's token allows (its folders), which a refresh never changes.
    return dataclasses.replace(current, grant=connected.grant)


async def since_cursor(info: strawberry.Info, since: str | None) -> int | None:
    since_seq = _parse_since(since) if since is not None else None
    if since_seq is not None and since_seq > await info.context.runtime.hub.latest_committed():
        raise bad_input(DomainError(ErrorCode.INVALID, "since is from the future", ["since"]))
    return since_seq


async def _admitted_now(
    shared: SharedEvents,
    payload: OpportunityEvent | OrderEvent,
    actor: Actor,
    reach: frozenset[int] | None,
) -> bool:
    """Whether the event's opportunity admits the actor now, not only when it was committed.

    A replayed or queued event may be delivered after the opportunity became private, and its
    nested fields show the present: one query per event per process, shared by all its
    subscribers. An order without an opportunity is everyone's.
    """
    opportunity_id = payload.event.opportunity_id
    if opportunity_id is None:
        return True
    now = await shared.audience_now(opportunity_id, payload.event.seq)
    return now is not None and now.admits(actor.user_id, actor.team_ids, actor.is_admin, reach)


P = TypeVar("P", OpportunityEvent, OrderEvent)
_AUDIENCE = ("audience",)


async def _deliver(
    info: strawberry.Info,
    actor: Actor,
    wanted: Callable[[ChangeEvent], bool],
    wanted_key: Hashable,
    since: int | None,
    present: Callable[[ChangeEvent, Actor], Awaitable[P | None]],
    payload_of: Callable[[ChangeEvent], P] | None = None,
) -> AsyncGenerator[P, None]:
    """The events `wanted` picks that the user may see, in commit order, as shared payloads.

    Deciding is an in-memory check against the audience the event carries; the user's rights
    are followed through the process's actor directory, so a team change or a deactivation
    takes effect on open subscriptions too. `wanted_key`: equal for every `wanted` that
    picks the same events (the user's subscriptions with the same arguments are judged once
    per event). `payload_of`: the payload every subscriber gets for an event, when it is one
    (its result can then be made before they are woken).
    """
    runtime = info.context.runtime
    directory = runtime.directory
    directory.hold(actor)
    user_id = actor.user_id
    reach = actor.folder_ids  # the token's, for the connection's life

    def accept(event: ChangeEvent) -> bool:
        if not wanted(event):
            return False
        current = directory.current(user_id)
        return current is not None and event.audience.admits(
            current.user_id, current.team_ids, current.is_admin, reach
        )

    shared: SharedEvents = runtime.shared_events
    preparations: dict[Hashable, Prepare] = {_AUDIENCE: shared.prepare_audience}
    herd: Hashable = (wanted_key, user_id, reach)
    message = write = None
    result = getattr(info, "prepare_event", None)  # the plan executor's
    if result is not None and payload_of is not None:
        key, prepare = result
        preparations[key] = lambda event: prepare(payload_of(event))
        # The plan executor's too, when the transport can write a result at once (app/graphql/
        # executor/events.py): an event the hub prepared goes to the socket in the hub's turn.
        live = getattr(info, "live_delivery", None)
        if live is not None:
            ready, write = live
            message = _message(directory, user_id, reach, shared, payload_of, ready)
        herd = (wanted_key, user_id, reach, key, live is not None)
    # "From now on" means after every change committed before this request, also those
    # whose events have not reached this process yet (the hub may be busy with one).
    start = since if since is not None else await runtime.hub.latest_committed()
    subscription = runtime.hub.subscribe(
        accept,
        start,
        herd=herd,
        judged_by=(wanted_key, user_id, reach),
        preparations=preparations,
        message=message,
        write=write,
    )
    try:
        async for event in subscription:
            current = directory.current(user_id)
            if current is None:
                return  # deactivated while subscribed
            payload = payload_of(event) if payload_of is not None else await present(event, current)
            if payload is None:
                continue
            # Known already, nearly always (the hub prepared it): no coroutine to await.
            admitted = shared.admitted_if_known(payload.event, current, reach)
            if admitted is None:
                admitted = await _admitted_now(shared, payload, current, reach)
            if admitted:
                yield payload
    finally:
        subscription.close()
        directory.release(user_id)


def _message(
    directory: ActorDirectory,
    user_id: int,
    reach: frozenset[int] | None,
    shared: SharedEvents,
    payload_of: Callable[[ChangeEvent], P],
    ready: Callable[[P], object],
) -> Message:
    """What _deliver does with an event the hub says the user's subscriptions take, found
    once for all of them when everything it needs is known: the shared end of its message
    (`ready`), SKIP when the opportunity does not admit the user now, None to leave it to
    each subscription's own path (a deactivated user, an audience not read, no result)."""

    def message(event: ChangeEvent) -> object:
        current = directory.current(user_id)
        if current is None:
            return None  # deactivated: the subscriptions' own path ends them
        payload = payload_of(event)
        admitted = shared.admitted_if_known(payload.event, current, reach)
        if admitted is None:
            return None
        return ready(payload) if admitted else SKIP

    return message


@strawberry.type
class EventSubscriptions:
    @strawberry.subscription(
        description="Every change to opportunities you may see, in commit order. Pass the "
        "cursor of the last event you received as `since` to resume with nothing missed and "
        "nothing repeated."
    )
    async def opportunity_events(
        self,
        info: strawberry.Info,
        opportunity_id: strawberry.ID | None = None,
        filter: OpportunityEventFilter | None = None,
        since: str | None = None,
        view_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[OpportunityEvent, None]:
        context = info.context
        runtime = context.runtime
        actor = await current_actor(info)
        try:
            only_id = (
                decode_id(opportunity_id, "Opportunity", "opportunityId")
                if opportunity_id
                else None
            )
            selected, _ = await through_view(
                info, filter.event_filter() if filter else OpportunityFilter(), view_id
            )
            check_filter(selected)
        except DomainError as error:
            raise bad_input(error) from None
        kinds = frozenset(event_kind(k) for k in filter.kinds) if filter and filter.kinds else None
        since_seq = await since_cursor(info, since)
        if (
            only_id is not None
            and await reader(info).one_visible(opportunities.visible_by_id, only_id) is None
        ):
            raise bad_input(
                DomainError(ErrorCode.NOT_FOUND, "opportunity not found", ["opportunityId"])
            )
        shared: SharedEvents = runtime.shared_events
        in_view = selected != OpportunityFilter()
        key = filter_key(selected)

        def wanted(event: ChangeEvent) -> bool:
            if event.opportunity_id is None:
                return False  # an order without an opportunity: orderEvents carries it
            if only_id is not None and event.opportunity_id != only_id:
                return False
            return kinds is None or event.kind in kinds

        async def present(event: ChangeEvent, current: Actor) -> OpportunityEvent | None:
            if not in_view:
                return shared.payload(event)
            before, after = await shared.membership(event, selected, key, current.user_id)
            if not (before or after):
                return None
            change = (
                ViewChange.STAYED
                if before and after
                else (ViewChange.ENTERED if after else ViewChange.LEFT)
            )
            return shared.payload(event, change)

        # aclosing: when the client stops, the hub subscription must end now, not at GC.
        deliveries = _deliver(
            info,
            actor,
            wanted,
            ("opportunityEvents", only_id, kinds),
            since_seq,
            present,
            None if in_view else shared.payload,
        )
        async with aclosing(deliveries) as payloads:
            async for payload in payloads:
                yield payload

    @strawberry.subscription(
        description="Every change to one order, in commit order; resume with `since` as for "
        "opportunityEvents (the cursors are the same sequence)."
    )
    async def order_events(
        self, info: strawberry.Info, order_id: strawberry.ID, since: str | None = None
    ) -> AsyncGenerator[OrderEvent, None]:
        runtime = info.context.runtime
        actor = await current_actor(info)
        try:
            only_id = decode_id(order_id, "Order", "orderId")
        except DomainError as error:
            raise bad_input(error) from None
        since_seq = await since_cursor(info, since)
        if await reader(info).one_visible(orders.visible_by_id, only_id) is None:
            raise bad_input(DomainError(ErrorCode.NOT_FOUND, "order not found", ["orderId"]))

        shared: SharedEvents = runtime.shared_events

        async def present_order(event: ChangeEvent, current: Actor) -> OrderEvent:
            return shared.order_payload(event)

        deliveries = _deliver(
            info,
            actor,
            lambda event: event.order_id == only_id,
            ("orderEvents", only_id),
            since_seq,
            present_order,
        )
        async with aclosing(deliveries) as payloads:
            async for payload in payloads:
                yield payload
