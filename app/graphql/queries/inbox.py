"""Root fields for the deals one follows and one's inbox."""

from __future__ import annotations

import strawberry

from app.crm.errors import DomainError
from app.crm.following import queries as following
from app.crm.inbox import queries as inbox
from app.graphql.batch import reader
from app.graphql.errors import bad_input
from app.graphql.executor.columns import columns_read
from app.graphql.types.common import Connection, connection
from app.graphql.types.inbox import Notification, NotificationKind, NotificationPreference
from app.graphql.types.opportunities import Opportunity


@strawberry.type
class InboxQueries:
    @strawberry.field(
        description="The deals you follow and may see, the most recently changed first: those "
        "you own or are linked to (unless you unfollowed them) and those you followed."
    )
    async def following(
        self, info: strawberry.Info, first: int | None = 50, after: str | None = None
    ) -> Connection[Opportunity]:
        columns = columns_read(info, Opportunity)
        context = info.context
        actor = context.require_actor()
        try:
            async with context.read() as session:
                page = await following.followed_page(session, actor, first, after, columns=columns)
        except DomainError as error:
            raise bad_input(error) from None
        reader(info).remember(page.related)

        async def count() -> int:
            async with context.read() as session:
                return await following.followed_count(session, actor)

        return connection(page, [Opportunity.of(row) for row in page.items], count)

    @strawberry.field(description="Your notifications, newest first.")
    async def notifications(
        self,
        info: strawberry.Info,
        first: int | None = 20,
        after: str | None = None,
        unread_only: bool | None = False,
    ) -> Connection[Notification]:
        unread = bool(unread_only)
        context = info.context
        actor = context.require_actor()
        try:
            async with context.read() as session:
                page = await inbox.page(session, actor, first, after, unread)
        except DomainError as error:
            raise bad_input(error) from None

        async def count() -> int:
            async with context.read() as session:
                return await inbox.count(session, actor, unread)

        return connection(page, [Notification.of(row) for row in page.items], count)

    @strawberry.field(description="How many of your notifications are unread.")
    async def unread_notification_count(self, info: strawberry.Info) -> int:
        context = info.context
        actor = context.require_actor()
        async with context.read() as session:
            return await inbox.unread_count(session, actor)

    @strawberry.field(description="Each kind of notification, and whether you get it.")
    async def notification_preferences(self, info: strawberry.Info) -> list[NotificationPreference]:
        context = info.context
        actor = context.require_actor()
        async with context.read() as session:
            found = await inbox.preferences(session, actor.user_id)
        return [
            NotificationPreference(kind=NotificationKind(kind.value), enabled=enabled)
            for kind, enabled in found.items()
        ]
