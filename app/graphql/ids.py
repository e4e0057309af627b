"""Opaque global IDs: base64("<Type>:<database id>"), per the Relay convention."""

from __future__ import annotations

import base64
import binascii

from app.crm.errors import DomainError, ErrorCode
from app.memo import Memo

NODE_TYPES = (
    "Opportunity",
    "Company",
    "Contact",
    "User",
    "Team",
    "Folder",
    "Stage",
    "Participant",
    "LostReason",
    "Activity",
    "Product",
    "Order",
    "OrderLine",
    "View",
    "Notification",
)


_ENCODED: dict[str, Memo[int, str]] = {name: Memo(50_000) for name in NODE_TYPES}
"""Recent IDs by type and database id: every page shows its rows' IDs and their owners' and
stages', the same ones again and again, and encoding one costs more than finding it here."""


def encode_id(type_name: str, pk: int) -> str:
    known = _ENCODED.get(type_name)
    if known is None:
        return base64.b64encode(f"{type_name}:{pk}".encode()).decode()
    found = known.get(pk)
    if found is None:
        found = known.keep(pk, base64.b64encode(f"{type_name}:{pk}".encode()).decode())
    return found


def decode_any(
    global_id: str, field: str = "id", known: tuple[str, ...] = NODE_TYPES
) -> tuple[str, int]:
    """(type name, database id) of a node (or of a type in `known`), or an INVALID_ID error
    naming `field`."""
    try:
        if len(global_id) > 100:
            raise ValueError
        type_name, _, pk = base64.b64decode(global_id, validate=True).decode().partition(":")
        if type_name not in known or not pk.isdigit() or len(pk) > 18:
            raise ValueError
        return type_name, int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise DomainError(ErrorCode.INVALID_ID, f"{field} is not a valid ID", [field]) from None


def decode_id(global_id: str, expected: str | tuple[str, ...], field: str = "id") -> int:
    allowed = (expected,) if isinstance(expected, str) else expected
    # Some objects have IDs of this form without being nodes (an access token).
    type_name, pk = decode_any(global_id, field, (*NODE_TYPES, *allowed))
    if type_name not in allowed:
        raise DomainError(
            ErrorCode.INVALID_ID,
            f"{field} must be the ID of a {' or '.join(allowed)}, not of a {type_name}",
            [field],
        )
    return pk


def decode_optional(global_id: str | None, expected: str, field: str) -> int | None:
    return None if global_id is None else decode_id(global_id, expected, field)
