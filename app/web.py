"""The Starlette application: /graphql (HTTP and WebSocket), /health, /metrics, the board (/).

This is the one module that wires the layers together: database, event hub, broker link,
and the GraphQL schema.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app.board import board_routes
from app.browser_headers import BrowserHeaders
from app.crm import paging
from app.crm.activities import documents
from app.crm.auth import passwords
from app.crm.auth.services import LastUses
from app.crm.opportunities import totals
from app.crm.users.directory import ActorDirectory
from app.crm.users.recent import RecentActors
from app.db import ReadPool, create_engine, create_read_session_factory, create_session_factory
from app.events.broker import STOP_SECONDS, BrokerLink
from app.events.hub import EventHub
from app.events.neighbours import Neighbours
from app.events.presence import Presence
from app.graphql import limits
from app.graphql.context import Runtime
from app.graphql.cost import Budgets
from app.graphql.deadlines import Deadlines
from app.graphql.endpoint import TandemGraphQL, bearer_token
from app.graphql.persisted.resolution import PersistedQueries
from app.graphql.schema import schema
from app.graphql.shared_events import SharedEvents
from app.metrics import CONTENT_TYPE, Metrics
from app.outage import RETRY_AFTER_SECONDS
from app.periodic import Periodic
from app.readiness import Readiness
from app.settings import Settings
from app.shutdown import SHUTDOWN_SECONDS, ExitUnlessStopped, bounded

log = logging.getLogger(__name__)


class Misconfigured(RuntimeError):
    """The server cannot run as configured beside the others on its database."""


class TandemApp(Starlette):
    """The routes, with /graphql (HTTP and WebSocket) handed straight to the GraphQL app.

    /graphql answers every request itself (its errors are GraphQL JSON, never a plain 500)
    and every message of a socket, so Starlette's error middleware and router add nothing
    there but two wrappers around each message sent: for an event going to 1,000 sockets,
    1,000 times. Every method reaches it, so a wrong one gets a GraphQL JSON 405 too.
    Around it all, /graphql included, is what browsers are told (app/browser_headers.py).
    """

    def __init__(self, graphql: TandemGraphQL, **options: Any) -> None:
        super().__init__(**options)
        self.graphql = graphql
        settings = graphql.runtime.settings
        self._answer = BrowserHeaders(
            self._route,
            origins=settings.cors_origins,
            security_headers=settings.security_headers,
            hsts_seconds=settings.hsts_seconds,
            page=graphql.graphql_ide_html if graphql.graphql_ide else None,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._answer(scope, receive, send)

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if path == "/graphql":
                scope["app"] = self
                await self.graphql(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


WEBSOCKET_OPTIONS: dict[str, Any] = {
    # Named, not "auto": live events are written straight to the sockets of this protocol
    # (app/graphql/socket_writes.py); connections served by another go the slower way.
    "ws": "websockets-sansio",
    # Per-message deflate costs ~300 KiB per socket; dashboards hold thousands.
    "ws_per_message_deflate": False,
}
"""How uvicorn serves the app's WebSockets (`tandem serve`, and the tests' server)."""


def create_app(
    settings: Settings, database_url: str, *, alone: bool = True, stop_within: bool = False
) -> Starlette:
    """Raises SettingsError for a TANDEM_PERSISTED_QUERIES_DIR file that cannot run.

    `alone`: take this server's place among the servers on its database (app/events/
    neighbours.py); False only for a second app in one process that stands in for no server
    of its own (the tests' twin, answering the same reads with the standard executor).
    `stop_within`: a shutdown that takes longer than app/shutdown.py's bound ends the
    process (`tandem serve`; never a test's server, which shares the tests' process)."""
    passwords.configure(settings.password_hashing)
    paging.configure_page_size(settings.max_page_size)
    limits.configure(
        limits.Limits(
            tokens=settings.max_tokens,
            aliases=settings.max_aliases,
            depth=settings.max_depth,
            batch_operations=settings.max_batch_operations,
            introspection=settings.introspection,
        )
    )
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    reads = create_read_session_factory(engine)
    read_pool = ReadPool(engine)
    hub = EventHub(reads, metrics=Metrics())
    presence = Presence(settings.presence_ttl_seconds)
    broker = BrokerLink(settings.broadcast_url, hub, presence=presence)
    presence.publish_through(broker.publish)
    neighbours = Neighbours(database_url, settings.broadcast_url)
    # Taken again after a database restart; checked often enough for /health to tell soon.
    keeping = Periodic("holding this server's place on the database", 5.0, neighbours.keep)
    directory = ActorDirectory(reads)
    persisted = PersistedQueries(
        settings.persisted_queries, schema._schema, reads, settings.persisted_queries_dir
    )

    async def fold_totals() -> None:
        async with sessions() as session:
            await totals.fold(session)

    deadlines = Deadlines(settings.operation_timeout_seconds)
    stopping = Periodic("stopping queries past their time", deadlines.interval, deadlines.check)
    # Every server folds; the fold's advisory lock lets one at a time do it.
    folding = Periodic("folding the pipeline totals", settings.totals_fold_seconds, fold_totals)
    runtime = Runtime(
        settings=settings,
        sessions=sessions,
        reads=reads,
        read_pool=read_pool,
        hub=hub,
        sink=broker,
        directory=directory,
        shared_events=SharedEvents(reads, pool=read_pool),
        persisted=persisted,
        actors=RecentActors(settings.auth_cache_seconds),
        budgets=Budgets(settings.cost_budget_per_minute),
        deadlines=deadlines,
        # The tests' twin repeats requests a server answered: their uses are no new ones.
        last_uses=LastUses(sessions, writes=alone),
        presence=presence,
    )
    graphql_app = TandemGraphQL(runtime)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if alone:
            problem = await neighbours.claim()
            if problem is not None:
                raise Misconfigured(problem)  # `tandem serve` says it before starting (cli.py)
            await keeping.start()
        await hub.start()
        await broker.start()
        await presence.start()
        await directory.refreshing.start()
        await persisted.start()
        await folding.start()
        await stopping.start()
        try:
            yield
        finally:
            # Each step bounded, and all of them (app/shutdown.py): a dead broker or
            # database must not keep the server from exiting.
            stuck = ExitUnlessStopped(SHUTDOWN_SECONDS) if stop_within else None
            await bounded(stopping.stop())
            await bounded(folding.stop())
            await bounded(persisted.stop())
            await bounded(directory.refreshing.stop())
            await bounded(hub.stop())
            await bounded(presence.stop())
            await bounded(broker.stop(), STOP_SECONDS + 0.5)
            await bounded(read_pool.close())
            await bounded(engine.dispose())
            await bounded(keeping.stop())
            await bounded(neighbours.release())
            if stuck is not None:
                stuck.done()

    async def health(request: Request) -> Response:
        try:
            async with reads() as session:
                await session.execute(text("SELECT 1"))
            database = "ok"
        except Exception:
            database = "unavailable"
        body = {
            "status": "ok" if database == "ok" and neighbours.problem is None else "degraded",
            "database": database,
            "broker": "connected" if broker.connected else "reconnecting",
        }
        if neighbours.problem is not None:
            body["problem"] = neighbours.problem
        return JSONResponse(body, status_code=200 if database == "ok" else 503)

    ready = Readiness(
        reads,
        None if settings.broadcast_url.startswith("memory:") else lambda: broker.connected,
    )

    async def health_live(request: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def health_ready(request: Request) -> Response:
        is_ready, checks = await ready.checks()
        return JSONResponse(
            {"status": "ready" if is_ready else "unavailable", "checks": checks},
            status_code=200 if is_ready else 503,
            headers=None if is_ready else {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    async def document(request: Request) -> Response:
        """Download a document: the same bearer token as the API, the same visibility."""
        actor = await graphql_app.authenticate(bearer_token(request.headers.get("authorization")))
        if actor is None:
            return JSONResponse(
                {"error": "authentication required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if actor.must_change_password:
            return JSONResponse(
                {"error": "change the one-time password first (changePassword)"},
                status_code=403,
            )
        raw_id = request.path_params["document_id"]
        found = None
        if raw_id.isdigit() and len(raw_id) <= 18:
            async with reads() as session:
                found = await documents.download(session, actor, int(raw_id))
        if found is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        name, content_type, content = found
        return Response(
            content,
            media_type=documents.served_as(content_type),
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox; default-src 'none'",
                "Cache-Control": "private, no-store",
            },
        )

    async def metrics(request: Request) -> Response:
        # prometheus_client's text (app/metrics.py); with several workers, their sum.
        return Response(hub.metrics.exposition(), media_type=CONTENT_TYPE)

    app = TandemApp(
        graphql_app,
        routes=[
            Route("/documents/{document_id}", document),
            Route("/health", health),
            Route("/health/live", health_live),
            Route("/health/ready", health_ready),
            Route("/metrics", metrics),
            *board_routes(),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
