"""Text search over opportunities: what matches, how well, and a ranking that stays fast
however many deals match.

A search matches the words of a deal's name, number or description (the last one as a
prefix: search.prefix_query), any part of its name or number, or any part of a linked
company's name.

Ranked by relevance, a search ranks its RANKED most recently updated matches and lists the
rest after them, most recently updated first (ranked_page()): ranking every deal that
contains a word one deal in seven contains would read 140,000 deals at a million, and
ranks among so many are noise anyway.

How PostgreSQL should find the matches depends on how many there are, which its estimates
for prefix queries do not tell (they guess 2 % for any word). So a search first probes the
1,000 most recently updated deals (is_broad(), a few ms):
- a rare search collects its matches from the indexes (full text, trigrams), then reads
  just those deals by primary key: work in proportion to the matches;
- a broad one tests deals one by one, so a list walks an index in its own order and stops
  when it has a page (or the ranked part).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    any_,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.companies.models import Company
from app.crm.errors import DomainError, ErrorCode
from app.crm.opportunities.models import Opportunity, Participant
from app.crm.paging import (
    Page,
    SortKey,
    as_page,
    check_page_size,
    cursor_tag,
    fetch_page,
    ordered,
    page_query,
    parse_datetime,
    parse_int,
)
from app.crm.search import contains_pattern, prefix_query

# How many of the most recent matches a broad search ranks.
RANKED = 200
# Deals the probe looks at, and the matches among them that make a search broad (0.6 %:
# where reading the matches by index and testing deals in order cost about the same).
PROBED = 1000
BROAD_AT = 6


def _words(text: str) -> Any:
    words = prefix_query(text)
    return None if words is None else func.to_tsquery("simple", words)


def search_condition(text: str, *, broad: bool = False) -> ColumnElement[bool]:
    """Deals matching `text`, in the form that suits a rare (default) or a broad search."""
    pattern = contains_pattern(text, ["filter", "search"])
    companies = select(Participant.opportunity_id).where(
        Participant.company_id.in_(select(Company.id).where(Company.name.ilike(pattern)))
    )
    if broad:
        # Tested deal by deal, so the list's own index order rules; the deals of the
        # companies named like it are gathered once (from the link index alone) and hashed.
        return or_(*_own_fields(text, pattern), Opportunity.id.in_(companies))
    # Each alternative an indexed lookup, united, then the deals read by primary key: one OR
    # over them would read every row, and a join would be planned on the 2 % guess.
    searched = Opportunity.__table__.alias("searched")
    branches = [
        # One pass over the table for both (a BitmapOr): a number and a name often share
        # their digits, and each pass rechecks its candidates in the table.
        select(searched.c.id).where(
            or_(searched.c.name.ilike(pattern), searched.c.number.ilike(pattern))
        ),
        companies,
    ]
    words = _words(text)
    if words is not None:
        branches.append(select(searched.c.id).where(searched.c.search_vector.op("@@")(words)))
    matches = union(*branches).subquery("matches")
    found = select(func.array_agg(matches.c[0])).scalar_subquery()
    return Opportunity.id == any_(cast(found, ARRAY(BigInteger)))


def _own_fields(text: str, pattern: str) -> list[ColumnElement[bool]]:
    """The tests of a deal's own name, number and description."""
    tests: list[ColumnElement[bool]] = [
        Opportunity.name.ilike(pattern),
        Opportunity.number.ilike(pattern),
    ]
    words = _words(text)
    if words is not None:
        tests.insert(0, Opportunity.search_vector.op("@@")(words))
    return tests


def relevance(text: str) -> Any:
    """How well a deal matches `text`: full-text rank plus name similarity (0 .. ~2)."""
    words = _words(text)
    rank = func.ts_rank(Opportunity.search_vector, words) if words is not None else literal(0.0)
    return rank + func.similarity(Opportunity.name, text)


def probe_statement(text: str) -> Any:
    """How many of the most recently updated deals `text` matches (their own fields only: a
    company name is a rare search, or its deals are found by their names too)."""
    pattern = contains_pattern(text, ["filter", "search"])
    newest = select(or_(*_own_fields(text, pattern)).label("hit"))
    newest = ordered(newest.where(Opportunity.deleted_at.is_(None)), _recent_keys())
    recent = newest.limit(PROBED).subquery()
    return select(func.count()).where(recent.c.hit)


async def is_broad(session: AsyncSession, text: str) -> bool:
    """Does `text` match enough of the most recently updated deals to count as broad?"""
    return (await session.scalar(probe_statement(text)) or 0) >= BROAD_AT


# The order past the ranked part, and what marks its end: the RANKED-th most recent match.
_RECENT = (Opportunity.updated_at, Opportunity.id)


def _position(cut: tuple[datetime, int]) -> Any:
    return tuple_(
        literal(cut[0], Opportunity.updated_at.type), literal(cut[1], Opportunity.id.type)
    )


def _recent_keys() -> list[SortKey]:
    return [
        SortKey(Opportunity.updated_at, True, parse_datetime),
        SortKey(Opportunity.id, True, parse_int),
    ]


def first_ranked_statement(
    columns: Sequence[Any], where: Sequence[Any], keys: Sequence[SortKey], size: int
) -> Any:
    """The first page of the ranked part, and where that part ends, in one statement: the
    matches are found once."""
    matches: Any = select(*_RECENT).where(*where)
    recent = ordered(matches, _recent_keys()).limit(RANKED).cte("recent")
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
) -> tuple[Page[Row[Any]], tuple[datetime, int] | None]:
    """The first page of the ranked part, and where that part ends (None: it holds every
    match)."""
    query = first_ranked_statement(columns, where, keys, size)
    rows = (await session.execute(query)).all()
    cut = (rows[0].cut_at, rows[0].cut_id) if rows and rows[0].ranked >= RANKED else None
    return as_page(rows, len(keys), size, _tag(tag, "A", cut), has_previous_page=False), cut


def _parse_tag(tag: str, base: str) -> tuple[str, tuple[datetime, int] | None]:
    """(phase, cut) from a cursor's tag: `base|A|-` (everything ranked), `base|A|<time>|<id>`
    or `base|B|<time>|<id>` (ranked up to there, then listed by recency)."""
    parts = tag.split("|")
    try:
        if parts[:2] == [base, "A"] and parts[2:] == ["-"]:
            return "A", None
        if len(parts) == 4 and parts[0] == base and parts[1] in ("A", "B"):
            return parts[1], (parse_datetime(parts[2]), parse_int(int(parts[3])))
    except (ValueError, ArithmeticError):
        pass
    raise DomainError(
        ErrorCode.INVALID, "the cursor is not valid for this list and order", ["after"]
    )


def _tag(base: str, phase: str, cut: tuple[datetime, int] | None) -> str:
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
) -> Page[Row[Any]]:
    """A page of a search ranked by `keys` (relevance first): the RANKED most recently
    updated matches in that order, then the other matches, most recently updated first. The
    cursor carries where the ranked part ends, so paging stays exact while deals change."""
    size = check_page_size(first)
    paged = after is not None
    items: list[Row[Any]] = []
    cursors: list[str] = []
    if after is None:
        ranked, cut = await _first_ranked(session, columns, where, keys, size, tag)
        if ranked.has_next_page or cut is None:
            return ranked
        items, cursors, size = ranked.items, ranked.cursors, size - len(ranked.items)
    else:
        phase, cut = _parse_tag(cursor_tag(after), tag)
        if phase == "A":
            ranked_where = list(where)
            if cut is not None:
                ranked_where.append(tuple_(*_RECENT) >= _position(cut))
            ranked = await fetch_page(
                session, columns, ranked_where, keys, size, after, tag=_tag(tag, "A", cut)
            )
            if ranked.has_next_page or cut is None:
                return ranked
            items, cursors, size, after = (
                ranked.items,
                ranked.cursors,
                size - len(ranked.items),
                None,
            )
    assert cut is not None
    rest = await fetch_page(
        session,
        columns,
        [*where, tuple_(*_RECENT) < _position(cut)],
        _recent_keys(),
        size,
        after,
        tag=_tag(tag, "B", cut),
    )
    return Page(
        items + rest.items,
        cursors + rest.cursors,
        has_next_page=rest.has_next_page,
        has_previous_page=paged,
    )
