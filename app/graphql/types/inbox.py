"""Notifications, their kinds and preferences, and the live events of an inbox."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.crm.activities import queries as activities
from app.crm.inbox.summaries import summary
from app.crm.opportunities import queries as opportunities
from app.crm.users import queries as users
from app.graphql.batch import batched, related, related_visible
from app.graphql.ids import encode_id
from app.graphql.types.common import Node
from app.graphql.types.opportunities import Opportunity
from app.graphql.types.people import User

if TYPE_CHECKING:
    from app.graphql.types.activities import Activity


@strawberry.enum(description="Why a notification was sent.")
class NotificationKind(Enum):
    MENTIONED = "MENTIONED"
    TASK_ASSIGNED = "TASK_ASSIGNED"
    DEAL_WON = "DEAL_WON"
    DEAL_LOST = "DEAL_LOST"
    STAGE_CHANGED = "STAGE_CHANGED"
    REASSIGNED = "REASSIGNED"
    COMMENTED = "COMMENTED"


@strawberry.enum
class NotificationEventKind(Enum):
    NEW = "NEW"
    READ = "READ"


@strawberry.type(description="Something that concerns you: a mention, a task, a followed deal.")
class Notification(Node):
    id: strawberry.ID
    kind: NotificationKind
    read: bool
    read_at: datetime | None
    created_at: datetime
    summary: str = strawberry.field(description="What happened, in one line.")
    row: strawberry.Private[Any]

    @classmethod
    def of(cls, row: Any) -> Notification:
        return cls(
            id=strawberry.ID(encode_id("Notification", row.id)),
            kind=NotificationKind(row.kind),
            read=row.read_at is not None,
            read_at=row.read_at,
            created_at=row.created_at,
            summary=summary(row.kind, row.detail or {}, row.user_id),
            row=row,
        )

    @batched(description="Who did it (null: the server itself, or a user since deleted).")
    async def actor(parents: list[Notification], info: strawberry.Info) -> list[User | None]:
        return await related(info, users.users_by_id, [n.row.actor_id for n in parents], User.of)

    @batched(description="The deal it is about, if any.")
    async def opportunity(
        parents: list[Notification], info: strawberry.Info
    ) -> list[Opportunity | None]:
        return await related_visible(
            info,
            opportunities.visible_by_id,
            [n.row.opportunity_id for n in parents],
            Opportunity.of,
        )

    @batched(
        graphql_type=Annotated["Activity", strawberry.lazy("app.graphql.types.activities")] | None,
        description="The note or task it is about, if any (null once deleted).",
    )
    async def activity(parents: list[Notification], info: strawberry.Info) -> list[Activity | None]:
        from app.graphql.types.activities import activity_of

        return await related_visible(
            info, activities.visible_by_id, [n.row.activity_id for n in parents], activity_of
        )


@strawberry.type
class NotificationPreference:
    kind: NotificationKind
    enabled: bool


@strawberry.type(description="A change to your inbox, in commit order.")
class NotificationEvent:
    cursor: str = strawberry.field(
        description="Opaque; pass the last one you received as `since` to resume."
    )
    kind: NotificationEventKind
    notifications: list[Notification] = strawberry.field(
        description="NEW: the notifications that arrived; READ: those marked read (on any "
        "of your devices). Those about deals you may no longer see are left out."
    )
    unread_count: int
