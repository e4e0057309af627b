"""Mutations on companies and contacts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from app.crm.companies import services as companies
from app.crm.companies.models import Company as CompanyModel
from app.crm.contacts import services as contacts
from app.crm.contacts.models import Contact as ContactModel
from app.crm.unit import Unit
from app.graphql.errors import UserError
from app.graphql.ids import decode_id
from app.graphql.inputs import (
    COMPANY_SPEC,
    CONTACT_SPEC,
    CreateCompanyInput,
    CreateContactInput,
    DeleteInput,
    UpdateCompanyInput,
    UpdateContactInput,
    given,
    required,
)
from app.graphql.mutations.base import DeletePayload, deletion, presented
from app.graphql.types.parties import Company, Contact


@strawberry.type
class CompanyPayload:
    company: Company | None
    user_errors: list[UserError]


@strawberry.type
class ContactPayload:
    contact: Contact | None
    user_errors: list[UserError]


async def _company(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[CompanyModel]]
) -> CompanyPayload:
    company, errors = await presented(info, work, Company.of)
    return CompanyPayload(company=company, user_errors=errors)


async def _contact(
    info: strawberry.Info, work: Callable[[Unit], Awaitable[ContactModel]]
) -> ContactPayload:
    contact, errors = await presented(info, work, Contact.of)
    return ContactPayload(contact=contact, user_errors=errors)


@strawberry.type
class PartyMutations:
    @strawberry.mutation
    async def create_company(
        self, info: strawberry.Info, input: CreateCompanyInput
    ) -> CompanyPayload:
        async def work(unit: Unit) -> CompanyModel:
            return await companies.create_company(unit, given(input, COMPANY_SPEC))

        return await _company(info, work)

    @strawberry.mutation
    async def update_company(
        self, info: strawberry.Info, input: UpdateCompanyInput
    ) -> CompanyPayload:
        async def work(unit: Unit) -> CompanyModel:
            values = required(given(input, COMPANY_SPEC), "name")
            return await companies.update_company(unit, decode_id(input.id, "Company"), values)

        return await _company(info, work)

    @strawberry.mutation(description="Only a company with no contacts and no opportunity links.")
    async def delete_company(self, info: strawberry.Info, input: DeleteInput) -> DeletePayload:
        async def work(unit: Unit) -> None:
            await companies.delete_company(unit, decode_id(input.id, "Company"))

        return await deletion(info, work, input.id)

    @strawberry.mutation
    async def create_contact(
        self, info: strawberry.Info, input: CreateContactInput
    ) -> ContactPayload:
        async def work(unit: Unit) -> ContactModel:
            return await contacts.create_contact(unit, given(input, CONTACT_SPEC))

        return await _contact(info, work)

    @strawberry.mutation
    async def update_contact(
        self, info: strawberry.Info, input: UpdateContactInput
    ) -> ContactPayload:
        async def work(unit: Unit) -> ContactModel:
            values = required(given(input, CONTACT_SPEC), "first_name", "last_name")
            return await contacts.update_contact(unit, decode_id(input.id, "Contact"), values)

        return await _contact(info, work)

    @strawberry.mutation(description="Only a contact not linked to any opportunity.")
    async def delete_contact(self, info: strawberry.Info, input: DeleteInput) -> DeletePayload:
        async def work(unit: Unit) -> None:
            await contacts.delete_contact(unit, decode_id(input.id, "Contact"))

        return await deletion(info, work, input.id)
