"""Companies: the customers, partners and competitors opportunities are about."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, or_, select

from app.crm.companies.models import Company
from app.crm.contacts.models import Contact
from app.crm.errors import DomainError, ErrorCode, not_found
from app.crm.fields import apply_changes, country_rule, text_rule
from app.crm.opportunities.models import Opportunity, Participant
from app.crm.unit import Unit

COMPANY_FIELDS = {
    "name": ("name", text_rule(200, required=True)),
    "website": ("website", text_rule(500)),
    "industry": ("industry", text_rule(100)),
    "phone": ("phone", text_rule(50)),
    "email": ("email", text_rule(254)),
    "city": ("city", text_rule(100)),
    "country": ("country", country_rule),
    "notes": ("notes", text_rule(10_000)),
}


async def get_company(unit: Unit, company_id: int, field: str = "companyId") -> Company:
    company = await unit.session.get(Company, company_id)
    if company is None:
        raise not_found("company", field)
    return company


async def create_company(unit: Unit, values: Mapping[str, Any]) -> Company:
    company = Company()
    apply_changes(company, {"name": None, **values}, COMPANY_FIELDS)
    unit.session.add(company)
    await unit.session.flush()
    return company


async def update_company(unit: Unit, company_id: int, changes: Mapping[str, Any]) -> Company:
    company = await get_company(unit, company_id, "id")
    apply_changes(company, changes, COMPANY_FIELDS)
    await unit.session.flush()
    return company


async def delete_company(unit: Unit, company_id: int) -> None:
    company = await get_company(unit, company_id, "id")
    uses = [
        await unit.session.scalar(
            select(func.count())
            .select_from(Participant)
            .where(Participant.company_id == company_id)
        ),
        await unit.session.scalar(
            select(func.count()).select_from(Contact).where(Contact.company_id == company_id)
        ),
        await unit.session.scalar(
            select(func.count())
            .select_from(Opportunity)
            .where(or_(Opportunity.awarded_company_id == company_id))
        ),
    ]
    if any(uses):
        raise DomainError(
            ErrorCode.IN_USE,
            "the company is linked to opportunities or has contacts; unlink them first",
            ["id"],
        )
    await unit.session.delete(company)
    await unit.session.flush()
