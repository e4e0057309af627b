"""Domain errors with stable codes.

A service raises one of these for an expected failure; the unit of work rolls back, and the API
turns it into a `UserError { field, code, message }`. The codes are the API's error vocabulary.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE = "DUPLICATE"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    IN_USE = "IN_USE"
    NOT_EMPTY = "NOT_EMPTY"
    INVALID_MOVE = "INVALID_MOVE"
    INVALID_STATE = "INVALID_STATE"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_ID = "INVALID_ID"
    TOO_LARGE = "TOO_LARGE"
    NOT_EDITABLE = "NOT_EDITABLE"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    BUSY = "BUSY"
    # An @mention of a user or team who cannot see the opportunity.
    MENTION_NOT_ALLOWED = "MENTION_NOT_ALLOWED"


class DomainError(Exception):
    """An expected failure: nothing was changed, the caller gets a clear reason."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        field: list[str] | None = None,
        *,
        current: Any = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        # For CONFLICT: the record as it stands now, so the client can merge without a re-read.
        self.current = current
        # For refusals that pass with time (a throttle): seconds until trying again is useful.
        self.retry_after = retry_after


def not_found(what: str, field: str | None = None) -> DomainError:
    # Same message whether the record is missing or hidden: visibility must not leak.
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found", [field] if field else None)


def forbidden(message: str) -> DomainError:
    return DomainError(ErrorCode.FORBIDDEN, message)


def check_version(what: str, version: int, expected: int | None, current: Any = None) -> None:
    """A stale `expected` version is a CONFLICT: someone else changed the record since the
    caller read it, and nothing may be overwritten. `current` lets the API return the record
    as it stands."""
    if expected is not None and version != expected:
        raise DomainError(
            ErrorCode.CONFLICT,
            f"the {what} was changed by someone else (version {version}, you expected "
            f"{expected}); nothing was changed",
            ["expectedVersion"],
            current=current,
        )
