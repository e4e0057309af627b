"""The WebSocket side of /graphql, as the clients' libraries expect it.

- Every message is a text frame. Strawberry sends bytes as binary frames, and the encoder
  returns bytes (orjson); the npm `graphql-ws` client, Python's `gql` and a browser's
  WebSocket all refuse or misread binary frames, though `json.loads` would accept them.
- The legacy `graphql-ws` protocol refuses a bad token with 4403, as graphql-transport-ws does,
  not with 1011 (which says the server failed), and a malformed message closes with 4400. It
  runs queries and mutations as well as subscriptions, as that protocol allows (clients such
  as gql send them over the socket they already hold).
- An operation may name its document by a persisted-query hash instead of sending its text.
  Strawberry's handlers drop a message's `extensions`, so the document is resolved here, as
  the message arrives (app/graphql/persisted/resolution.py), and a refusal is answered as the
  protocol answers any operation that cannot start: an `error` message for its id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import Message
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage,
    OperationMessage,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType

from app.graphql.context import Context
from app.graphql.executor.events import EncodedData, Writer, live_writer
from app.graphql.masking import new_request_id, request_id
from app.graphql.persisted.protocol import Refused, requested
from app.graphql.socket_liveness import heard
from app.graphql.socket_writes import SOCKET_WRITER, SocketWriter

# Close codes both protocols use: 4400 a malformed message, 4403 not (or no longer) allowed,
# 4408 no connection_init in time; 1008 (policy violation): too many connections of one user.
MALFORMED = 4400
FORBIDDEN = 4403
INIT_TIMEOUT = 4408
TOO_MANY_CONNECTIONS = 1008
# 4008: the client did not take what was sent to it within SLOW_CLIENT_SECONDS (it stopped
# reading); it reconnects and resumes with `since`. The close frame follows what it has not
# read yet; a client that does not read within CLOSE_GRACE_SECONDS more is dropped.
TOO_SLOW = 4008
SLOW_CLIENT_SECONDS = 10.0
CLOSE_GRACE_SECONDS = 10.0


def too_many_subscriptions(limit: int) -> GraphQLError:
    return GraphQLError(
        f"a connection may run at most {limit} operations at once "
        "(TANDEM_MAX_SUBSCRIPTIONS_PER_CONNECTION); complete one, or open another connection",
        extensions={"code": "TOO_MANY_SUBSCRIPTIONS", "limit": limit},
    )


class TextFrames(ASGIWebSocketAdapter):
    async def close(self, code: int, reason: str) -> None:
        # Closed already, with a code of its own (too many connections, app/graphql/
        # endpoint.py): the handler's own close after a refusal has nothing left to do.
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            return
        await super().close(code, reason)

    async def send_json(self, message: Mapping[str, object]) -> None:
        if self.ws.application_state != WebSocketState.CONNECTED:
            # Closed by the server meanwhile (a revoked user): nothing more may be sent.
            raise WebSocketDisconnected
        text = _shared_text(message)
        if text is None:
            encoded = self.view.encode_json(message)
            text = encoded.decode() if isinstance(encoded, bytes) else encoded
        await self._unless_too_slow()
        try:
            await self.ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def _unless_too_slow(self) -> None:
        """Close with TOO_SLOW a client whose unread data has held our writes too long: it
        would hold its operations' tasks (and their events) for as long as it liked, and end
        only by the keepalive, without learning that it has to resume. Its subscriptions'
        events meanwhile go on for the others, and its own overflow to the outbox (bounded)."""
        socket: SocketWriter | None = self.ws.scope.get(SOCKET_WRITER)
        if socket is None or await socket.drained(SLOW_CLIENT_SECONDS):
            return
        if self.ws.application_state == WebSocketState.CONNECTED:
            socket.close_now(TOO_SLOW, "too slow: resume with since", CLOSE_GRACE_SECONDS)
            runtime: Any = getattr(self.view, "runtime", None)  # TandemGraphQL's
            if runtime is not None:
                runtime.hub.metrics.slow_clients_closed.inc()
            self.ws.application_state = WebSocketState.DISCONNECTED
        raise WebSocketDisconnected


def _shared_text(message: Mapping[str, Any]) -> str | None:
    """A live event's message from the payload JSON its subscribers share (encoded once per
    event and selection, app/graphql/executor/events.py), or None to encode it whole."""
    payload = message.get("payload")
    if message.get("type") not in ("next", "data") or not isinstance(payload, dict):
        return None
    operation_id = message["id"]
    if not isinstance(operation_id, str):
        return None
    data = payload.get("data")
    # None when it has no shared JSON, or the message carries extensions of its own.
    if not isinstance(data, EncodedData) or not data.payload or "extensions" in payload:
        return None
    return _MESSAGE_HEADS[message["type"]] + json_string(operation_id) + data.text_tail()


_MESSAGE_HEADS = {"next": '{"type":"next","id":', "data": '{"type":"data","id":'}


def json_string(text: str) -> str:
    """`text` as a JSON string."""
    return orjson.dumps(text).decode()


def malformed(message: Mapping[str, Any], operation_types: tuple[str, ...]) -> str | None:
    """Why a client message cannot be handled, or None. Checked before Strawberry's handlers,
    which index into the message and would fail on a payload of the wrong shape."""
    kind = message.get("type")
    if not isinstance(kind, str):
        return "a message needs a string type"
    with_id = (*operation_types, "complete", "stop")
    if kind in with_id and not isinstance(message.get("id"), str):
        return f"a {kind} message needs a string id"
    if kind in operation_types:
        payload = message.get("payload")
        if not isinstance(payload, dict):
            return f"a {kind} message needs a payload with a query string"
        query = payload.get("query")
        named = query is None and requested(payload.get("extensions")) is not None
        if not isinstance(query, str) and not named:
            return f"a {kind} message needs a payload with a query string"
        if not isinstance(payload.get("variables"), dict | None):
            return "variables must be an object"
        if not isinstance(payload.get("operationName"), str | None):
            return "operationName must be a string"
        if not isinstance(payload.get("extensions"), dict | None):
            return "extensions must be an object"
    return None


def resolved(context: Context, payload: Any) -> GraphQLError | None:
    """Put the document a payload (as malformed() admitted it) names into its `query`, or
    say why it cannot run: the error to answer."""
    try:
        payload["query"] = context.runtime.persisted.resolve(
            payload.get("query"), payload.get("extensions"), context.actor
        )
    except Refused as refused:
        return refused.error
    return None


class TransportProtocol(BaseGraphQLTransportWSHandler[Context, None]):
    """The `graphql-transport-ws` subprotocol (the npm graphql-ws library's)."""

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        # In the operation's own task: its stream may hand a live event's result straight to
        # the socket, in the hub's turn (app/graphql/executor/events.py, live_writer).
        request_id.set(new_request_id())  # the operation's own task
        websocket = self.websocket
        socket = None
        if isinstance(websocket, TextFrames):
            socket = websocket.ws.scope.get(SOCKET_WRITER)
        if socket is not None:
            live_writer.set(self._writer(operation, socket))
        # The client gone, or closed as too slow (TextFrames): its operations just end.
        with suppress(WebSocketDisconnected):
            await super().run_operation(operation)

    async def handle_task_exception(self, error: Exception) -> None:
        if not isinstance(error, WebSocketDisconnected):  # no bug, no traceback
            await super().handle_task_exception(error)

    def _writer(self, operation: Operation[Context, None], socket: SocketWriter) -> Writer:
        """Writes the `next` message Strawberry's handler would send for a result whose
        message ends as `tail`, at once, while the operation runs."""
        head = (_MESSAGE_HEADS["next"] + json_string(operation.id)).encode()
        operations = self.operations
        operation_id = operation.id
        write_text = socket.write_text

        def write_now(tail: bytes) -> bool:
            if operation.completed or operations.get(operation_id) is not operation:
                return False  # stopped by the client: its task is being cancelled
            return write_text(head, tail)

        return write_now

    async def handle_message(self, message: Message) -> None:
        if isinstance(self.websocket, TextFrames):
            heard(self.websocket.ws.scope)  # the client is there (app/graphql/socket_liveness.py)
        reason = malformed(message, ("subscribe",))
        if reason is not None:
            await self.handle_invalid_message(reason)
            return
        # Before acknowledgement, or with an id in use, Strawberry closes the socket.
        if (
            message["type"] == "subscribe"
            and self.connection_acknowledged
            and message["id"] not in self.operations
        ):
            most = self.max_subscriptions_per_connection
            if most is not None and len(self.operations) >= most:
                await self.send_message(
                    {
                        "id": message["id"],
                        "type": "error",
                        "payload": [too_many_subscriptions(most).formatted],
                    }
                )
                return
            error = resolved(self.context, message["payload"])
            if error is not None:
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [error.formatted]}
                )
                return
        await super().handle_message(message)


class LegacyProtocol(BaseGraphQLWSHandler[Context, None]):
    """The legacy `graphql-ws` subprotocol (subscriptions-transport-ws)."""

    async def handle(self) -> None:
        # The protocol names no deadline for connection_init; without one, a socket that
        # never sends it is held open for nothing. The same as graphql-transport-ws's.
        deadline = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            deadline.cancel()

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            with suppress(WebSocketDisconnected, RuntimeError):
                await self.websocket.close(
                    code=INIT_TIMEOUT, reason="Connection initialisation timeout"
                )

    async def handle_message(self, message: OperationMessage) -> None:
        reason = malformed(message, ("start",))
        if reason is not None:
            await self.websocket.close(code=MALFORMED, reason=reason)
            return
        if message["type"] == "start" and self.connection_acknowledged:
            most = self.max_subscriptions_per_connection
            if most is not None and message["id"] not in self.tasks and len(self.tasks) >= most:
                await self.send_message(
                    {
                        "type": "error",
                        "id": message["id"],
                        "payload": too_many_subscriptions(most).formatted,
                    }
                )
                return
            error = resolved(self.context, message["payload"])
            if error is not None:
                await self.send_message(
                    {"type": "error", "id": message["id"], "payload": error.formatted}
                )
                return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.connection_acknowledged:
            return  # a second init must not authenticate (and register) the connection again
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            await self.send_message({"type": "connection_error"})
            await self.websocket.close(code=MALFORMED, reason="Invalid connection init payload")
            return
        self.context.connection_params = payload
        try:
            acknowledged = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError as rejected:
            await self.send_message({"type": "connection_error", "payload": rejected.payload})
            await self.websocket.close(code=FORBIDDEN, reason="Forbidden")
            return
        if isinstance(acknowledged, dict):
            await self.send_message({"type": "connection_ack", "payload": acknowledged})
        else:
            await self.send_message({"type": "connection_ack"})
        self.connection_acknowledged = True
        if self.keep_alive:
            self.keep_alive_task = asyncio.create_task(self.handle_keep_alive())

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        request_id.set(new_request_id())  # the operation's own task
        try:
            results = await self.schema.stream(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=self.context,
                root_value=self.root_value,
                allowed_operation_types=tuple(OperationType),
            )
            self.subscriptions[operation_id] = results
            first = True
            async for result in results:
                if first and isinstance(result, PreExecutionError) and result.errors:
                    await self.send_message(
                        {"type": "error", "id": operation_id, "payload": result.errors[0].formatted}
                    )
                    return
                first = False
                # Incremental delivery (@defer, @stream) is not enabled in this schema.
                assert isinstance(result, ExecutionResult)
                await self.send_data_message(result, operation_id)
            await self.send_message({"type": "complete", "id": operation_id})
        except WebSocketDisconnected:
            pass  # the client gone, or closed as too slow (TextFrames): nothing to tell
        except asyncio.CancelledError:
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            # Over, by itself or stopped: it no longer counts against the connection's limit.
            self.subscriptions.pop(operation_id, None)
            self.tasks.pop(operation_id, None)
