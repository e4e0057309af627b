"""Documents: files attached to an opportunity, kept in the database.

The database holds the bytes (table document_contents), so every server process can serve
every file with no shared disk or object store to run, and a backup of the database is a
backup of the files. A declared content type is checked against the file's leading bytes
for the formats that have a signature, and is never trusted when serving: see `served_as`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.activities.models import Activity, DocumentContent
from app.crm.activities.services import add_activity
from app.crm.actor import Actor, live_and_visible
from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities.models import Opportunity
from app.crm.unit import Unit
from app.crm.validation import required_text

_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")

# Leading bytes of formats that have them: a file declared as one of these must start so.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "application/zip": (b"PK\x03\x04", b"PK\x05\x06"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (b"PK\x03\x04",),
}

# Types a browser would run or render actively; they are only ever served as downloads.
_ACTIVE = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/javascript",
    "application/javascript",
    "application/ecmascript",
    "text/xml",
    "application/xml",
}


def check_content_type(declared: str | None, content: bytes) -> str:
    content_type = (declared or "application/octet-stream").split(";")[0].strip().lower()
    if not _CONTENT_TYPE.match(content_type):
        raise DomainError(ErrorCode.INVALID, "contentType is not a valid media type", ["file"])
    signatures = _SIGNATURES.get(content_type)
    if signatures and not content.startswith(signatures):
        raise DomainError(ErrorCode.INVALID, f"the file's content is not {content_type}", ["file"])
    return content_type


def served_as(content_type: str) -> str:
    """What a download is labelled: active types as opaque bytes."""
    return "application/octet-stream" if content_type in _ACTIVE else content_type


async def add_document(
    unit: Unit,
    opportunity_id: int,
    *,
    name: str,
    content_type: str | None,
    content: bytes,
    max_bytes: int,
    company_ids: Sequence[int] = (),
    contact_ids: Sequence[int] = (),
) -> Activity:
    if len(content) > max_bytes:
        raise DomainError(
            ErrorCode.TOO_LARGE, f"the file is larger than the limit of {max_bytes} bytes", ["file"]
        )
    fields: dict[str, Any] = {
        "title": required_text("name", name.replace("/", "_").replace("\\", "_"), max_length=200),
        "content_type": check_content_type(content_type, content),
        "size_bytes": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    activity = await add_activity(
        unit, opportunity_id, "DOCUMENT", None, fields, company_ids, contact_ids
    )
    unit.session.add(DocumentContent(activity_id=activity.id, content=content))
    return activity


async def download(
    session: AsyncSession, actor: Actor, activity_id: int
) -> tuple[str, str, bytes] | None:
    """(file name, content type, bytes) of a document the actor may see, else None."""
    found = (
        await session.execute(
            select(Activity.title, Activity.content_type, DocumentContent.content)
            .join(DocumentContent, DocumentContent.activity_id == Activity.id)
            .join(Opportunity, Opportunity.id == Activity.opportunity_id)
            .where(
                Activity.id == activity_id,
                Activity.kind == "DOCUMENT",
                Activity.deleted_at.is_(None),
                live_and_visible(actor),
            )
        )
    ).first()
    if found is None:
        return None
    return found.title, found.content_type, found.content
