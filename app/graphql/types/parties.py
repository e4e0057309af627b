"""Companies and contacts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.crm.companies import queries as companies
from app.graphql.batch import batched, related
from app.graphql.types.common import Connection, Node
from app.graphql.types.rows import RowBacked, check_row_fields, columns, node_id

if TYPE_CHECKING:
    from app.graphql.types.activities import Activity


@strawberry.type
class Company(Node, RowBacked):
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
    row: strawberry.Private[Any]

    @strawberry.field(description="Activities filed under it, newest first.")
    async def activities(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Annotated[Activity, strawberry.lazy("app.graphql.types.activities")]]:
        from app.graphql.queries.connections import party_activities

        return await party_activities(info, company_id=self.row.id, first=first, after=after)


@strawberry.type
class Contact(Node, RowBacked):
    id: strawberry.ID
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    job_title: str | None
    notes: str | None
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[Any]

    @strawberry.field
    def full_name(self) -> str:
        row = self.row  # its columns as they are (ROW_FIELDS), without making the fields
        return f"{row.first_name} {row.last_name}"

    @batched()
    async def company(parents: list[Contact], info: strawberry.Info) -> list[Company | None]:
        ids = [c.row.company_id for c in parents]
        return await related(info, companies.by_id, ids, Company.of)

    @strawberry.field(description="Activities filed under it, newest first.")
    async def activities(
        self, info: strawberry.Info, first: int | None = 20, after: str | None = None
    ) -> Connection[Annotated[Activity, strawberry.lazy("app.graphql.types.activities")]]:
        from app.graphql.queries.connections import party_activities

        return await party_activities(info, contact_id=self.row.id, first=first, after=after)


Company.ROW_FIELDS = {
    "id": node_id("Company"),
    **columns(
        "name",
        "website",
        "industry",
        "phone",
        "email",
        "city",
        "country",
        "notes",
        "created_at",
        "updated_at",
    ),
}
Company.ROW_USES = {"activities": ("id",)}
check_row_fields(Company)

Contact.ROW_FIELDS = {
    "id": node_id("Contact"),
    **columns(
        "first_name",
        "last_name",
        "email",
        "phone",
        "job_title",
        "notes",
        "created_at",
        "updated_at",
    ),
}
Contact.ROW_USES = {
    "full_name": ("first_name", "last_name"),
    "company": ("company_id",),
    "activities": ("id",),
}
check_row_fields(Contact)
