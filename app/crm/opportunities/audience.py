from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.opportunities.models import Opportunity, Participant
from app.events.envelope import Audience


async def audience_of(session: AsyncSession, opportunity: Opportunity) -> Audience:
    """Who may see the opportunity as it stands in this transaction."""
    rows = (
        await session.execute(
            select(Participant.user_id, Participant.team_id).where(
                Participant.opportunity_id == opportunity.id,
                (Participant.user_id.is_not(None)) | (Participant.team_id.is_not(None)),
            )
        )
    ).all()
    return Audience(
        visibility=opportunity.visibility,
        owner_id=opportunity.owner_id,
        user_ids=frozenset(r.user_id for r in rows if r.user_id is not None),
        team_ids=frozenset(r.team_id for r in rows if r.team_id is not None),
    )


async def audiences_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Audience]:
    """Who may see each opportunity now (deleted ones included: their last audience)."""
    owners = (
        await session.execute(
            select(Opportunity.id, Opportunity.visibility, Opportunity.owner_id).where(
                Opportunity.id.in_(ids)
            )
        )
    ).all()
    links = (
        await session.execute(
            select(Participant.opportunity_id, Participant.user_id, Participant.team_id).where(
                Participant.opportunity_id.in_(ids),
                (Participant.user_id.is_not(None)) | (Participant.team_id.is_not(None)),
            )
        )
    ).all()
    users: dict[int, set[int]] = {}
    teams: dict[int, set[int]] = {}
    for opportunity_id, user_id, team_id in links:
        if user_id is not None:
            users.setdefault(opportunity_id, set()).add(user_id)
        if team_id is not None:
            teams.setdefault(opportunity_id, set()).add(team_id)
    return {
        o.id: Audience(
            visibility=o.visibility,
            owner_id=o.owner_id,
            user_ids=frozenset(users.get(o.id, ())),
            team_ids=frozenset(teams.get(o.id, ())),
        )
        for o in owners
    }
