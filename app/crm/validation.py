"""Checks shared by every service: text lengths, ranges, required values."""

from __future__ import annotations

from functools import cache

from app.crm.errors import DomainError, ErrorCode


@cache
def api_name(key: str) -> str:
    """The field as clients name it (stageId) for a domain key (stage_id): errors and change
    records speak the API's language. (The keys are the domain's few field names.)"""
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


def clean_text(
    field: str, value: str | None, *, max_length: int, required: bool = False
) -> str | None:
    """Strip surrounding blanks; blank optional text becomes None, blank required text fails."""
    if value is None:
        if required:
            raise DomainError(ErrorCode.REQUIRED, f"{field} is required", [field])
        return None
    cleaned = value.strip()
    if not cleaned:
        if required:
            raise DomainError(ErrorCode.REQUIRED, f"{field} must not be empty", [field])
        return None
    if len(cleaned) > max_length:
        raise DomainError(
            ErrorCode.TOO_LONG, f"{field} is longer than {max_length} characters", [field]
        )
    if "\x00" in cleaned:
        raise DomainError(ErrorCode.INVALID, f"{field} contains a NUL character", [field])
    return cleaned


def required_text(field: str, value: str | None, *, max_length: int) -> str:
    cleaned = clean_text(field, value, max_length=max_length, required=True)
    assert cleaned is not None
    return cleaned


def check_range(field: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"{field} must be between {low} and {high}", [field]
        )
    return value
