"""Who follows which deals: the default (owner and linked users) with each user's choices
over it, always within what each follower may see now."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.actor import Actor, live_and_visible
from app.crm.following.models import OpportunityFollow
from app.crm.opportunities.models import Opportunity, Participant
from app.crm.opportunities.queries import Shape
from app.crm.opportunities.sorting import Sort, SortField, order_tag, sort_keys
from app.crm.paging import Page, fetch_page
from app.crm.users.models import TeamMember, User

FOLLOWING_ORDER = (Sort(SortField.UPDATED_AT, True),)
"""The deals one follows, the most recently changed first: what moved lately is on top."""


def _choice(opportunity: Any, user: Any, following: bool) -> ColumnElement[bool]:
    return exists(
        select(literal(1)).where(
            OpportunityFollow.opportunity_id == opportunity,
            OpportunityFollow.user_id == user,
            OpportunityFollow.following.is_(following),
        )
    )


def _linked(opportunity: Any, user: Any) -> ColumnElement[bool]:
    return exists(
        select(literal(1)).where(
            Participant.opportunity_id == opportunity, Participant.user_id == user
        )
    )


def followed_by(user_id: int) -> ColumnElement[bool]:
    """Over `opportunities`: the deals `user_id` follows (visibility is the caller's)."""
    by_default = or_(Opportunity.owner_id == user_id, _linked(Opportunity.id, user_id))
    return or_(
        _choice(Opportunity.id, user_id, True),
        and_(by_default, not_(_choice(Opportunity.id, user_id, False))),
    )


async def following_of(session: AsyncSession, actor: Actor, ids: Sequence[int]) -> dict[int, bool]:
    """Whether the actor follows each of the deals `ids` (which the caller found visible)."""
    rows = await session.execute(
        select(Opportunity.id, followed_by(actor.user_id)).where(Opportunity.id.in_(list(ids)))
    )
    found = {row[0]: bool(row[1]) for row in rows}
    return {i: found.get(i, False) for i in ids}


async def followed_page(
    session: AsyncSession,
    actor: Actor,
    first: int | None,
    after: str | None,
    *,
    columns: Collection[str] | None = None,
) -> Page[Any]:
    """A page of the live deals the actor follows and may see, in FOLLOWING_ORDER."""
    keys = sort_keys(FOLLOWING_ORDER)
    shape = Shape.of(columns)
    where = [live_and_visible(actor), followed_by(actor.user_id), *shape.joined()]
    rows = await fetch_page(
        session, shape.selected(), where, keys, first, after, tag=order_tag(FOLLOWING_ORDER)
    )
    return Page(
        shape.rows(rows.items),
        rows.cursors,
        has_next_page=rows.has_next_page,
        has_previous_page=rows.has_previous_page,
        related=shape.related(rows.items),
    )


async def followed_count(session: AsyncSession, actor: Actor) -> int:
    query = (
        select(func.count())
        .select_from(Opportunity)
        .where(live_and_visible(actor), followed_by(actor.user_id))
    )
    return int((await session.execute(query)).scalar_one())


def _sees(user: Any) -> ColumnElement[bool]:
    """Over `opportunities` and `users`: the visibility rule for each user (app/crm/actor.py),
    for many users at once."""
    teams = select(TeamMember.team_id).where(TeamMember.user_id == user.id)
    return or_(
        Opportunity.visibility == "PUBLIC",
        user.role == "ADMIN",
        Opportunity.owner_id == user.id,
        exists(
            select(literal(1)).where(
                Participant.opportunity_id == Opportunity.id,
                or_(Participant.user_id == user.id, Participant.team_id.in_(teams)),
            )
        ),
    )


async def followers(session: AsyncSession, opportunity_ids: Collection[int]) -> dict[int, set[int]]:
    """The active users who follow each live deal and may see it now, in one statement:
    owner, linked users and those who opted in, less those who opted out."""
    if not opportunity_ids:
        return {}
    ids = sorted(opportunity_ids)
    candidates = union(
        select(Opportunity.id.label("opportunity_id"), Opportunity.owner_id.label("user_id")).where(
            Opportunity.id.in_(ids)
        ),
        select(Participant.opportunity_id, Participant.user_id).where(
            Participant.opportunity_id.in_(ids), Participant.user_id.is_not(None)
        ),
        select(OpportunityFollow.opportunity_id, OpportunityFollow.user_id).where(
            OpportunityFollow.opportunity_id.in_(ids), OpportunityFollow.following
        ),
    ).subquery("candidate")
    user = User.__table__.alias("follower")
    query = (
        select(candidates.c.opportunity_id, candidates.c.user_id)
        .join(Opportunity, Opportunity.id == candidates.c.opportunity_id)
        .join(user, and_(user.c.id == candidates.c.user_id, user.c.is_active))
        .where(
            Opportunity.deleted_at.is_(None),
            not_(_choice(Opportunity.id, user.c.id, False)),
            _sees(user.c),
        )
    )
    found: dict[int, set[int]] = {i: set() for i in opportunity_ids}
    for opportunity_id, user_id in await session.execute(query):
        found[opportunity_id].add(user_id)
    return found
