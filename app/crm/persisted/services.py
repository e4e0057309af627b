"""Registering and removing persisted documents: admins only.

Whether a document is acceptable (it parses and validates against the schema) is the API's
knowledge, not the domain's: the caller passes that check in.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy.exc import IntegrityError

from app.crm.errors import DomainError, ErrorCode, not_found
from app.crm.persisted.hashes import document_hash, is_hash
from app.crm.persisted.models import PersistedQuery
from app.crm.unit import Unit
from app.crm.users.services import require_admin
from app.crm.validation import required_text

MAX_DOCUMENT_CHARS = 100_000
"""Longer than any real operation; the API's token limit refuses most documents sooner."""

DocumentCheck = Callable[[str], str | None]
"""Why a document cannot run (a parse or validation error), or None."""


def check_document(document: str, check: DocumentCheck) -> str:
    if not document.strip():
        raise DomainError(ErrorCode.REQUIRED, "document must not be empty", ["document"])
    if len(document) > MAX_DOCUMENT_CHARS:
        raise DomainError(
            ErrorCode.TOO_LONG,
            f"document is longer than {MAX_DOCUMENT_CHARS} characters",
            ["document"],
        )
    if "\x00" in document:
        raise DomainError(ErrorCode.INVALID, "document contains a NUL character", ["document"])
    problem = check(document)
    if problem is not None:
        raise DomainError(ErrorCode.INVALID, f"document cannot run: {problem}", ["document"])
    return document


async def register(unit: Unit, *, document: str, name: str, check: DocumentCheck) -> PersistedQuery:
    """The document stored under its hash; DUPLICATE when that hash is registered already."""
    require_admin(unit)
    cleaned_name = required_text("name", name, max_length=200)
    text = check_document(document, check)
    key = document_hash(text)
    existing = await unit.session.get(PersistedQuery, key)
    if existing is not None:
        raise _duplicate(existing.name)
    row = PersistedQuery(
        hash=key,
        document=text,
        name=cleaned_name,
        created_by=unit.actor.user_id if unit.actor is not None else None,
    )
    unit.session.add(row)
    try:
        await unit.session.flush()
    except IntegrityError:
        # Registered by someone else since the read above.
        raise _duplicate(None) from None
    return row


async def remove(unit: Unit, hash: str, *, from_directory: Collection[str] = ()) -> None:
    """Remove a registered document. `from_directory`: hashes the server read from files,
    which only removing the file can remove."""
    require_admin(unit)
    if not is_hash(hash):
        raise DomainError(
            ErrorCode.INVALID, "hash must be 64 lowercase hexadecimal characters", ["hash"]
        )
    row = await unit.session.get(PersistedQuery, hash)
    if row is None:
        if hash in from_directory:
            raise DomainError(
                ErrorCode.NOT_EDITABLE,
                "this document comes from TANDEM_PERSISTED_QUERIES_DIR: remove its file",
                ["hash"],
            )
        raise not_found("persisted query", "hash")
    await unit.session.delete(row)


def _duplicate(name: str | None) -> DomainError:
    known = f" as {name!r}" if name else ""
    return DomainError(
        ErrorCode.DUPLICATE, f"this document is registered already{known}", ["document"]
    )
