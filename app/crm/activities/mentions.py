"""@mentions in the text people write on an activity: a journal's body, a task's description,
an appointment's notes (all three the `body` column; titles and e-mails carry none). The
rules as clients see them: docs/mentions.md.

`@handle` (app/crm/users/handles.py) at the start of a word names an active user or a team,
case-insensitively; what follows it that cannot end a handle (`.` `,` `-` at a sentence's
end) is not part of it. Not a mention: an e-mail address (`mia@example.com`), `@` after a
letter, digit or `/` (`…/@mia` in a link), a handle followed by `@`, and an `@word` that
names nobody or a deactivated user, which stays plain text as in a chat.

A mention is a promise to tell someone, so it must reach only people who may read the deal:
a user who cannot see the opportunity, or a team of which some active member cannot, is
refused (MENTION_NOT_ALLOWED) and nothing is saved. The message names the handle to the
writer, who sees the deal; the person mentioned is never told anything.

Each `@handle` is stored as a link (activity_mentions) with its place in the text, counted
in characters (code points); the links are replaced whenever the text changes. Everyone a
mention newly reaches (a team's mention reaches its active members) gets a MENTIONED notice;
the inbox decides who is really told (app/crm/inbox/notices.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    String,
    and_,
    any_,
    bindparam,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.activities.models import Activity, ActivityMention
from app.crm.errors import DomainError, ErrorCode
from app.crm.inbox.notices import Notice, NoticeKind
from app.crm.opportunities.audience import audience_of
from app.crm.opportunities.models import Opportunity
from app.crm.unit import Unit
from app.crm.users.handles import MAX_HANDLE_LENGTH, is_handle
from app.crm.users.models import Team, TeamMember, User
from app.events.envelope import Audience

MAX_MENTIONS = 50
"""Distinct users and teams one text may mention."""
MAX_PLACES = 200
"""Mentions one text may hold, counting each place (`@mia … @mia` is two)."""
MAX_CANDIDATES = 1000
"""Distinct `@words` one text may hold: each is looked up."""
EXCERPT_LENGTH = 140

TEXT_FIELDS = {"JOURNAL": "body", "TASK": "description", "APPOINTMENT": "notes"}
"""The kinds whose text carries mentions, and what the API calls that text."""

# `@` not inside a word, an address or a path; then every character a handle could hold,
# and any letter (`@müller` is no handle and must not become `@m`).
_AT_WORD = re.compile(r"(?<![\w@./+=\-])@([\w.\-]+)")


@dataclass(frozen=True, slots=True)
class Written:
    """An `@handle` as it stands in a text."""

    start: int
    length: int
    handle: str
    """Lowercase, without the `@`."""


def written_handles(text: str) -> list[Written]:
    """The `@handle`s in `text` by the syntax alone, in order (names no one yet)."""
    found: list[Written] = []
    for match in _AT_WORD.finditer(text):
        run = match.group(1)
        if text.startswith("@", match.end()):
            continue  # `@mia@example.com`
        handle = run.rstrip("._-")
        if handle.isascii() and is_handle(handle.lower()):
            found.append(Written(match.start(), len(handle) + 1, handle.lower()))
    return found


@dataclass(frozen=True, slots=True)
class Member:
    user_id: int
    is_admin: bool
    team_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class Target:
    """Whom a handle names: a user (`user_id`) or a team (`team_id`), and the people it
    reaches (the user; the team's active members)."""

    handle: str
    user_id: int | None
    team_id: int | None
    reaches: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class Mention:
    start: int
    length: int
    target: Target


@dataclass(frozen=True, slots=True)
class Recognised:
    """The mentions in one text, in order."""

    text: str
    mentions: tuple[Mention, ...] = ()
    reached: dict[int, Mention] = field(default_factory=dict)
    """Each user the mentions reach, with the first mention that reaches them."""


NOTHING = Recognised("")


def _handles_parameter(handles: Sequence[str]) -> Any:
    return bindparam("handles", list(handles), type_=ARRAY(String))


def _teams_of(user_id: Any) -> Any:
    theirs = TeamMember.__table__.alias("theirs")
    return (
        select(func.array_agg(theirs.c.team_id))
        .where(theirs.c.user_id == user_id)
        .scalar_subquery()
    )


def _people(
    user_where: Callable[[Any], Any], team_where: Callable[[Any], Any], limit: int | None = None
) -> Any:
    """Active users and teams (`*_where` of their table), with whom each reaches: the user;
    the team's active members, one row each."""
    users = User.__table__
    members = TeamMember.__table__
    teams = Team.__table__
    as_users = select(
        literal("USER").label("kind"),
        users.c.handle,
        users.c.id.label("target_id"),
    ).where(user_where(users), users.c.is_active)
    as_teams = select(
        literal("TEAM").label("kind"),
        teams.c.handle,
        teams.c.id.label("target_id"),
    ).where(team_where(teams))
    if limit is not None:
        as_users = as_users.order_by(users.c.handle).limit(limit)
        as_teams = as_teams.order_by(teams.c.handle).limit(limit)
    found = union_all(as_users, as_teams).subquery("found")
    reached = users.alias("reached")
    in_team = (
        select(members.c.user_id).where(members.c.team_id == found.c.target_id).correlate(found)
    )
    # A user reaches themselves; a team, its members.
    reaches = and_(
        reached.c.is_active,
        or_(
            and_(found.c.kind == "USER", reached.c.id == found.c.target_id),
            and_(found.c.kind == "TEAM", reached.c.id.in_(in_team)),
        ),
    )
    return (
        select(
            found.c.kind,
            found.c.handle,
            found.c.target_id,
            reached.c.id.label("user_id"),
            reached.c.role,
            _teams_of(reached.c.id).label("team_ids"),
        )
        .select_from(found.outerjoin(reached, reaches))
        .order_by(found.c.kind.desc(), found.c.handle)
    )


def _as_targets(rows: Iterable[Any]) -> list[Target]:
    """Rows of `_people` as targets, users first, each in handle order."""
    reaches: dict[tuple[str, int], list[Member]] = {}
    handle_of: dict[tuple[str, int], str] = {}
    for row in rows:
        key = (row.kind, row.target_id)
        handle_of[key] = row.handle
        people = reaches.setdefault(key, [])
        if row.user_id is not None:
            people.append(Member(row.user_id, row.role == "ADMIN", frozenset(row.team_ids or ())))
    return [
        Target(
            handle_of[(kind, target_id)],
            target_id if kind == "USER" else None,
            target_id if kind == "TEAM" else None,
            tuple(people),
        )
        for (kind, target_id), people in reaches.items()
    ]


async def _targets(session: AsyncSession, handles: Sequence[str]) -> dict[str, Target]:
    """Active users and teams by handle: one statement."""
    wanted = _handles_parameter(handles)
    query = _people(lambda t: t.c.handle == any_(wanted), lambda t: t.c.handle == any_(wanted))
    found: dict[str, Target] = {}
    # Users first: should a user and a team ever share a handle, it names the user.
    for target in _as_targets((await session.execute(query)).all()):
        found.setdefault(target.handle, target)
    return found


def admits_all(audience: Audience, target: Target) -> bool:
    """Whether everyone `target` reaches may see the deal of `audience`."""
    return all(audience.admits(m.user_id, m.team_ids, m.is_admin) for m in target.reaches)


MAX_SUGGESTIONS = 50
_SCANNED = 200
"""Users and teams whose handle or name fits a search, read to find who may be mentioned."""


async def mentionable(
    session: AsyncSession, audience: Audience, search: str | None, limit: int
) -> list[Target]:
    """Who may be mentioned on the deal of `audience`: active users and teams whose handle,
    or a word of whose name, starts with `search` (a leading `@` ignored), users first,
    each by handle; at most `limit` (1 to MAX_SUGGESTIONS)."""
    if not 1 <= limit <= MAX_SUGGESTIONS:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"first must be between 1 and {MAX_SUGGESTIONS}", ["first"]
        )
    prefix = (search or "").strip().removeprefix("@").lower()[:MAX_HANDLE_LENGTH]
    if prefix:
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

        def fits(table: Any) -> Any:
            name = func.lower(table.c.name)
            return (
                table.c.handle.startswith(prefix, autoescape=True)
                | name.like(f"{like}%")
                | name.like(f"% {like}%")
            )

    else:

        def fits(table: Any) -> Any:
            return true()

    rows = (await session.execute(_people(fits, fits, _SCANNED))).all()
    return [t for t in _as_targets(rows) if admits_all(audience, t)][:limit]


def _listed(handles: Sequence[str]) -> str:
    named = [f"@{h}" for h in handles]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


async def recognise(
    unit: Unit, opportunity: Opportunity, text: str | None, field: str
) -> Recognised:
    """The mentions in `text`, each of someone who may see `opportunity`; refused
    otherwise (MENTION_NOT_ALLOWED, or INVALID for too many), `field` naming the text."""
    if not text:
        return NOTHING
    written = written_handles(text)
    if not written:
        return Recognised(text)
    handles = list(dict.fromkeys(w.handle for w in written))
    if len(handles) > MAX_CANDIDATES:
        raise DomainError(
            ErrorCode.INVALID,
            f"{field} holds {len(handles)} different @names; at most {MAX_CANDIDATES} are "
            "looked up",
            [field],
        )
    targets = await _targets(unit.session, handles)
    mentions = tuple(
        Mention(w.start, w.length, targets[w.handle]) for w in written if w.handle in targets
    )
    named = list(dict.fromkeys(m.target.handle for m in mentions))
    if len(named) > MAX_MENTIONS:
        raise DomainError(
            ErrorCode.INVALID,
            f"{field} mentions {len(named)} users and teams; at most {MAX_MENTIONS} may be "
            "mentioned in one text",
            [field],
        )
    if len(mentions) > MAX_PLACES:
        raise DomainError(
            ErrorCode.INVALID,
            f"{field} holds {len(mentions)} mentions; at most {MAX_PLACES} fit in one text",
            [field],
        )
    if not mentions:
        return Recognised(text)
    audience = await audience_of(unit.session, opportunity)
    refused_users: list[str] = []
    refused_teams: list[str] = []
    for handle in named:
        target = targets[handle]
        if not admits_all(audience, target):
            (refused_users if target.user_id is not None else refused_teams).append(handle)
    if refused_users or refused_teams:
        reasons = []
        if refused_users:
            reasons.append(f"{_listed(refused_users)} cannot see this opportunity")
        if refused_teams:
            reasons.append(f"not everyone in {_listed(refused_teams)} can see this opportunity")
        raise DomainError(
            ErrorCode.MENTION_NOT_ALLOWED,
            "; ".join(reasons) + ": link them to it first, or remove the mention",
            [field],
        )
    reached: dict[int, Mention] = {}
    for mention in mentions:
        for member in mention.target.reaches:
            reached.setdefault(member.user_id, mention)
    return Recognised(text, mentions, reached)


async def _reached_before(unit: Unit, activity_id: int) -> set[int]:
    """Whom the activity's stored mentions reach (its teams' members as they are now)."""
    links = ActivityMention.__table__
    members = TeamMember.__table__
    direct = select(links.c.user_id).where(
        links.c.activity_id == activity_id, links.c.user_id.is_not(None)
    )
    through_teams = (
        select(members.c.user_id)
        .join(links, links.c.team_id == members.c.team_id)
        .where(links.c.activity_id == activity_id)
    )
    return set((await unit.session.scalars(union_all(direct, through_teams))).all())


async def save(
    unit: Unit,
    opportunity: Opportunity,
    activity: Activity,
    recognised: Recognised,
    *,
    replacing: bool,
) -> None:
    """Store the text's mentions as the activity's links (`replacing` those it had) and give
    a notice to each user they newly reach."""
    before: set[int] = set()
    if replacing:
        before = await _reached_before(unit, activity.id)
        await unit.session.execute(
            delete(ActivityMention).where(ActivityMention.activity_id == activity.id)
        )
    unit.session.add_all(
        ActivityMention(
            activity_id=activity.id,
            user_id=m.target.user_id,
            team_id=m.target.team_id,
            start=m.start,
            length=m.length,
        )
        for m in recognised.mentions
    )
    for user_id, mention in recognised.reached.items():
        if user_id in before:
            continue
        unit.notify(
            Notice(
                user_id=user_id,
                kind=NoticeKind.MENTIONED,
                opportunity_id=activity.opportunity_id,
                activity_id=activity.id,
                detail={
                    "excerpt": excerpt(recognised.text, mention.start, mention.length),
                    "activityKind": activity.kind,
                    "handle": mention.target.handle,
                    "title": activity.title,
                    "opportunity": opportunity.name,
                },
            )
        )


_BLANKS = re.compile(r"\s+")


def excerpt(text: str, start: int, length: int, limit: int = EXCERPT_LENGTH) -> str:
    """The mention with the words around it, on one line, at most `limit` characters; `…`
    where the text goes on."""
    mention = text[start : start + length]
    lead = _BLANKS.sub(" ", text[max(0, start - limit) : start])
    tail = _BLANKS.sub(" ", text[start + length : start + length + limit])
    lead_cut = start > limit
    tail_cut = start + length + limit < len(text)
    room = limit - len(mention)
    lead_room = max(room // 2, room - len(tail) - tail_cut)
    if len(lead) + lead_cut > lead_room:
        lead, lead_cut = lead[len(lead) - lead_room + 1 :], True
        if " " in lead:
            lead = lead[lead.index(" ") :]  # no word cut in half
    lead = lead.lstrip()
    tail_room = room - len(lead) - lead_cut
    if len(tail) + tail_cut > tail_room:
        tail, tail_cut = tail[: tail_room - 1], True
        if " " in tail:
            tail = tail[: tail.rindex(" ")]
    tail = tail.rstrip()
    return ("…" if lead_cut else "") + lead + mention + tail + ("…" if tail_cut else "")


async def mentions_by_activity(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Any]]:
    """The stored mentions of each activity, in text order."""
    links = ActivityMention.__table__
    rows = (
        await session.execute(
            select(
                links.c.activity_id, links.c.user_id, links.c.team_id, links.c.start, links.c.length
            )
            .where(
                links.c.activity_id == any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))
            )
            .order_by(links.c.activity_id, links.c.start)
        )
    ).all()
    result: dict[int, list[Any]] = {i: [] for i in ids}
    for row in rows:
        result[row.activity_id].append(row)
    return result


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of a text: plain (no user, no team) or a mention of one of them."""

    text: str
    user_id: int | None = None
    team_id: int | None = None


def spans(text: str | None, links: Iterable[Any]) -> list[Span]:
    """`text` cut into plain pieces and its mentions (`links`: start, length, user_id,
    team_id, in order), which together make the whole text."""
    if not text:
        return []
    pieces: list[Span] = []
    at = 0
    for link in links:
        start, end = link.start, link.start + link.length
        # Links are replaced with the text; one that does not fit it is ignored, not shown.
        if start < at or end > len(text) or text[start] != "@":
            continue
        if start > at:
            pieces.append(Span(text[at:start]))
        pieces.append(Span(text[start:end], link.user_id, link.team_id))
        at = end
    if at < len(text):
        pieces.append(Span(text[at:]))
    return pieces
