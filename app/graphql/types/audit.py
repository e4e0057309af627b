"""Entries of the audit log, as admins read them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from app.crm.users import queries as users
from app.graphql.batch import Related, batched
from app.graphql.ids import encode_id
from app.graphql.scalars import JSON
from app.graphql.types.people import User
from app.graphql.types.rows import (
    Computed,
    EnumColumn,
    RowBacked,
    check_row_fields,
    columns,
    node_id,
)


@strawberry.enum(description="Where an audited change came from.")
class AuditVia(Enum):
    API = strawberry.enum_value("API", description="A user, through the API.")
    CLI = strawberry.enum_value(
        "CLI", description="The `tandem` command, which acts with the server's own authority."
    )


SUBJECT_TYPES = ("User", "Team", "Stage", "Product", "View", "AccessToken")
"""The types of the records whose changes are audited (by their global IDs' type names)."""

_REFERENCES = {
    "userId": "User",
    "ownerId": "User",
    "memberIds": "User",
    "teamId": "Team",
    "folderIds": "Folder",
}
"""Fields of an entry's values that hold database ids, and the types whose global IDs the
API shows instead."""


def _shown(values: dict[str, Any] | None) -> JSON | None:
    if values is None:
        return None
    shown = dict(values)
    for key, type_name in _REFERENCES.items():
        value = shown.get(key)
        if isinstance(value, list):
            shown[key] = [encode_id(type_name, pk) for pk in value]
        elif value is not None:
            shown[key] = encode_id(type_name, value)
    return JSON(shown)


@strawberry.type(
    description="One change to what admins manage: who made it, when, and the changed "
    "record's fields before and after it."
)
class AuditEntry(RowBacked):
    id: strawberry.ID
    at: datetime = strawberry.field(description="When the change's transaction began.")
    via: AuditVia
    action: str = strawberry.field(
        description="What was done, as `<subject>.<verb>`: user.create, user.update, "
        "user.password_change, team.create, team.rename, team.delete, team.member_add, "
        "team.member_remove, stage.create, stage.update, stage.delete, product.create, "
        "product.update, view.share, view.update, view.unshare, view.delete, token.create, "
        "token.revoke."
    )
    subject_type: str = strawberry.field(description="The changed record's type: User, Team, ...")
    subject_id: strawberry.ID = strawberry.field(description="The changed record's ID.")
    before: JSON | None = strawberry.field(
        description="The record's fields before the change, by their API names, references "
        "as IDs: all of them for a deletion (a team member's removal: its userId), those "
        "that changed for an update; null for a creation and a password change."
    )
    after: JSON | None = strawberry.field(
        description="Its fields after the change: all of them for a creation (a team "
        "member's addition: its userId), those that changed for an update; null for a "
        "deletion and a password change. Never a password, a password hash or a token."
    )
    row: strawberry.Private[Any]

    @batched(description="Who made the change; null for the command line (via CLI).")
    async def actor(parents: list[AuditEntry], info: strawberry.Info) -> list[User | None]:
        return await _ACTOR.of(info, parents)


_ACTOR = Related("actor_id", users.users_by_id, User.of)

AuditEntry.ROW_FIELDS = {
    "id": node_id("AuditEntry"),
    **columns("at", "action", "subject_type"),
    "via": EnumColumn("via", AuditVia),
    "subject_id": Computed(
        lambda r: strawberry.ID(encode_id(r.subject_type, r.subject_id)),
        "subject_type",
        "subject_id",
    ),
    "before": Computed(lambda r: _shown(r.before), "before"),
    "after": Computed(lambda r: _shown(r.after), "after"),
}
AuditEntry.ROW_USES = {"actor": ("actor_id",)}
AuditEntry.RELATED = {"actor": _ACTOR}
check_row_fields(AuditEntry)
