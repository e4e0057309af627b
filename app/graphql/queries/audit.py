"""The audit log's root field: admins only (app/graphql/access.py)."""

from __future__ import annotations

import strawberry

from app.crm.audit import queries as audit
from app.crm.audit.queries import AuditFilter
from app.crm.errors import DomainError, ErrorCode
from app.graphql.errors import bad_input
from app.graphql.filters import DateTimeRangeInput
from app.graphql.ids import decode_any, decode_optional
from app.graphql.types.audit import SUBJECT_TYPES, AuditEntry, AuditVia
from app.graphql.types.common import Connection, connection


@strawberry.input(description="Entries that meet every condition given.")
class AuditLogFilter:
    actions: list[str] | None = strawberry.field(
        default=None, description="Any of these actions (user.create, view.share, ...)."
    )
    actor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Changes this user made."
    )
    via: AuditVia | None = None
    subject_type: str | None = strawberry.field(
        default=None, description="Changes to records of this type (User, Team, ...)."
    )
    subject_id: strawberry.ID | None = strawberry.field(
        default=None, description="Changes to this record."
    )
    at: DateTimeRangeInput | None = None

    def to_domain(self) -> AuditFilter:
        """Raises DomainError."""
        subject_type, subject_id = self.subject_type, None
        if self.subject_id is not None:
            subject_type, subject_id = decode_any(self.subject_id, "subjectId", SUBJECT_TYPES)
            if self.subject_type not in (None, subject_type):
                raise DomainError(
                    ErrorCode.INVALID,
                    f"subjectId is the ID of a {subject_type}, not of a {self.subject_type}",
                    ["subjectId"],
                )
        return AuditFilter(
            actions=tuple(self.actions or ()),
            actor_id=decode_optional(self.actor_id, "User", "actorId"),
            via=self.via.name if self.via else None,
            subject_type=subject_type,
            subject_id=subject_id,
            at=self.at.to_domain() if self.at else None,
        )


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="Admins only: changes to users, teams, stages, products, views shared "
        "with everyone and access tokens, newest first."
    )
    async def audit_log(
        self,
        info: strawberry.Info,
        filter: AuditLogFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[AuditEntry]:
        # Members are refused before the operation runs (app/graphql/access.py: ADMIN).
        context = info.context
        try:
            domain_filter = filter.to_domain() if filter else AuditFilter()
            async with context.read() as session:
                page = await audit.page(session, domain_filter, first, after)
        except DomainError as error:
            raise bad_input(error) from None

        async def count() -> int:
            async with context.read() as session:
                return await audit.count(session, domain_filter)

        return connection(page, [AuditEntry.of(r) for r in page.items], count)
