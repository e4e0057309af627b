"""Root fields for companies and contacts."""

from __future__ import annotations

import strawberry

from app.crm.companies import queries as companies
from app.crm.contacts import queries as contacts
from app.crm.errors import DomainError
from app.graphql.errors import bad_input
from app.graphql.queries.arguments import decoded
from app.graphql.types.common import Connection, connection
from app.graphql.types.parties import Company, Contact


@strawberry.type
class PartyQueries:
    @strawberry.field
    async def companies(
        self,
        info: strawberry.Info,
        search: str | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Company]:
        info.context.require_actor()
        try:
            async with info.context.read() as session:
                page = await companies.page(session, search, first, after)
        except DomainError as error:
            raise bad_input(error) from None

        async def count() -> int:
            async with info.context.read() as session:
                return await companies.count(session, search)

        return connection(page, [Company.of(r) for r in page.items], count)

    @strawberry.field
    async def contacts(
        self,
        info: strawberry.Info,
        search: str | None = None,
        company_id: strawberry.ID | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Contact]:
        info.context.require_actor()
        company = decoded(company_id, "Company") if company_id else None
        try:
            async with info.context.read() as session:
                page = await contacts.page(session, search, company, first, after)
        except DomainError as error:
            raise bad_input(error) from None

        async def count() -> int:
            async with info.context.read() as session:
                return await contacts.count(session, search, company)

        return connection(page, [Contact.of(r) for r in page.items], count)
