"""The per-request (or per-WebSocket-connection) context handed to every resolver."""

from __future__ import annotations

from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response
from starlette.websockets import WebSocket

from app.crm.actor import Actor
from app.crm.auth.services import LastUses
from app.crm.unit import EventSink, Unit, unit_of_work
from app.crm.users.directory import ActorDirectory, Watch
from app.crm.users.recent import RecentActors
from app.crm.views.services import ViewDefinition
from app.db import ReadPool
from app.events.hub import EventHub
from app.events.presence import Presence
from app.graphql.batch import Reader
from app.graphql.cost import Budgets
from app.graphql.deadlines import Deadlines
from app.graphql.errors import unauthenticated
from app.graphql.persisted.resolution import PersistedQueries
from app.graphql.shared_events import SharedEvents
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class Runtime:
    """What the web layer wires up once per process."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    """For units of work (writes)."""
    reads: async_sessionmaker[AsyncSession]
    """Autocommit sessions for reads."""
    read_pool: ReadPool
    """The connections GraphQL operations read on (their Reader holds one per operation)."""
    hub: EventHub
    sink: EventSink
    directory: ActorDirectory
    shared_events: SharedEvents
    persisted: PersistedQueries
    """Where a request's document comes from: its text or a hash (TANDEM_PERSISTED_QUERIES)."""
    budgets: Budgets
    """What each user may still spend on operations this minute (app/graphql/cost.py)."""
    deadlines: Deadlines
    """The queries running, each stopped past its time (app/graphql/deadlines.py)."""
    last_uses: LastUses
    """When tokens were last used (their `lastUsedAt`)."""
    actors: RecentActors = field(default_factory=lambda: RecentActors(0))
    """The users tokens named lately (TANDEM_AUTH_CACHE_SECONDS)."""
    builtin_views: dict[int, ViewDefinition] = field(default_factory=dict)
    """Definitions of the built-in views by id, as read (they never change)."""
    presence: Presence = field(default_factory=lambda: Presence(10.0))
    """Who is on which opportunity now (app/events/presence.py)."""


class Context:
    def __init__(
        self,
        runtime: Runtime,
        actor: Actor | None,
        *,
        client_address: str | None = None,
        response: Response | None = None,
        websocket: WebSocket | None = None,
    ) -> None:
        self.runtime = runtime
        self.actor = actor
        self.reader = self._reader(actor)
        """What batched fields read through: one per operation."""
        self.client_address = client_address
        """The peer's IP address (uvicorn puts a trusted proxy's X-Forwarded-For here)."""
        self.response = response
        """HTTP only: where a resolver may add a header (Retry-After)."""
        self.batched = False
        """HTTP only: whether the request is a batch (then its status stays 200 whatever one
        of its operations meets)."""
        self.websocket = websocket
        # Filled by Strawberry from a WebSocket's connection_init payload.
        self.connection_params: dict[str, Any] | None = None
        self.watch: Watch | None = None
        """A WebSocket connection's claim on its user's access: it ends when that ends."""

    def require_actor(self) -> Actor:
        if self.actor is None:
            raise unauthenticated()
        return self.actor

    def set_actor(self, actor: Actor) -> None:
        self.actor = actor
        self.fresh_reads()

    def fresh_reads(self, *, remember: bool = True) -> None:
        """A new reader per operation: a WebSocket connection runs many over one context."""
        self.reader = self._reader(self.actor, remember=remember)

    def _reader(
        self,
        actor: Actor | None,
        *,
        remember: bool = True,
        shared: dict[object, dict[Any, Any]] | None = None,
    ) -> Reader:
        runtime = self.runtime
        return Reader(
            runtime.reads, actor, pool=runtime.read_pool, remember=remember, shared=shared
        )

    def for_event(self, shared: dict[object, dict[Any, Any]] | None = None) -> EventContext:
        """What the fields of one live event see: this context, with reads of their own
        (those that are the same for everyone `shared` with the event's other results)."""
        return EventContext(self, self._reader(self.actor, shared=shared))

    def visibility(self) -> Hashable:
        """Who sees what: subscribers with the same may share a result that depends on it.
        One user's, as some fields say what the viewer does, not only what they may see
        (Opportunity.following): admins share no result with other admins."""
        actor = self.actor
        if actor is None:
            return None
        if actor.sees_all:
            return ("admin", actor.user_id)
        folders = actor.folder_ids
        reach = tuple(sorted(folders)) if folders is not None else None
        if actor.is_admin:
            return ("admin", actor.user_id, reach)
        return (actor.user_id, tuple(sorted(actor.team_ids)), reach)

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session for a resolver's reads: the operation's, while its plan runs."""
        return self.reader.session()

    def unit(self) -> AbstractAsyncContextManager[Unit]:
        return unit_of_work(self.runtime.sessions, self.require_actor(), self.runtime.sink)


class EventContext:
    """A subscriber's context as one event's fields see it: its own reader, and a note of
    whether anything asked who the actor is (then the result is not everyone's to share)."""

    def __init__(self, base: Context, reader: Reader) -> None:
        self._base = base
        self.reader = reader
        self.runtime = base.runtime

    @property
    def asked_actor(self) -> bool:
        return self.reader.asked_actor

    @property
    def actor(self) -> Actor | None:
        self.reader.asked_actor = True
        return self._base.actor

    def require_actor(self) -> Actor:
        self.reader.asked_actor = True
        return self._base.require_actor()

    def read(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self._base.read()

    def __getattr__(self, name: str) -> Any:
        # Anything else of the connection (its socket, its parameters) is the subscriber's.
        self.reader.asked_actor = True
        return getattr(self._base, name)
