"""A search's list sorted by relevance: its RANKED most recently updated matches ranked, then
the other matches, most recently updated first; read fast however many deals match.

Ranking every deal that contains a word one deal in seven contains would read 140,000 deals
at a million, and ranks among so many are noise anyway. The cursor carries where the ranked
part ends (the RANKED-th most recent match), so paging stays exact while deals change.

Both parts need the matches in order of recency. A broad search tests deals in the order an
index lists them (textsearch.py). A rare one has its matches read first
(textsearch.find_matches), and a list of them is read in one of two ways:
- each match by primary key, then sorted: about 2.6 µs a match (21 ms for 8,000 at 1M);
- or a walk: the recency index is read in order, index only (about 0.2 µs an entry), each
  entry tested against the matches (hashed), and only the deals it keeps are read. For 8,000
  matches in a million, 32,000 entries give the 200 most recent (6 ms).
A walk's cost grows as the matches get sparser among all deals, and as the list's other
conditions (visibility, filters) reject more of them; neither is known beforehand. So a walk
passes at most WALK_BUDGET entries per match, about half the cost of reading each match, and
when that does not fill what it was asked for, the list is read by primary key after all.
Later pages of a ranked part that a walk found walk again from the cut up (their cursors say
so: phase W); pages past the ranked part walk on from their cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, any_, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities.models import Opportunity
from app.crm.opportunities.textsearch import Matches
from app.crm.paging import (
    Page,
    SortKey,
    as_page,
    check_page_size,
    cursor_tag,
    decode_cursor,
    fetch_page,
    ordered,
    page_query,
    parse_datetime,
    parse_int,
)
from app.db import custom_plans

# How many of the most recent matches a search ranks.
RANKED = 200
# Entries of the recency index a walk may pass per match: passing one costs about a
# fifteenth of reading a match by primary key.
WALK_BUDGET = 8

Position = tuple[datetime, int]  # (updated_at, id): a place in the order of recency

# The order past the ranked part, and what marks its end: the RANKED-th most recent match.
_RECENT = (Opportunity.updated_at, Opportunity.id)


@dataclass(frozen=True, slots=True)
class Walk:
    """A rare search's list read by walking the recency index (see the module's doc)."""

    matches: Matches  # the search's, read first (rare): their ids and how many
    where: Sequence[Any]  # the list's conditions, its search left out: the walk tests it


def worth_walking(matches: Matches) -> bool:
    """Were the matches read first, and are there enough for a walk to fill the ranked
    part?"""
    return matches.ids is not None and matches.count >= RANKED


def _position(at: Position) -> Any:
    return tuple_(literal(at[0], Opportunity.updated_at.type), literal(at[1], Opportunity.id.type))


def _recent_keys(updated_at: Any, id_: Any) -> list[SortKey]:
    return [SortKey(updated_at, True, parse_datetime), SortKey(id_, True, parse_int)]


def _entries(walk: Walk, *, below: Position | None = None, cut: Position | None = None) -> Any:
    """The entries of the recency index a walk passes: those past `below`, most recent first,
    at most its budget; or (`cut`) every one from there up, which a walk found within its
    budget before.

    A subquery PostgreSQL keeps apart (it has a LIMIT, or an OFFSET 0): merged with the join
    that reads the deals, it would be planned by guessed selectivities (a hash join over
    every match measured 130 ms where the walk takes 6)."""
    index = Opportunity.__table__.alias("entries")
    entries = select(index.c.updated_at, index.c.id).where(index.c.deleted_at.is_(None))
    position = tuple_(index.c.updated_at, index.c.id)
    if cut is not None:
        return entries.where(position >= _position(cut)).offset(0).subquery("walked")
    if below is not None:
        entries = entries.where(position < _position(below))
    entries = entries.order_by(index.c.updated_at.desc(), index.c.id.desc())
    return entries.limit(WALK_BUDGET * walk.matches.count).subquery("walked")


def _walked(walk: Walk, entries: Any) -> list[Any]:
    """The list's conditions on the deals of the `entries` that are matches."""
    return [
        *walk.where,
        entries.c.id == Opportunity.id,
        entries.c.id == any_(walk.matches.listed()),
    ]


def _most_recent(
    where: Sequence[Any], walk: Walk | None, below: Position | None
) -> tuple[list[SortKey], list[Any]]:
    """Keys that list matches most recent first, and the conditions that select them (those
    past `below`, if given): from `where`, or by `walk`."""
    if walk is None:
        conditions = list(where)
        if below is not None:
            conditions.append(tuple_(*_RECENT) < _position(below))
        return _recent_keys(*_RECENT), conditions
    entries = _entries(walk, below=below)
    return _recent_keys(entries.c.updated_at, entries.c.id), _walked(walk, entries)


def first_ranked_statement(
    columns: Sequence[Any],
    where: Sequence[Any],
    keys: Sequence[SortKey],
    size: int,
    walk: Walk | None = None,
) -> Any:
    """The first page of the ranked part, and where that part ends, in one statement: the
    matches are found once."""
    recent_keys, conditions = _most_recent(where, walk, None)
    updated_at, id_ = (k.expression for k in recent_keys)
    matches: Any = select(updated_at.label("updated_at"), id_.label("id")).where(*conditions)
    recent = ordered(matches, recent_keys).limit(RANKED).cte("recent")
    last = select(recent.c.updated_at, recent.c.id).order_by(*recent.c).limit(1)
    query = page_query(columns, [Opportunity.id.in_(select(recent.c.id))], keys, size, None, tag="")
    return query.add_columns(
        select(func.count()).select_from(recent).scalar_subquery().label("ranked"),
        last.with_only_columns(recent.c.updated_at).scalar_subquery().label("cut_at"),
        last.with_only_columns(recent.c.id).scalar_subquery().label("cut_id"),
    )


async def _first_ranked(
    session: AsyncSession,
    columns: Sequence[Any],
    where: Sequence[Any],
    keys: Sequence[SortKey],
    size: int,
    tag: str,
    walk: Walk | None,
) -> tuple[Page[Row[Any]], Position | None]:
    """The first page of the ranked part, and where that part ends (None: it holds every
    match)."""
    rows: Sequence[Row[Any]] = []
    phase = "A"
    if walk is not None:
        walked = first_ranked_statement(columns, where, keys, size, walk)
        rows = (await session.execute(walked)).all()
        phase = "W"
    if not rows or rows[0].ranked < RANKED:
        # No walk, or one that ran out of budget (or of matches: the same answer, again).
        rows = (await session.execute(first_ranked_statement(columns, where, keys, size))).all()
        phase = "A"
    cut = (rows[0].cut_at, rows[0].cut_id) if rows and rows[0].ranked >= RANKED else None
    return as_page(rows, len(keys), size, _tag(tag, phase, cut), has_previous_page=False), cut


async def _later_ranked(
    session: AsyncSession,
    columns: Sequence[Any],
    where: Sequence[Any],
    keys: Sequence[SortKey],
    size: int,
    after: str,
    walk: Walk | None,
    cut: Position | None,
    tag: str,
) -> Page[Row[Any]]:
    """A later page of the ranked part: at most RANKED deals (and those changed since), in
    an order no index holds. `walk`: walked again from the cut up, as the first page found
    them within a walk's budget."""
    if walk is not None and cut is not None:
        walked = _walked(walk, _entries(walk, cut=cut))
        return await fetch_page(session, columns, walked, keys, size, after, tag=tag)
    ranked_where = list(where)
    if cut is not None:
        ranked_where.append(tuple_(*_RECENT) >= _position(cut))
    return await fetch_page(session, columns, ranked_where, keys, size, after, tag=tag)


async def _rest(
    session: AsyncSession,
    columns: Sequence[Any],
    where: Sequence[Any],
    walk: Walk | None,
    size: int,
    below: Position,
    tag: str,
) -> Page[Row[Any]]:
    """A page of the matches past `below`, most recent first."""
    if walk is not None:
        keys, conditions = _most_recent(where, walk, below)
        page = await fetch_page(session, columns, conditions, keys, size, None, tag=tag)
        if page.has_next_page:
            return page
        # Out of budget, or the last page: read by primary key (for the last, the same page).
    keys, conditions = _most_recent(where, None, below)
    return await fetch_page(session, columns, conditions, keys, size, None, tag=tag)


def _parse_tag(tag: str, base: str) -> tuple[str, Position | None]:
    """(phase, cut) from a cursor's tag: `base|A|-` (everything ranked), `base|A|<time>|<id>`
    (ranked up to there), `base|W|<time>|<id>` (the same, found by a walk) or
    `base|B|<time>|<id>` (past the ranked part, listed by recency)."""
    parts = tag.split("|")
    try:
        if parts[:2] == [base, "A"] and parts[2:] == ["-"]:
            return "A", None
        if len(parts) == 4 and parts[0] == base and parts[1] in ("A", "W", "B"):
            return parts[1], (parse_datetime(parts[2]), parse_int(int(parts[3])))
    except (ValueError, ArithmeticError):
        pass
    raise DomainError(
        ErrorCode.INVALID, "the cursor is not valid for this list and order", ["after"]
    )


def _tag(base: str, phase: str, cut: Position | None) -> str:
    return f"{base}|{phase}|" + ("-" if cut is None else f"{cut[0].isoformat()}|{cut[1]}")


async def ranked_page(
    session: AsyncSession,
    columns: Sequence[Any],
    where: Sequence[Any],
    keys: Sequence[SortKey],
    first: int | None,
    after: str | None,
    *,
    tag: str,
    walk: Walk | None = None,
) -> Page[Row[Any]]:
    """A page of a search ranked by `keys` (relevance first): the RANKED most recently
    updated matches in that order, then the other matches, most recently updated first.
    `where` selects the matches; `walk`, if given, is another way to read them in order of
    recency. The cursor carries where the ranked part ends."""
    size = check_page_size(first)
    # A walk tests entries against its matches as a constant array: see db.custom_plans.
    async with custom_plans(session) if walk is not None else nullcontext():
        paged = after is not None
        items: list[Row[Any]] = []
        cursors: Sequence[str] = []
        if after is None:
            ranked, cut = await _first_ranked(session, columns, where, keys, size, tag, walk)
            if ranked.has_next_page or cut is None:
                return ranked
            items, cursors, size = ranked.items, ranked.cursors, size - len(ranked.items)
            below = cut
        else:
            phase, cut = _parse_tag(cursor_tag(after), tag)
            if phase == "B":
                assert cut is not None
                values = decode_cursor(after, _recent_keys(*_RECENT), _tag(tag, "B", cut))
                # Never above the cut, whatever a cursor says: the ranked part is listed already.
                below = min(cut, (values[0], values[1]))
            else:
                ranked_walk = walk if phase == "W" else None
                in_phase = _tag(tag, phase, cut)
                ranked = await _later_ranked(
                    session, columns, where, keys, size, after, ranked_walk, cut, in_phase
                )
                if ranked.has_next_page or cut is None:
                    return ranked
                items, cursors, size = ranked.items, ranked.cursors, size - len(ranked.items)
                below = cut
        rest = await _rest(session, columns, where, walk, size, below, _tag(tag, "B", cut))
        return Page(
            items + rest.items,
            [*cursors, *rest.cursors],
            has_next_page=rest.has_next_page,
            has_previous_page=paged,
        )
