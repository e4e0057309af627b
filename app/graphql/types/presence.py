"""Presence: who views or edits an opportunity (or the board) now."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.crm.users import queries as users
from app.events.presence import Entry
from app.events.presence import PresenceState as DomainPresenceState
from app.graphql.batch import batched, related_required
from app.graphql.types.people import User

PresenceState = strawberry.enum(
    DomainPresenceState,
    name="PresenceState",
    description="VIEWING: has it open; EDITING: is changing it (an edit form is open).",
)


@strawberry.type(description="One client session of a user on an opportunity or the board.")
class PresenceEntry:
    state: PresenceState  # type: ignore[valid-type]
    since: datetime = strawberry.field(
        description="When this session entered its state (a heartbeat does not move it)."
    )
    session_id: str = strawberry.field(
        description="The client's own name for the session (a tab): one user may have several."
    )
    user_id: strawberry.Private[int]

    @classmethod
    def of(cls, entry: Entry) -> PresenceEntry:
        return cls(
            state=entry.state,
            since=entry.since,
            session_id=entry.session_id,
            user_id=entry.user_id,
        )

    @batched()
    async def user(parents: list[PresenceEntry], info: strawberry.Info) -> list[User]:
        return await related_required(
            info, users.users_by_id, [p.user_id for p in parents], User.of
        )


@strawberry.type(description="Who is on one opportunity, as the board shows it.")
class OpportunityPresence:
    opportunity_id: strawberry.ID
    entries: list[PresenceEntry]


@strawberry.type(
    description="Who is on an opportunity, or on the board (with the deals on it that you "
    "may see), now."
)
class PresenceSnapshot:
    opportunity_id: strawberry.ID | None = strawberry.field(description="Null for the board.")
    board: bool
    entries: list[PresenceEntry] = strawberry.field(
        description="Who is on this opportunity (or on the board)."
    )
    opportunities: list[OpportunityPresence] = strawberry.field(
        description="The board's only: presence on each deal you may see that someone is on."
    )


def entries_on(info: strawberry.Info, opportunity_id: int) -> list[PresenceEntry]:
    """Who is on a deal the caller sees (it reached the deal through a read that checked)."""
    return [PresenceEntry.of(e) for e in info.context.runtime.presence.entries(opportunity_id)]
