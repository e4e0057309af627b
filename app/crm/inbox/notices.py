"""A notice: what a service says someone should hear about, before the inbox decides.

Services that know a person is concerned beyond what the change's events say (a mention in a
note's text) add a Notice to their unit with `unit.notify(...)`; the notices that follow from
the events themselves (a followed deal won, a task assigned) are derived from the unit's
events when it commits. Either way the inbox, not the service, decides who is told: never
the one who acted, never someone who may not see the deal, never a kind the user turned off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NoticeKind(StrEnum):
    MENTIONED = "MENTIONED"
    TASK_ASSIGNED = "TASK_ASSIGNED"
    DEAL_WON = "DEAL_WON"
    DEAL_LOST = "DEAL_LOST"
    STAGE_CHANGED = "STAGE_CHANGED"
    REASSIGNED = "REASSIGNED"
    COMMENTED = "COMMENTED"


@dataclass(frozen=True, slots=True)
class Notice:
    user_id: int
    kind: NoticeKind
    opportunity_id: int | None = None
    activity_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    """What the notification shows beside its kind (a stage's name, the mentioning text's
    excerpt): plain JSON values."""
