"""What /graphql answers a request it cannot run at all, as GraphQL JSON: never plain text,
never a traceback. A refusal (the client's: a body too large, not JSON, a wrong method) is a
4xx with its own `extensions.code`; a failure outside any field (the server's: the database
away, a bug) is a 503 to retry or the masked internal error, with the request's id.
"""

from __future__ import annotations

import json
import logging

import orjson
from cross_web import HTTPException
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from app.graphql.masking import servers_own
from app.outage import RETRY_AFTER_SECONDS, outage

log = logging.getLogger(__name__)


class RequestRefused(HTTPException):
    """A request refused before any GraphQL runs, with the code the client sees."""

    def __init__(self, status_code: int, reason: str, code: str) -> None:
        super().__init__(status_code, reason)
        self.code = code


def _code(error: HTTPException) -> str:
    if isinstance(error, RequestRefused):
        return error.code
    cause = error.__cause__
    if isinstance(cause, InvalidOperationTypeError):
        return "OPERATION_NOT_ALLOWED"
    if isinstance(cause, CannotGetOperationTypeError):
        return "UNKNOWN_OPERATION"
    if isinstance(cause, MissingQueryError):
        return "MISSING_QUERY"
    if isinstance(cause, json.JSONDecodeError):
        return "INVALID_JSON"
    return {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(error.status_code, "BAD_REQUEST")


def refusal(error: HTTPException) -> Response:
    body = {"errors": [{"message": error.reason, "extensions": {"code": _code(error)}}]}
    headers = {"Allow": "GET, POST"} if error.status_code == 405 else None
    return Response(
        orjson.dumps(body),
        status_code=error.status_code,
        media_type="application/json",
        headers=headers,
    )


def failure(error: Exception, answering: str) -> Response:
    """The answer to a request that failed outside any field (reading its user, taking a
    connection): 503 while the database cannot be reached, else the masked internal error."""
    said = servers_own(error, answering)
    unreachable = said.extensions is not None and said.extensions["code"] == "DATABASE_UNAVAILABLE"
    if unreachable:
        outage.failed(error, f"request {answering}", answering)  # said once per outage
    else:
        log.error("unexpected error (request %s)", answering, exc_info=error)
    return Response(
        orjson.dumps({"errors": [said.formatted]}),
        status_code=503 if unreachable else 500,
        media_type="application/json",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)} if unreachable else None,
    )
