"""Following a deal, or leaving it: the viewer's own choice, kept whatever the default."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert

from app.crm.following.models import OpportunityFollow
from app.crm.opportunities.models import Opportunity
from app.crm.opportunities.services import visible_opportunity
from app.crm.unit import Unit


async def set_following(unit: Unit, opportunity_id: int, following: bool) -> Opportunity:
    """Follow (or stop following) a deal the actor may see; a hidden one is NOT_FOUND. An
    explicit choice stays when the user later becomes (or stops being) owner or linked."""
    actor = unit.require_actor()
    opportunity = await visible_opportunity(unit, opportunity_id, "opportunityId")
    statement = insert(OpportunityFollow).values(
        opportunity_id=opportunity.id, user_id=actor.user_id, following=following
    )
    await unit.session.execute(
        statement.on_conflict_do_update(
            index_elements=["opportunity_id", "user_id"],
            set_={"following": following, "created_at": func.now()},
            where=OpportunityFollow.following.is_not(following),
        )
    )
    return opportunity
