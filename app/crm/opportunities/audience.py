from __future__ import annotations

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
