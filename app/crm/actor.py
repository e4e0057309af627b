"""Who is acting, and the SQL form of "may this actor see that opportunity".

Two things decide it: the user's rights (an admin sees every deal, a member the public ones and
the private ones they are linked to) and the token's reach (a personal token may be limited
to folders: then only deals in those folders and their sub-folders, whatever the user's
rights).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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

from app.crm.folders.models import Folder
from app.crm.opportunities.models import Opportunity, Participant
from app.crm.statements import keys


@dataclass(frozen=True, slots=True)
class Grant:
    """What the token a request came with allows (app/crm/auth/tokens.py)."""

    token_id: int
    kind: str
    """SESSION (a login's) or PERSONAL (an integration's)."""
    read_only: bool
    expires_at: datetime | None
    folder_ids: frozenset[int] | None = None
    """The folders whose deals (with their sub-folders') the token reaches; None: all."""


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    name: str
    email: str
    role: str
    team_ids: frozenset[int]
    must_change_password: bool = False
    """Holding a one-time password: nothing runs for them but changing it."""
    grant: Grant | None = None
    """The token the actor came with; None for the command line (the server's own authority)
    and for subscribers' rights as the directory reads them."""

    @property
    def is_admin(self) -> bool:
        return self.role == "ADMIN"

    @property
    def folder_ids(self) -> frozenset[int] | None:
        """The folders the token limits the actor to (see Grant); None: no limit."""
        grant = self.grant
        return grant.folder_ids if grant is not None else None

    @property
    def sees_all(self) -> bool:
        """Every deal: an admin with a token limited to no folders."""
        return self.role == "ADMIN" and (self.grant is None or self.grant.folder_ids is None)


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """The visibility rule (docs/architecture.md) as a WHERE clause over `opportunities`."""
    if actor.is_admin:
        seen: ColumnElement[bool] = true()
    else:
        linked = [Participant.user_id == actor.user_id]
        if actor.team_ids:
            linked.append(Participant.team_id.in_(sorted(actor.team_ids)))
        seen = _member_sees(actor.user_id, or_(*linked))
    folders = actor.folder_ids
    return seen if folders is None else and_(seen, _in_folders(sorted(folders)))


def _in_folders(folder_ids: Any) -> ColumnElement[bool]:
    """In one of the folders or beneath one (by the folders' materialised paths)."""
    top = Folder.__table__.alias("reach")
    below = Folder.__table__.alias("reached")
    return Opportunity.folder_id.in_(
        select(below.c.id)
        .join(top, below.c.path.startswith(top.c.path))
        .where(top.c.id == any_(folder_ids))
    )


def reach(actor: Actor) -> tuple[bool, bool]:
    """Which statement compiled once (app/crm/statements.py) serves the actor: (whether as a
    member, whether limited to folders); its parameters are `reach_parameters(actor)`."""
    return (not actor.is_admin, actor.folder_ids is not None)


def reach_conditions(member: bool, limited: bool) -> list[ColumnElement[bool]]:
    """`visible_to` for the actors of one `reach`, with the actor as parameters."""
    conditions = []
    if member:
        user = bindparam("user_id", type_=BigInteger)
        linked = or_(Participant.user_id == user, Participant.team_id == any_(keys("team_ids")))
        conditions.append(_member_sees(user, linked))
    if limited:
        conditions.append(_in_folders(keys("folder_ids")))
    return conditions


def reach_parameters(actor: Actor) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if not actor.is_admin:
        values.update(user_id=actor.user_id, team_ids=sorted(actor.team_ids))
    if (folders := actor.folder_ids) is not None:
        values["folder_ids"] = sorted(folders)
    return values


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
