"""The inbox, live: notificationEvents over the process's event hub.

Each change to a user's inbox (notifications written, some marked read) is one INBOX event in
the same outbox as every other change (app/crm/inbox/derive.py), naming the users it concerns.
So the inbox's live stream keeps the opportunity events' promises (docs/architecture.md,
live-update invariants): each event once, in commit order, resumed from a cursor with nothing
missed, across server processes. The hub judges an event for a user's subscriptions by its
audience alone; what it changed in the inbox is then read for that user, with their rights of
that moment, so a notification about a deal they may no longer see is left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator

import strawberry

from app.crm.inbox import queries as inbox
from app.events.envelope import ChangeEvent, EventKind
from app.graphql.subscriptions import current_actor, since_cursor
from app.graphql.types.inbox import Notification, NotificationEvent, NotificationEventKind


@strawberry.type
class InboxSubscriptions:
    @strawberry.subscription(
        description="Every change to your inbox, in commit order: notifications that arrive "
        "(NEW) and those marked read on any of your devices (READ), each with your unread "
        "count. Pass the cursor of the last event you received as `since` to resume with "
        "nothing missed and nothing repeated (from `since`, the changes made meanwhile come "
        "first)."
    )
    async def notification_events(
        self, info: strawberry.Info, since: str | None = None
    ) -> AsyncGenerator[NotificationEvent, None]:
        runtime = info.context.runtime
        actor = await current_actor(info)
        since_seq = await since_cursor(info, since)
        user_id = actor.user_id

        def accept(event: ChangeEvent) -> bool:
            return event.kind is EventKind.INBOX and user_id in event.audience.user_ids

        directory = runtime.directory
        directory.hold(actor)
        start = since_seq if since_seq is not None else await runtime.hub.latest_committed()
        key = ("notificationEvents", user_id)
        subscription = runtime.hub.subscribe(accept, start, herd=key, judged_by=key)
        try:
            async for event in subscription:
                current = directory.current(user_id)
                if current is None:
                    return  # deactivated while subscribed
                # With the socket's token's reach, which the directory does not keep.
                me = dataclasses.replace(current, grant=actor.grant)
                async with runtime.reads() as session:
                    kind, rows = await inbox.told_by(session, me, event.seq)
                    if kind is None or (kind == "NEW" and not rows):
                        continue  # nothing of theirs they may still see
                    unread = await inbox.unread_count(session, me)
                yield NotificationEvent(
                    cursor=str(event.seq),
                    kind=NotificationEventKind(kind),
                    notifications=[Notification.of(row) for row in rows],
                    unread_count=unread,
                )
        finally:
            subscription.close()
            directory.release(user_id)
