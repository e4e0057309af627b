"""What a client sees of an error: its own mistakes as they are, the server's masked.

Errors raised on purpose are GraphQLErrors with a code. Anything else that escapes a resolver
is a bug whose details (SQL, paths, a stack) must never reach the client: it is logged with
its traceback and answered as "Internal error." with code INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

log = logging.getLogger(__name__)

# Strawberry's refusals of an operation it will not run (a query on a subscription-only
# transport, an operation name the document lacks): the client's mistake, said as such.
_REFUSALS: dict[type[Exception], str] = {
    InvalidOperationTypeError: "OPERATION_NOT_ALLOWED",
    CannotGetOperationTypeError: "UNKNOWN_OPERATION",
    MissingQueryError: "MISSING_QUERY",
}


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
    return GraphQLError(
        message="Internal error.",
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR"},
    )


def log_unexpected(errors: list[GraphQLError]) -> None:
    # Client mistakes (bad token, bad ID, syntax) are answered, not logged as failures;
    # only errors that escaped a resolver are the server's, with their traceback.
    for error in errors:
        if is_unexpected(error):
            log.error("unexpected error at %s", error.path, exc_info=error.original_error)


def as_client_sees(errors: list[GraphQLError]) -> list[GraphQLError]:
    """`errors` logged where they are the server's, and masked where they must be."""
    log_unexpected(errors)
    return [
        masked(error) if is_unexpected(error) or refusal_code(error) else error for error in errors
    ]
