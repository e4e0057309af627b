"""Linking companies, contacts, users and teams to an opportunity, each in a role."""

from __future__ import annotations

from sqlalchemy import select

from app.crm.companies.models import Company
from app.crm.contacts.models import Contact
from app.crm.errors import DomainError, ErrorCode, not_found
from app.crm.opportunities.models import TARGET_COLUMNS, Opportunity, Participant
from app.crm.opportunities.services import ChangeSet, load_for_change, record_change
from app.crm.unit import Unit
from app.crm.users.models import Team, User
from app.events.envelope import EventKind

ROLES_BY_KIND: dict[str, tuple[str, ...]] = {
    "CONTACT": (
        "DECISION_MAKER",
        "ECONOMIC_BUYER",
        "INFLUENCER",
        "TECHNICAL_EVALUATOR",
        "CHAMPION",
        "OTHER",
    ),
    "COMPANY": ("CUSTOMER", "PARTNER", "RESELLER", "COMPETITOR", "OTHER"),
    "USER": ("SALES_REP", "PRESALES", "MANAGER", "SUPPORT", "OTHER"),
    "TEAM": ("SALES_REP", "PRESALES", "MANAGER", "SUPPORT", "OTHER"),
}
_TARGETS = {"COMPANY": Company, "CONTACT": Contact, "USER": User, "TEAM": Team}


def describe(participant: Participant) -> dict[str, object]:
    return {
        "id": participant.id,
        "kind": participant.kind,
        "target_id": getattr(participant, TARGET_COLUMNS[participant.kind]),
        "role": participant.role,
        "is_primary": participant.is_primary,
    }


async def link_participant(
    unit: Unit,
    opportunity_id: int,
    *,
    kind: str,
    target_id: int,
    role: str,
    is_primary: bool,
    expected_version: int | None,
) -> tuple[Opportunity, Participant]:
    opportunity = await load_for_change(unit, opportunity_id, expected_version)
    if role not in ROLES_BY_KIND[kind]:
        raise DomainError(
            ErrorCode.INVALID,
            f"a {kind.lower()} can take the roles {', '.join(ROLES_BY_KIND[kind])}",
            ["role"],
        )
    if is_primary and kind != "CONTACT":
        raise DomainError(
            ErrorCode.INVALID, "only a contact can be the primary contact", ["isPrimary"]
        )
    target = await unit.session.get(_TARGETS[kind], target_id)
    if target is None or (isinstance(target, User) and not target.is_active):
        raise not_found(kind.lower(), "participantId")
    column = getattr(Participant, TARGET_COLUMNS[kind])
    existing = await unit.session.scalar(
        select(Participant.id).where(
            Participant.opportunity_id == opportunity.id,
            column == target_id,
            Participant.role == role,
        )
    )
    if existing is not None:
        raise DomainError(
            ErrorCode.DUPLICATE,
            f"this {kind.lower()} is already linked in that role",
            ["participantId"],
        )
    changes = ChangeSet(opportunity)
    if is_primary:
        # A new primary contact replaces the old one; the event says so.
        current = (
            await unit.session.execute(
                select(Participant).where(
                    Participant.opportunity_id == opportunity.id, Participant.is_primary
                )
            )
        ).scalar_one_or_none()
        if current is not None:
            before = describe(current)
            current.is_primary = False
            await unit.session.flush()
            changes.add("participants", before, describe(current))
    participant = Participant(
        opportunity_id=opportunity.id, kind=kind, role=role, is_primary=is_primary
    )
    setattr(participant, TARGET_COLUMNS[kind], target_id)
    unit.session.add(participant)
    await unit.session.flush()
    changes.add("participants", None, describe(participant))
    await record_change(unit, opportunity, EventKind.PARTICIPANT_LINKED, changes)
    return opportunity, participant


async def unlink_participant(
    unit: Unit, participant_id: int, *, expected_version: int | None
) -> Opportunity:
    participant = await unit.session.get(Participant, participant_id)
    if participant is None:
        raise not_found("participant", "id")
    try:
        opportunity = await load_for_change(unit, participant.opportunity_id, expected_version)
    except DomainError as error:
        # A participant of a hidden opportunity must look exactly like a missing one.
        if error.code is ErrorCode.NOT_FOUND:
            raise not_found("participant", "id") from None
        raise
    changes = ChangeSet(opportunity)
    changes.add("participants", describe(participant), None)
    await unit.session.delete(participant)
    await unit.session.flush()
    await record_change(unit, opportunity, EventKind.PARTICIPANT_UNLINKED, changes)
    return opportunity
