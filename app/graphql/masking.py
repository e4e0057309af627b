"""What a client sees of an error: its own mistakes as they are, the server's masked.

Errors raised on purpose are GraphQLErrors with a code. Anything else that escapes a resolver
is a bug whose details (SQL, paths, a stack) must never reach the client: it is logged with
its traceback and answered as "Internal error." with code INTERNAL_SERVER_ERROR, and the id of
the request in both (`extensions.requestId`), so a user's report finds its log line.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from contextvars import ContextVar

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from app.db import database_unavailable
from app.outage import outage

log = logging.getLogger(__name__)

request_id: ContextVar[str | None] = ContextVar("tandem_request_id", default=None)
"""The HTTP request or WebSocket operation being answered (set in the task that answers it:
app/graphql/endpoint.py, app/graphql/websocket.py)."""

_GIVEN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# This process's own ids: a random prefix and a count (a random number each took a system
# call per request).
_PREFIX = secrets.token_hex(3)
_COUNT = itertools.count(1)


def new_request_id(given: str | None = None) -> str:
    """The id a proxy gave the request (`X-Request-Id`), when it is a plain one; else new."""
    if given is not None and _GIVEN_ID.fullmatch(given):
        return given
    return f"{_PREFIX}{next(_COUNT):010x}"


# Strawberry's refusals of an operation it will not run (a query on a subscription-only
# transport, an operation name the document lacks): the client's mistake, said as such.
_REFUSALS: dict[type[Exception], str] = {
    InvalidOperationTypeError: "OPERATION_NOT_ALLOWED",
    CannotGetOperationTypeError: "UNKNOWN_OPERATION",
    MissingQueryError: "MISSING_QUERY",
}


def servers_own(error: BaseException | None, answering: str | None) -> GraphQLError:
    """What a client sees of an error that is the server's, not its own: the database out of
    reach (a moment to wait), or a bug said as nothing more than that; with the request's id,
    which the log line has too."""
    extensions: dict[str, object] = {
        "code": "DATABASE_UNAVAILABLE" if database_unavailable(error) else "INTERNAL_SERVER_ERROR"
    }
    if answering is not None:
        extensions["requestId"] = answering
    if extensions["code"] == "DATABASE_UNAVAILABLE":
        message = "the database cannot be reached just now; try again in a moment"
    else:
        message = "Internal error."
    return GraphQLError(message, extensions=extensions)


def refusal_code(error: GraphQLError) -> str | None:
    return _REFUSALS.get(type(error.original_error)) if error.original_error else None


def is_unexpected(error: GraphQLError) -> bool:
    # Errors we raise on purpose are GraphQLErrors with a code; anything else escaping a
    # resolver is a bug whose details (SQL, paths, stack) must never reach the client.
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, GraphQLError)
        and refusal_code(error) is None
    )


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(
            should_mask_error=lambda error: is_unexpected(error) or bool(refusal_code(error)),
            error_message="Internal error.",
        )

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return masked(error)


def masked(error: GraphQLError) -> GraphQLError:
    code = refusal_code(error)
    if code is not None:
        return GraphQLError(error.message, extensions={"code": code})
    said = servers_own(error.original_error, request_id.get())
    unreachable = said.extensions is not None and said.extensions["code"] == "DATABASE_UNAVAILABLE"
    return GraphQLError(
        message=said.message,
        nodes=None if unreachable else error.nodes,
        source=None if unreachable else error.source,
        positions=None if unreachable else error.positions,
        path=error.path,
        extensions=said.extensions,
    )


def log_unexpected(errors: list[GraphQLError]) -> None:
    # Client mistakes (bad token, bad ID, syntax) are answered, not logged as failures;
    # only errors that escaped a resolver are the server's, with their traceback.
    for error in errors:
        if is_unexpected(error) and database_unavailable(error.original_error):
            # Not a bug: said once per outage (app/outage.py), not a line per request.
            answering = request_id.get()
            outage.failed(error.original_error, f"request {answering} at {error.path}", answering)
        elif is_unexpected(error):
            log.error(
                "unexpected error at %s (request %s)",
                error.path,
                request_id.get(),
                exc_info=error.original_error,
            )


def as_client_sees(errors: list[GraphQLError]) -> list[GraphQLError]:
    """`errors` logged where they are the server's, and masked where they must be."""
    log_unexpected(errors)
    return [
        masked(error) if is_unexpected(error) or refusal_code(error) else error for error in errors
    ]
