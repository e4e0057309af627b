"""Presence over GraphQL: the `presence` subscription, `announcePresence`, and who is editing
a deal named in a CONFLICT.

The registry is the process's (app/events/presence.py); this layer decides who may see and
announce what: an opportunity's presence only through a deal the caller may see (a hidden
one answers as a missing one), and the board's list of deals only those the subscriber may
see at the moment of each snapshot (one query for all of them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
import time
from collections.abc import AsyncGenerator, Hashable
from datetime import datetime

import strawberry
from starlette.websockets import WebSocket

from app.crm.actor import Actor
from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities import queries as opportunities
from app.crm.users import queries as users
from app.events.presence import BOARD, Presence, TooManySessions, Watch
from app.events.presence import PresenceState as DomainPresenceState
from app.graphql.batch import read_session, reader
from app.graphql.errors import UserError, bad_input
from app.graphql.ids import decode_id, encode_id
from app.graphql.socket_liveness import last_heard, ping_if_quiet
from app.graphql.subscriptions import current_actor
from app.graphql.types.presence import (
    OpportunityPresence,
    PresenceEntry,
    PresenceSnapshot,
    PresenceState,
)

SESSION_ID = re.compile(r"[\x21-\x7e]{1,64}")
"""A client's name for its session: 1 to 64 printable ASCII characters, no spaces."""
COALESCE_SECONDS = 0.25
"""A burst of changes (a team opening the board at once) makes one snapshot, not one each."""
_ID_ONLY = frozenset({"id"})


def _session_id(value: str) -> str:
    if not SESSION_ID.fullmatch(value):
        raise DomainError(
            ErrorCode.INVALID,
            "sessionId must be 1 to 64 printable characters (letters, digits, punctuation; "
            "no spaces)",
            ["sessionId"],
        )
    return value


async def _topic(info: strawberry.Info, opportunity_id: strawberry.ID | None, board: bool) -> int:
    """The topic the arguments name, seen by the caller (NOT_FOUND for a hidden deal)."""
    if board == (opportunity_id is not None):
        raise DomainError(
            ErrorCode.INVALID,
            "give either opportunityId or board: true, not both and not neither",
            ["opportunityId"],
        )
    if opportunity_id is None:
        return BOARD
    pk = decode_id(opportunity_id, "Opportunity", "opportunityId")
    if await reader(info).one_visible(opportunities.visible_by_id, pk) is None:
        raise DomainError(ErrorCode.NOT_FOUND, "opportunity not found", ["opportunityId"])
    return pk


async def _visible(
    info: strawberry.Info, presence: Presence, actor: Actor, ids: list[int]
) -> set[int]:
    """Which of the deals `ids` the actor may see now: one query, shared by the subscribers
    a change wakes who see the same deals (and read afresh at least every second)."""
    if not ids:
        return set()
    sees = "all" if actor.sees_all else (actor.user_id, actor.team_ids, actor.folder_ids)
    key = ("visible", sees, tuple(ids))
    now = time.monotonic()
    found = presence.shared.get(key)
    if found is None or found[0] < now:
        found = (now + 1.0, asyncio.ensure_future(_read_visible(info, actor, ids)))
        presence.shared[key] = found
    try:
        return set(await asyncio.shield(found[1]))
    except Exception:
        if presence.shared.get(key) is found:
            del presence.shared[key]  # a failure is not an answer to share
        raise


async def _read_visible(info: strawberry.Info, actor: Actor, ids: list[int]) -> frozenset[int]:
    runtime = info.context.runtime
    async with read_session(runtime.reads, runtime.read_pool) as session:
        found = await opportunities.visible_by_id(session, actor, ids, columns=_ID_ONLY)
    return frozenset(found)


async def snapshot(
    info: strawberry.Info, presence: Presence, topic: int, actor: Actor
) -> PresenceSnapshot | None:
    """Who is on `topic` as `actor` may see it now; None when the deal is hidden or gone."""
    if topic != BOARD:
        if not await _visible(info, presence, actor, [topic]):
            return None
        return PresenceSnapshot(
            opportunity_id=strawberry.ID(encode_id("Opportunity", topic)),
            board=False,
            entries=[PresenceEntry.of(e) for e in presence.entries(topic)],
            opportunities=[],
        )
    present = presence.topics()
    visible = await _visible(info, presence, actor, present)
    return PresenceSnapshot(
        opportunity_id=None,
        board=True,
        entries=[PresenceEntry.of(e) for e in presence.entries(BOARD)],
        opportunities=[
            OpportunityPresence(
                opportunity_id=strawberry.ID(encode_id("Opportunity", pk)),
                entries=[PresenceEntry.of(e) for e in presence.entries(pk)],
            )
            for pk in present
            if pk in visible
        ],
    )


def _said(found: PresenceSnapshot) -> Hashable:
    """What a snapshot says, to send none that says the same as the one before."""

    def of(entries: list[PresenceEntry]) -> tuple[Hashable, ...]:
        return tuple((e.user_id, e.session_id, e.state, e.since) for e in entries)

    return (
        of(found.entries),
        tuple((o.opportunity_id, of(o.entries)) for o in found.opportunities),
    )


def _too_many(error: TooManySessions) -> DomainError:
    return DomainError(ErrorCode.OUT_OF_RANGE, str(error), ["sessionId"])


@strawberry.input(description="Announce (or end, with state null) a session's presence.")
class AnnouncePresenceInput:
    opportunity_id: strawberry.ID | None = None
    board: bool | None = None
    state: PresenceState | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Null: this session left."
    )
    session_id: str = strawberry.field(
        description="The client's name for this session (a tab): 1 to 64 printable characters."
    )


@strawberry.type
class AnnouncePresencePayload:
    presence: PresenceSnapshot | None = strawberry.field(
        description="Who is on the opportunity (or the board) now."
    )
    user_errors: list[UserError]


@strawberry.type
class PresenceMutations:
    @strawberry.mutation(
        description="Say that this session views or edits an opportunity (or the board), or "
        "left it (state null). It lasts TANDEM_PRESENCE_TTL_SECONDS: repeat it as a heartbeat."
    )
    async def announce_presence(
        self, info: strawberry.Info, input: AnnouncePresenceInput
    ) -> AnnouncePresencePayload:
        actor = info.context.require_actor()
        presence: Presence = info.context.runtime.presence
        try:
            topic = await _topic(info, input.opportunity_id, bool(input.board))
            session_id = _session_id(input.session_id)
            state = DomainPresenceState(input.state.value) if input.state else None
            try:
                presence.announce(topic, actor.user_id, session_id, state)
            except TooManySessions as error:
                raise _too_many(error) from None
        except DomainError as error:
            return AnnouncePresencePayload(presence=None, user_errors=[UserError.of(error)])
        return AnnouncePresencePayload(
            presence=await snapshot(info, presence, topic, actor), user_errors=[]
        )


@strawberry.type
class PresenceSubscriptions:
    @strawberry.subscription(
        description="Who views or edits an opportunity (or, with board: true, the board and "
        "each deal on it you may see): the snapshot now, then a new one on every change. "
        "With `announce`, this subscription is also your session's presence there, for as "
        "long as it runs (answer the protocol's pings)."
    )
    async def presence(
        self,
        info: strawberry.Info,
        opportunity_id: strawberry.ID | None = None,
        board: bool | None = False,
        announce: PresenceState | None = None,  # type: ignore[valid-type]
        session_id: str | None = None,
    ) -> AsyncGenerator[PresenceSnapshot, None]:
        context = info.context
        runtime = context.runtime
        actor = await current_actor(info)
        try:
            topic = await _topic(info, opportunity_id, bool(board))
            session = _session_id(session_id) if session_id is not None else None
        except DomainError as error:
            raise bad_input(error) from None
        presence: Presence = runtime.presence
        directory = runtime.directory
        directory.hold(actor)
        watch = presence.watch(None if topic == BOARD else topic)
        try:
            if announce is not None:
                try:
                    presence.announce(
                        topic,
                        actor.user_id,
                        session or secrets.token_urlsafe(12),
                        DomainPresenceState(announce.value),
                        holder=watch,
                    )
                except TooManySessions as error:
                    raise bad_input(_too_many(error)) from None
            said: Hashable = None
            while True:
                current = directory.current(actor.user_id)
                if current is None:
                    return  # deactivated while subscribed
                found = await snapshot(
                    info, presence, topic, dataclasses.replace(current, grant=actor.grant)
                )
                if found is None:
                    raise bad_input(
                        DomainError(ErrorCode.NOT_FOUND, "opportunity not found", ["opportunityId"])
                    )
                if _said(found) != said:
                    said = _said(found)
                    yield found
                await _until_changed(
                    watch, presence, context.websocket, holding=announce is not None
                )
                await asyncio.sleep(COALESCE_SECONDS)
                watch.changed.clear()
        finally:
            watch.close()
            presence.release(watch)
            directory.release(actor.user_id)


async def _until_changed(
    watch: Watch, presence: Presence, websocket: WebSocket | None, *, holding: bool
) -> None:
    """Wait for a change on the watched topic; meanwhile, what the subscription holds lives
    on while its socket answers (app/graphql/socket_liveness.py)."""
    tick = presence.ttl / 3
    while True:
        # On every wake, not only when quiet: a busy board changes more often than this.
        if holding:
            await _keep(watch, presence, websocket, tick)
        if await watch.wait(tick):
            return


async def _keep(
    watch: Watch, presence: Presence, websocket: WebSocket | None, quiet: float
) -> None:
    heard_at = last_heard(websocket) if websocket is not None else None
    if websocket is None or heard_at is None:
        presence.refresh_held(watch)  # no pongs to wait for: held until the socket closes
        return
    await ping_if_quiet(websocket, quiet)
    # A lifetime from when it was last heard: a dropped network's entries go on time.
    presence.refresh_held(watch, heard_ago=time.monotonic() - heard_at)


async def with_editors(
    info: strawberry.Info, errors: list[UserError], error: DomainError | None
) -> list[UserError]:
    """A CONFLICT on an opportunity, saying who is editing it now (others than the caller):
    "Mia Keller is editing this since 14:02 UTC"."""
    if error is None or error.code is not ErrorCode.CONFLICT or not isinstance(error.current, int):
        return errors
    actor = info.context.require_actor()
    since: dict[int, datetime] = {}  # each editor once, from their earliest session
    for entry in info.context.runtime.presence.entries(error.current):
        if entry.state is DomainPresenceState.EDITING and entry.user_id != actor.user_id:
            since.setdefault(entry.user_id, entry.since)
    if not since:
        return errors
    rows = await reader(info).fetch(users.users_by_id, list(since))
    editing = "; ".join(
        f"{rows[user_id].name} is editing this since {at:%H:%M} UTC"
        for user_id, at in since.items()
        if rows.get(user_id) is not None
    )
    if not editing:
        return errors
    return [
        UserError(field=e.field, code=e.code, message=f"{e.message}. {editing}.")
        if e.code is ErrorCode.CONFLICT
        else e
        for e in errors
    ]
