"""Recording what admins change (README, Security: Audit).

A service records an entry on its unit of work once the change is made; the unit flushes
it with the change, so the entry exists exactly when the change is committed (a refused or
rolled-back change leaves none). The actor is the unit's; a unit without one is the command
line.

An entry's `before` and `after` are the record's fields as plain JSON, named as the API
names them (`isActive`, `defaultProbability`): the whole record when it is created (`after`)
or deleted (`before`), only the fields that changed when it is updated. References to other
records are their database ids (`userId`, `ownerId`, `teamId`, `memberIds`), which the API
shows as global IDs (app/graphql/types/audit.py lists the keys it knows). Never a password,
a password hash or a token or its secret: a password change is recorded as its action alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.crm.audit.models import AuditEntry
from app.crm.jsonable import jsonable
from app.crm.unit import Unit
from app.crm.validation import api_name

_SECRETS = frozenset({"password", "passwordHash", "token", "secret", "secretHash"})
"""Keys no entry may hold: the log is read by every admin and kept for good, so a secret in
it would outlive any rotation of it."""


def record(
    unit: Unit,
    action: str,
    subject_type: str,
    subject_id: int,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record `action` on the record `subject_type` `subject_id` (the API's type name and
    the database id), with its fields before and after as plain JSON (see the module)."""
    for values in (before, after):
        if values is not None and not _SECRETS.isdisjoint(values):
            raise ValueError(f"{action}: an audit entry never holds a secret")
    actor = unit.actor
    unit.session.add(
        AuditEntry(
            actor_id=actor.user_id if actor is not None else None,
            via="API" if actor is not None else "CLI",
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            before=_plain(before),
            after=_plain(after),
        )
    )


def record_change(
    unit: Unit,
    action: str,
    subject_type: str,
    subject_id: int,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> None:
    """`record` with only the fields whose values differ between two snapshots; nothing
    when none does (an update that changes nothing is no event)."""
    changed = [key for key in after if before[key] != after[key]]
    if changed:
        old = {key: before[key] for key in changed}
        new = {key: after[key] for key in changed}
        record(unit, action, subject_type, subject_id, old, new)


def snapshot(model: object, attributes: Iterable[str]) -> dict[str, Any]:
    """The named attributes of a model object as plain JSON, by their API names."""
    return {api_name(name): jsonable(getattr(model, name)) for name in attributes}


def _plain(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if values is None else {key: jsonable(value) for key, value in values.items()}
