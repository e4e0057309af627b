"""/graphql: the Strawberry view, over HTTP and WebSocket, with Tandem's authentication.

Whatever a client sends, the answer is GraphQL JSON: a request the server cannot take at all
(not JSON, a batch too large, an unknown operation name) is a 4xx whose body is
`{"errors": [{"message", "extensions": {"code"}}]}`, never plain text (app/graphql/refusals.py).

GET runs persisted queries only: a query named by its hash (Apollo's useGETForHashedQueries,
urql's preferGetForPersistedQueries), or its text with its hash (urql's retry after a miss).
A GET with a text and no hash is refused, as it always was, and mutations never run over GET.
A GET with neither a query nor extensions, from a browser, opens GraphiQL.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.unset import UNSET

from app.crm.actor import Actor
from app.crm.auth.queries import load_actor_for_token
from app.crm.auth.tokens import read_token
from app.crm.users import recent
from app.db import database_unavailable
from app.graphql import limits
from app.graphql.context import Context, Runtime
from app.graphql.encoding import encode_json
from app.graphql.masking import new_request_id, request_id, servers_own
from app.graphql.persisted.protocol import requested
from app.graphql.refusals import RequestRefused, failure, refusal
from app.graphql.schema import schema
from app.graphql.socket_writes import SOCKET_WRITER, SocketWriter
from app.graphql.websocket import (
    FORBIDDEN,
    TOO_MANY_CONNECTIONS,
    LegacyProtocol,
    TextFrames,
    TransportProtocol,
)
from app.outage import TRY_AGAIN_LATER, UNAVAILABLE_REASON, outage

_STREAMED = ("multipart/mixed", "text/event-stream")
_UPLOAD_SLACK = 1024 * 1024


def _plain_json(request: Request) -> bool:
    """A JSON body, and an answer wanted as one JSON document (not a stream)."""
    headers = request.headers
    content_type = headers.get("content-type", "").lower()
    accept = headers.get("accept", "").lower()
    return content_type.startswith("application/json") and not any(
        kind in accept for kind in _STREAMED
    )


class _Posted:
    """What the view's execute_operation reads of a POST's request adapter."""

    method = "POST"


_POSTED: Any = _Posted()


def bearer_token(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _not_json(reason: str) -> json.JSONDecodeError:
    return json.JSONDecodeError(reason, "", 0)


def _loads(data: str | bytes) -> Any:
    """JSON as the standard library reads it (exact integers, for Decimal and Int), minus
    strings holding half a surrogate pair: no database can store one, so such text would
    fail deep inside a resolver. orjson reads nearly every body, five times faster, and
    refuses those; what it refuses the standard library reads (integers beyond 64 bits,
    NaN) or explains, and a body that holds a \\ud escape orjson refused stays refused."""
    raw = data if isinstance(data, bytes) else data.encode()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    value = json.loads(data)
    if b"\\ud" in raw or b"\\uD" in raw:
        orjson.loads(raw)
    return value


_MEMBER_TYPES: dict[str, tuple[type, ...]] = {
    "query": (str,),
    "operationName": (str,),
    "variables": (dict,),
    "extensions": (dict,),
}


def _check_members(operation: dict[str, Any]) -> None:
    # Strawberry checks some of these for a single operation, none for those of a batch.
    for name, types in _MEMBER_TYPES.items():
        member = operation.get(name)
        if member is not None and not isinstance(member, types):
            kind = "a string" if types == (str,) else "an object"
            raise RequestRefused(
                400, f"an operation's `{name}` must be {kind} or null", "BAD_REQUEST"
            )


class TandemGraphQL(GraphQL[Context, None]):
    websocket_adapter_class = TextFrames
    graphql_transport_ws_handler_class = TransportProtocol
    graphql_ws_handler_class = LegacyProtocol

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        super().__init__(
            schema,
            # GraphiQL reads the schema by introspection: without it, it could do nothing.
            graphql_ide="graphiql" if settings.introspection else None,
            # Only for persisted queries: execute_operation refuses GETs with a bare text.
            allow_queries_via_get=True,
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
            connection_init_wait_timeout=timedelta(seconds=settings.connection_init_seconds),
            multipart_uploads_enabled=True,
            # Pages on these origins may open a WebSocket too, as they may call over HTTP
            # (TANDEM_CORS_ORIGINS); other cross-origin handshakes are refused.
            allowed_origins=settings.cors_origins,
        )
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                # Live events may be written to this connection's socket at once.
                scope[SOCKET_WRITER] = SocketWriter.of(send)
                connections = self.runtime.hub.metrics.connections
                connections.inc()
                try:
                    await super().__call__(scope, receive, send)
                finally:
                    connections.dec()
                return
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        headers = request.headers
        answering = new_request_id(headers.get("x-request-id"))
        request_id.set(answering)  # this request's own task: nobody else's context
        try:
            request = self._bounded(request, headers, receive)
            if scope["method"] == "POST" and _plain_json(request):
                response = await self._post(request)
            else:
                response = await self.run(request)
        except HTTPException as error:
            response = refusal(error)
        except Exception as error:  # escaped the GraphQL layer: still JSON, never a traceback
            response = failure(error, answering)
        # Appended as it is: no earlier header of that name to replace (MutableHeaders would
        # look for one, lower-casing every header of the response).
        response.raw_headers.append((b"x-request-id", answering.encode()))
        await response(scope, receive, send)

    def _bounded(self, request: Request, headers: Headers, receive: Receive) -> Request:
        """The request, its body refused (413) past the limit: at once when its length says
        so, else while it is read, so a body that never ends is not held in memory."""
        settings = self.runtime.settings
        content_type = headers.get("content-type", "").lower()
        upload = content_type.startswith("multipart/form-data")
        # An upload: the file's own limit, and room for the operation and its map.
        limit = settings.max_upload_bytes + _UPLOAD_SLACK if upload else settings.max_body_bytes

        def too_large(holds: str) -> RequestRefused:
            what = "an upload's request body" if upload else "a request body"
            named = "" if upload else " (TANDEM_MAX_BODY_BYTES)"
            return RequestRefused(
                413,
                f"{what} may hold at most {limit} bytes{named}; this one holds {holds}",
                "REQUEST_TOO_LARGE",
            )

        length = headers.get("content-length")
        if length is not None and length.isdigit():
            if int(length) > limit:
                raise too_large(length)
            return request  # the server reads no more than the length says
        read = 0

        async def receive_at_most() -> Message:
            nonlocal read
            message = await receive()
            if message["type"] == "http.request":
                read += len(message.get("body", b""))
                if read > limit:
                    raise too_large("more")
            return message

        return Request(request.scope, receive_at_most)

    async def _post(self, request: Request) -> Response:
        """A POST with one JSON operation, the request nearly every client sends: the steps
        of the view's `run` for it, without its checks for other kinds of request (a third
        of the time of reading one opportunity went there)."""
        data = self.parse_json(await request.body())
        if not isinstance(data, dict):  # a batch: the view's own path (the body is kept)
            response: Response = await self.run(request)
            return response
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        request_data = GraphQLRequestData(
            query=data.get("query"),
            variables=data.get("variables"),
            operation_name=data.get("operationName"),
            extensions=data.get("extensions"),
            protocol="http",
        )
        result = await self.execute_operation(
            request, _POSTED, request_data, context, None, sub_response
        )
        assert isinstance(result, ExecutionResult)
        return self.create_response(await self.process_result(request, result), sub_response)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # Apollo Client's hashed GETs carry no query and accept */*: they name a document
        # in `extensions` and must run it, not get GraphiQL's page.
        return (
            super().should_render_graphql_ide(request)
            and request.query_params.get("extensions") is None
        )

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        if isinstance(request_data, list):
            context.batched = True
        elif (
            request_adapter.method == "GET"
            and request_data.query is not None
            and requested(request_data.extensions) is None
        ):
            # GET is for documents known by their hash (cacheable, short URLs); ad-hoc texts
            # go by POST.
            raise RequestRefused(
                400,
                "GET runs only persisted queries (with extensions.persistedQuery); "
                "send other queries with POST",
                "OPERATION_NOT_ALLOWED",
            )
        return await super().execute_operation(
            request, request_adapter, request_data, context, root_value, sub_response
        )

    def encode_json(self, data: object) -> str | bytes:
        # WebSocket frames are sent as text whatever this returns (websocket.py).
        return encode_json(data)

    def decode_json(self, data: str | bytes) -> object:
        # Strawberry turns only a JSONDecodeError into a 400 (HTTP) or a 4400 close
        # (WebSocket); bytes that are not UTF-8, absurd nesting, or a message that is not an
        # object must not become a 500 or a crashed socket.
        try:
            value = _loads(data)
        except (UnicodeDecodeError, RecursionError) as error:
            raise _not_json(f"not JSON ({error.__class__.__name__})") from None
        if not isinstance(value, dict):
            raise _not_json("expected a JSON object")
        return value

    def parse_json(self, data: str | bytes) -> Any:
        """An HTTP body: one operation (an object) or a batch of them (an array)."""
        try:
            value = _loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
            raise RequestRefused(
                400, f"the request body is not valid JSON ({error})", "INVALID_JSON"
            ) from None
        if isinstance(value, dict):
            _check_members(value)
            return value
        if not isinstance(value, list):
            raise RequestRefused(
                400,
                "the request body must be a JSON object with a `query` "
                "(or an array of such objects: a batch)",
                "BAD_REQUEST",
            )
        if not value:
            raise RequestRefused(400, "a batch must hold at least one operation", "BAD_REQUEST")
        most = limits.current().batch_operations
        if len(value) > most:
            raise RequestRefused(
                400,
                f"a batch may hold at most {most} operations, this one holds {len(value)}",
                "BATCH_TOO_LARGE",
            )
        if not all(isinstance(item, dict) for item in value):
            raise RequestRefused(
                400, "every operation in a batch must be a JSON object", "BAD_REQUEST"
            )
        for item in value:
            _check_members(item)
        return value

    async def authenticate(self, token: str | None, *, fresh: bool = False) -> Actor | None:
        """The token's user; `fresh`: read now, not remembered from a moment ago (for a
        connection that lives on, app/crm/users/recent.py)."""
        if token is None:
            return None
        presented = read_token(token)
        if presented is None:
            return None
        runtime = self.runtime
        actors = runtime.actors
        actor = None if fresh else actors.get(presented)
        if actor is None:
            read_in = recent.generation()
            async with runtime.reads() as session:
                actor = await load_actor_for_token(session, runtime.settings.secret_key, presented)
            if actor is None:
                return None
            actors.put(presented, actor, read_in)
        await runtime.last_uses.used(presented.token_id)
        return actor

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        address = request.client.host if request.client else None
        if isinstance(request, WebSocket):
            return Context(self.runtime, None, client_address=address, websocket=request)
        actor = await self.authenticate(bearer_token(request.headers.get("authorization")))
        return Context(self.runtime, actor, client_address=address, response=response)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if not isinstance(request, WebSocket):
            return await super().run(request, context, root_value)
        connection = await self.get_context(request, request)
        try:
            return await super().run(request, connection, root_value)
        finally:
            if connection.watch is not None:
                connection.watch.release()

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.connection_params or {}
        token = params.get("token")
        if not isinstance(token, str):
            header = params.get("Authorization") or params.get("authorization")
            token = bearer_token(header) if isinstance(header, str) else None
        websocket = context.websocket
        try:
            actor = await self.authenticate(token, fresh=True)
        except Exception as error:
            if not database_unavailable(error):
                raise
            # Not the client's fault, nor a reason to drop the socket without a word: a
            # close that says to come back (1013, Try Again Later).
            answering = new_request_id()
            said = servers_own(error, answering)
            outage.failed(error, f"a WebSocket's connection_init ({answering})", answering)
            if websocket is not None and websocket.application_state == WebSocketState.CONNECTED:
                await websocket.close(code=TRY_AGAIN_LATER, reason=UNAVAILABLE_REASON)
            raise ConnectionRejectionError(dict(said.formatted)) from None
        if actor is None:
            raise ConnectionRejectionError(
                {"message": "authentication required", "code": "UNAUTHENTICATED"}
            )
        most = self.runtime.settings.max_connections_per_user
        if context.watch is None and self.runtime.directory.watching(actor.user_id) >= most:
            reason = f"too many connections for this user (at most {most})"
            if websocket is not None and websocket.application_state == WebSocketState.CONNECTED:
                # Its own code, not the protocols' 4403: the token is good, the user busy.
                await websocket.close(code=TOO_MANY_CONNECTIONS, reason=reason)
            raise ConnectionRejectionError({"message": reason, "code": "TOO_MANY_CONNECTIONS"})
        context.set_actor(actor)

        async def end_connection() -> None:
            # The user was deactivated or their password changed: the connection's rights
            # are gone, and it must not stay open and silent.
            if websocket is not None and websocket.application_state == WebSocketState.CONNECTED:
                await websocket.close(code=FORBIDDEN, reason="Forbidden")

        if context.watch is not None:
            context.watch.release()
        context.watch = self.runtime.directory.watch(actor, end_connection)
        return {"userId": actor.user_id}
