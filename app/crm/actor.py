"""Who is acting, and the SQL form of "may this actor see that opportunity"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    any_,
    bindparam,
    exists,
    or_,
    select,
    true,
    union_all,
)

from app.crm.opportunities.models import Opportunity, Participant
from app.crm.statements import keys


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    name: str
    email: str
    role: str
    team_ids: frozenset[int]
    # Derived from the password hash: tokens issued before a password change stop working.
    credential_stamp: str = ""
    must_change_password: bool = False
    """Holding a one-time password: nothing runs for them but changing it."""

    @property
    def is_admin(self) -> bool:
        return self.role == "ADMIN"


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """The visibility rule (docs/architecture.md) as a WHERE clause over `opportunities`."""
    if actor.is_admin:
        return true()
    linked = [Participant.user_id == actor.user_id]
    if actor.team_ids:
        linked.append(Participant.team_id.in_(sorted(actor.team_ids)))
    return _member_sees(actor.user_id, or_(*linked))


def visible_to_member() -> ColumnElement[bool]:
    """`visible_to` a member given as parameters, `user_id` and `team_ids` (see
    `member_parameters`), for statements compiled once (app/crm/statements.py)."""
    user = bindparam("user_id", type_=BigInteger)
    linked = or_(Participant.user_id == user, Participant.team_id == any_(keys("team_ids")))
    return _member_sees(user, linked)


def member_parameters(actor: Actor) -> dict[str, Any]:
    return {"user_id": actor.user_id, "team_ids": sorted(actor.team_ids)}


def _member_sees(user: Any, linked: ColumnElement[bool]) -> ColumnElement[bool]:
    return or_(
        Opportunity.visibility == "PUBLIC",
        Opportunity.owner_id == user,
        exists(
            select(Participant.id).where(
                and_(
                    Participant.opportunity_id == Opportunity.id,
                    # Redundant (public deals pass above), but it ties the check to each row:
                    # PostgreSQL then probes a deal's links by index when it meets a private
                    # deal, instead of first hashing every deal the user's teams are linked
                    # to (135 ms for a 50-row page at a million deals).
                    Opportunity.visibility != "PUBLIC",
                    linked,
                )
            )
        ),
    )


def live_and_visible(actor: Actor) -> ColumnElement[bool]:
    return and_(Opportunity.deleted_at.is_(None), visible_to(actor))


def sees_private(actor: Actor) -> ColumnElement[bool]:
    """Of the private deals, those `actor` sees (not an admin: they see all).

    For sums over many deals. The actor's links are read once, from the link indexes alone,
    and hashed, where visible_to() probes each deal's links: that suits a page, which meets
    few private deals, and this a total, which meets them all.
    """
    linked = [select(Participant.opportunity_id).where(Participant.user_id == actor.user_id)]
    if actor.team_ids:
        linked.append(
            select(Participant.opportunity_id).where(
                Participant.team_id.in_(sorted(actor.team_ids))
            )
        )
    return and_(
        Opportunity.visibility == "PRIVATE",
        or_(Opportunity.owner_id == actor.user_id, Opportunity.id.in_(union_all(*linked))),
    )
