"""Companies and contacts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.crm.companies import queries as companies
from app.graphql.batch import batched, related
from app.graphql.ids import encode_id
from app.graphql.types.common import Connection, Node

if TYPE_CHECKING:
    from app.graphql.types.activities import Activity


@strawberry.type
class Company(Node):
    id: strawberry.ID
    name: str
    website: str | None
    industry: str | None
    phone: str | None
    email: str | None
    city: str | None
    country: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: Any) -> Company:
        return cls(
            id=strawberry.ID(encode_id("Company", row.id)),
            name=row.name,
            website=row.website,
            industry=row.industry,
            phone=row.phone,
            email=row.email,
            city=row.city,
            country=row.country,
            notes=row.notes,
            created_at=row.created_at,
            updated_at=row.updated_at,
            pk=row.id,
        )

    @strawberry.field(description="Activities filed under it, newest first.")
    async def activities(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Annotated[Activity, strawberry.lazy("app.graphql.types.activities")]]:
        from app.graphql.queries.connections import party_activities

        return await party_activities(info, company_id=self.pk, first=first, after=after)


@strawberry.type
class Contact(Node):
    id: strawberry.ID
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    job_title: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]
    company_pk: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: Any) -> Contact:
        return cls(
            id=strawberry.ID(encode_id("Contact", row.id)),
            first_name=row.first_name,
            last_name=row.last_name,
            email=row.email,
            phone=row.phone,
            job_title=row.job_title,
            notes=row.notes,
            created_at=row.created_at,
            updated_at=row.updated_at,
            pk=row.id,
            company_pk=row.company_id,
        )

    @strawberry.field
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @batched()
    async def company(parents: list[Contact], info: strawberry.Info) -> list[Company | None]:
        return await related(info, companies.by_id, [c.company_pk for c in parents], Company.of)

    @strawberry.field(description="Activities filed under it, newest first.")
    async def activities(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Annotated[Activity, strawberry.lazy("app.graphql.types.activities")]]:
        from app.graphql.queries.connections import party_activities

        return await party_activities(info, contact_id=self.pk, first=first, after=after)
