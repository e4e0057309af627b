"""The change event: what every subscriber receives and what the outbox stores.

Plain data with a JSON form, so it crosses the broker as a string and can be rebuilt from an
outbox row without touching the ORM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson


class EventKind(StrEnum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    STAGE_CHANGED = "STAGE_CHANGED"
    WON = "WON"
    LOST = "LOST"
    REOPENED = "REOPENED"
    DELETED = "DELETED"
    MOVED = "MOVED"
    PARTICIPANT_LINKED = "PARTICIPANT_LINKED"
    PARTICIPANT_UNLINKED = "PARTICIPANT_UNLINKED"
    ACTIVITY_ADDED = "ACTIVITY_ADDED"
    ACTIVITY_UPDATED = "ACTIVITY_UPDATED"
    ACTIVITY_DELETED = "ACTIVITY_DELETED"
    TASK_COMPLETED = "TASK_COMPLETED"
    ORDER_CREATED = "ORDER_CREATED"
    ORDER_UPDATED = "ORDER_UPDATED"
    ORDER_STATUS_CHANGED = "ORDER_STATUS_CHANGED"
    ORDER_LINE_ADDED = "ORDER_LINE_ADDED"
    ORDER_LINE_UPDATED = "ORDER_LINE_UPDATED"
    ORDER_LINE_REMOVED = "ORDER_LINE_REMOVED"
    ORDER_LINES_REORDERED = "ORDER_LINES_REORDERED"
    INBOX = "INBOX"
    """Internal: users' inboxes changed (app/crm/inbox); its audience names them. About no
    opportunity or order, never delivered by opportunityEvents or orderEvents."""


INTERNAL_KINDS = frozenset({EventKind.INBOX})
"""Kinds that are not changes to deals or orders, and not part of the public API's enum."""

ORDER_KINDS = frozenset(k for k in EventKind if k.value.startswith("ORDER_"))


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may see an opportunity: the visibility rule, in a form checked without a query."""

    visibility: str
    owner_id: int
    user_ids: frozenset[int] = frozenset()
    team_ids: frozenset[int] = frozenset()
    folder_ids: frozenset[int] = frozenset()
    """The deal's folder and the folders above it: what a token limited to folders needs."""

    def admits(
        self,
        user_id: int,
        team_ids: frozenset[int],
        is_admin: bool,
        reach: frozenset[int] | None = None,
    ) -> bool:
        """`reach`: the folders the subscriber's token is limited to (None: all)."""
        if reach is not None and reach.isdisjoint(self.folder_ids):
            return False
        return (
            self.visibility == "PUBLIC"
            or is_admin
            or user_id == self.owner_id
            or user_id in self.user_ids
            or not self.team_ids.isdisjoint(team_ids)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "visibility": self.visibility,
            "owner_id": self.owner_id,
            "user_ids": sorted(self.user_ids),
            "team_ids": sorted(self.team_ids),
            "folder_ids": sorted(self.folder_ids),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Audience:
        return cls(
            visibility=data["visibility"],
            owner_id=data["owner_id"],
            user_ids=frozenset(data["user_ids"]),
            team_ids=frozenset(data["team_ids"]),
            # Events written before folders were kept reach no token limited to folders.
            folder_ids=frozenset(data.get("folder_ids", ())),
        )


UNREAD = Audience("UNREAD", 0)
"""The audience of an event read without it (to show its changes only, never to decide who
sees it): it admits no member."""


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """An event recorded by a service, waiting for the transaction to give it a sequence."""

    kind: EventKind
    # None only for an order without an opportunity.
    opportunity_id: int | None
    # The opportunity's version (an order's own version is in its snapshot).
    version: int
    changes: tuple[FieldChange, ...]
    audience: Audience
    # The opportunity as the change left it ({} for an order without one).
    snapshot: dict[str, Any]
    order_id: int | None = None
    order_snapshot: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    seq: int
    kind: EventKind
    opportunity_id: int | None
    version: int
    actor_id: int | None
    occurred_at: datetime
    changes: tuple[FieldChange, ...]
    audience: Audience
    snapshot: dict[str, Any] = field(repr=False)
    order_id: int | None = None
    order_snapshot: dict[str, Any] | None = field(default=None, repr=False)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "seq": self.seq,
                "kind": self.kind.value,
                "opportunity_id": self.opportunity_id,
                "version": self.version,
                "actor_id": self.actor_id,
                "occurred_at": self.occurred_at.isoformat(),
                "changes": changes_to_json(self.changes),
                "audience": self.audience.to_json(),
                "snapshot": self.snapshot,
                "order_id": self.order_id,
                "order_snapshot": self.order_snapshot,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> ChangeEvent:
        data = orjson.loads(raw)
        return cls(
            seq=data["seq"],
            kind=EventKind(data["kind"]),
            opportunity_id=data["opportunity_id"],
            version=data["version"],
            actor_id=data["actor_id"],
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            changes=changes_from_json(data["changes"]),
            audience=Audience.from_json(data["audience"]),
            snapshot=data["snapshot"],
            order_id=data.get("order_id"),
            order_snapshot=data.get("order_snapshot"),
        )


def changes_to_json(changes: tuple[FieldChange, ...]) -> list[dict[str, Any]]:
    return [{"field": c.field, "old": c.old, "new": c.new} for c in changes]


def changes_from_json(data: list[dict[str, Any]]) -> tuple[FieldChange, ...]:
    return tuple(FieldChange(c["field"], c["old"], c["new"]) for c in data)
