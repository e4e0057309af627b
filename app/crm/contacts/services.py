"""Contacts: the people at companies that opportunities are sold to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from app.crm.companies.services import get_company
from app.crm.contacts.models import Contact
from app.crm.errors import DomainError, ErrorCode, not_found
from app.crm.fields import apply_changes, text_rule
from app.crm.opportunities.models import Participant
from app.crm.unit import Unit

CONTACT_FIELDS = {
    "first_name": ("first_name", text_rule(100, required=True)),
    "last_name": ("last_name", text_rule(100, required=True)),
    "email": ("email", text_rule(254)),
    "phone": ("phone", text_rule(50)),
    "job_title": ("job_title", text_rule(100)),
    "notes": ("notes", text_rule(10_000)),
    "company_id": ("company_id", lambda _field, value: value),
}


async def get_contact(unit: Unit, contact_id: int, field: str = "contactId") -> Contact:
    contact = await unit.session.get(Contact, contact_id)
    if contact is None:
        raise not_found("contact", field)
    return contact


async def _check_company(unit: Unit, values: Mapping[str, Any]) -> None:
    if values.get("company_id") is not None:
        await get_company(unit, values["company_id"])


async def create_contact(unit: Unit, values: Mapping[str, Any]) -> Contact:
    await _check_company(unit, values)
    contact = Contact()
    apply_changes(contact, {"first_name": None, "last_name": None, **values}, CONTACT_FIELDS)
    unit.session.add(contact)
    await unit.session.flush()
    return contact


async def update_contact(unit: Unit, contact_id: int, changes: Mapping[str, Any]) -> Contact:
    contact = await get_contact(unit, contact_id, "id")
    await _check_company(unit, changes)
    apply_changes(contact, changes, CONTACT_FIELDS)
    await unit.session.flush()
    return contact


async def delete_contact(unit: Unit, contact_id: int) -> None:
    contact = await get_contact(unit, contact_id, "id")
    linked = await unit.session.scalar(
        select(func.count()).select_from(Participant).where(Participant.contact_id == contact_id)
    )
    if linked:
        raise DomainError(
            ErrorCode.IN_USE, "the contact is linked to opportunities; unlink it first", ["id"]
        )
    await unit.session.delete(contact)
    await unit.session.flush()
