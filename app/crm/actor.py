"""Who is acting, and the SQL form of "may this actor see that opportunity"."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, or_, select, true, union_all

from app.crm.opportunities.models import Opportunity, Participant


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    name: str
    email: str
    role: str
    team_ids: frozenset[int]
    # Derived from the password hash: tokens issued before a password change stop working.
    credential_stamp: str = ""

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
    return or_(
        Opportunity.visibility == "PUBLIC",
        Opportunity.owner_id == actor.user_id,
        exists(
            select(Participant.id).where(
                and_(
                    Participant.opportunity_id == Opportunity.id,
                    # Redundant (public deals pass above), but it ties the check to each row:
                    # PostgreSQL then probes a deal's links by index when it meets a private
                    # deal, instead of first hashing every deal the user's teams are linked
                    # to (135 ms for a 50-row page at a million deals).
                    Opportunity.visibility != "PUBLIC",
                    or_(*linked),
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
