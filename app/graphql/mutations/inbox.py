"""Mutations on what one follows and on one's inbox."""

from __future__ import annotations

import strawberry

from app.crm.following import services as following
from app.crm.inbox import queries as inbox
from app.crm.inbox import services
from app.crm.opportunities.rows import OpportunityRow
from app.crm.unit import Unit
from app.graphql.errors import UserError
from app.graphql.ids import decode_id
from app.graphql.mutations.base import attempt
from app.graphql.types.inbox import Notification, NotificationKind, NotificationPreference
from app.graphql.types.opportunities import Opportunity


@strawberry.input
class FollowOpportunityInput:
    opportunity_id: strawberry.ID


@strawberry.input
class MarkNotificationReadInput:
    id: strawberry.ID


@strawberry.input
class MarkAllNotificationsReadInput:
    # An input with no field of its own yet, so that one can be added without a new mutation.
    client_mutation_id: str | None = None


@strawberry.input
class SetNotificationPreferenceInput:
    kind: NotificationKind
    enabled: bool


@strawberry.type
class FollowOpportunityPayload:
    opportunity: Opportunity | None
    following: bool | None = strawberry.field(description="Whether you follow it now.")
    user_errors: list[UserError]


async def _unread(info: strawberry.Info) -> int:
    context = info.context
    async with context.read() as session:
        return await inbox.unread_count(session, context.require_actor())


@strawberry.type
class NotificationPayload:
    notification: Notification | None
    user_errors: list[UserError]

    @strawberry.field(description="Your unread notifications after the change.")
    async def unread_count(self, info: strawberry.Info) -> int:
        return await _unread(info)


@strawberry.type
class MarkAllNotificationsReadPayload:
    marked_count: int = strawberry.field(description="How many were unread until now.")
    user_errors: list[UserError]

    @strawberry.field(description="Your unread notifications after the change.")
    async def unread_count(self, info: strawberry.Info) -> int:
        return await _unread(info)


@strawberry.type
class NotificationPreferencePayload:
    preference: NotificationPreference | None
    user_errors: list[UserError]


async def _follow(
    info: strawberry.Info, input: FollowOpportunityInput, follow: bool
) -> FollowOpportunityPayload:
    async def work(unit: Unit) -> OpportunityRow:
        pk = decode_id(input.opportunity_id, "Opportunity", "opportunityId")
        return OpportunityRow.from_source(await following.set_following(unit, pk, follow))

    row, errors, _ = await attempt(info, work)
    if row is None:
        return FollowOpportunityPayload(opportunity=None, following=None, user_errors=errors)
    return FollowOpportunityPayload(
        opportunity=Opportunity.of(row), following=follow, user_errors=[]
    )


@strawberry.type
class InboxMutations:
    @strawberry.mutation(
        description="Follow a deal you may see: its changes come to your inbox. It stays "
        "followed until you unfollow it, whoever owns it."
    )
    async def follow_opportunity(
        self, info: strawberry.Info, input: FollowOpportunityInput
    ) -> FollowOpportunityPayload:
        return await _follow(info, input, True)

    @strawberry.mutation(
        description="Stop following a deal, also one you own or are linked to (which you "
        "follow by default)."
    )
    async def unfollow_opportunity(
        self, info: strawberry.Info, input: FollowOpportunityInput
    ) -> FollowOpportunityPayload:
        return await _follow(info, input, False)

    @strawberry.mutation(
        description="Mark one of your notifications read; your other devices hear of it "
        "(notificationEvents, READ)."
    )
    async def mark_notification_read(
        self, info: strawberry.Info, input: MarkNotificationReadInput
    ) -> NotificationPayload:
        async def work(unit: Unit) -> int:
            return await services.mark_read(unit, decode_id(input.id, "Notification"))

        pk, errors, _ = await attempt(info, work)
        if pk is None:
            return NotificationPayload(notification=None, user_errors=errors)
        context = info.context
        async with context.read() as session:
            found = await inbox.by_ids(session, context.require_actor(), [pk])
        row = found.get(pk)
        return NotificationPayload(
            notification=Notification.of(row) if row is not None else None, user_errors=[]
        )

    @strawberry.mutation(description="Mark all your notifications read.")
    async def mark_all_notifications_read(
        self, info: strawberry.Info, input: MarkAllNotificationsReadInput | None = None
    ) -> MarkAllNotificationsReadPayload:
        marked, errors, _ = await attempt(info, services.mark_all_read)
        return MarkAllNotificationsReadPayload(marked_count=marked or 0, user_errors=errors)

    @strawberry.mutation(description="Turn a kind of notification on or off for yourself.")
    async def set_notification_preference(
        self, info: strawberry.Info, input: SetNotificationPreferenceInput
    ) -> NotificationPreferencePayload:
        async def work(unit: Unit) -> None:
            await services.set_preference(unit, input.kind.value, input.enabled)

        _, errors, _ = await attempt(info, work)
        if errors:
            return NotificationPreferencePayload(preference=None, user_errors=errors)
        return NotificationPreferencePayload(
            preference=NotificationPreference(kind=input.kind, enabled=input.enabled),
            user_errors=[],
        )
