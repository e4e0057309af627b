"""Text search over opportunities: what matches, how well, and how to find the matches fast
however many deals match.

A search matches the words of a deal's name, number or description (the last one as a
prefix: search.prefix_query), any part of its name or number, or any part of a linked
company's name. Ranked by relevance (relevance()), a list ranks only its most recently
updated matches (ranking.py).

How PostgreSQL should find the matches depends on how many there are, which its estimates
for prefix queries do not tell (they guess 2 % for any word). So a search first probes the
1,000 most recently updated deals (is_broad(), a few ms):
- a rare search collects its matches from the indexes (full text, trigrams), then reads
  just those deals by primary key: work in proportion to the matches (a ranked list may
  read them in order of recency instead: ranking.py);
- a broad one tests deals one by one, so a list walks an index in its own order and stops
  when it has a page (or the ranked part).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    any_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.crm.companies.models import Company
from app.crm.opportunities.models import Opportunity, Participant
from app.crm.search import contains_pattern, prefix_query

# Deals the probe looks at, and the matches among them that make a search broad (0.6 %:
# where reading the matches by index and testing deals in order cost about the same).
PROBED = 1000
BROAD_AT = 6


def _words(text: str) -> Any:
    words = prefix_query(text)
    return None if words is None else func.to_tsquery("simple", words)


def search_condition(text: str, *, broad: bool = False) -> ColumnElement[bool]:
    """Deals matching `text`, in the form that suits a rare (default) or a broad search."""
    if broad:
        # Tested deal by deal, so the list's own index order rules; the deals of the
        # companies named like it are gathered once (from the link index alone) and hashed.
        pattern = contains_pattern(text, ["filter", "search"])
        return or_(*_own_fields(text, pattern), Opportunity.id.in_(_linked(pattern)))
    found = collect_statement(text).scalar_subquery()
    return Opportunity.id == any_(cast(found, ARRAY(BigInteger)))


def _linked(pattern: str) -> Any:
    """The deals linked to a company named like `pattern`."""
    return select(Participant.opportunity_id).where(
        Participant.company_id.in_(select(Company.id).where(Company.name.ilike(pattern)))
    )


def _matches(text: str) -> Any:
    """The ids of the deals matching `text` (deleted ones too, some twice), each alternative
    an indexed lookup: one OR over them would read every row, and a join would be planned on
    the 2 % guess."""
    pattern = contains_pattern(text, ["filter", "search"])
    searched = Opportunity.__table__.alias("searched")
    branches = [
        # One pass over the table for both (a BitmapOr): a number and a name often share
        # their digits, and each pass rechecks its candidates in the table.
        select(searched.c.id).where(
            or_(searched.c.name.ilike(pattern), searched.c.number.ilike(pattern))
        ),
        _linked(pattern),
    ]
    words = _words(text)
    if words is not None:
        branches.append(select(searched.c.id).where(searched.c.search_vector.op("@@")(words)))
    # Not deduplicated: a deal found twice is tested twice, which costs less than the
    # deduplication (2 ms for 9,000 ids).
    return union_all(*branches).subquery("matches")


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
    newest = newest.where(Opportunity.deleted_at.is_(None))
    newest = newest.order_by(Opportunity.updated_at.desc(), Opportunity.id.desc())
    recent = newest.limit(PROBED).subquery()
    return select(func.count()).where(recent.c.hit)


async def is_broad(session: AsyncSession, text: str) -> bool:
    """Does `text` match enough of the most recently updated deals to count as broad?"""
    return (await session.scalar(probe_statement(text)) or 0) >= BROAD_AT


@dataclass(frozen=True, slots=True)
class Matches:
    """How a list finds the matches of its search (the one every listed deal matches),
    decided before the list is read (find_matches)."""

    text: str
    broad: bool = False
    # A rare search's matches when read first (listed()): every deal matching at that
    # moment, deleted ones too (the list's own statement applies its other conditions).
    ids: str | None = None
    # The list reads the deals in order of recency and tests each against `ids` itself
    # (ranking.py): the search's own condition is then left out.
    walked: bool = False

    @property
    def count(self) -> int:
        """How many ids `ids` holds (a deal found in two ways counts twice)."""
        return self.ids.count(",") + 1 if self.ids else 0

    def condition(self, text: str) -> ColumnElement[bool]:
        """The condition for the search `text` of a filter (it may hold others)."""
        if text != self.text or self.ids is None:
            return search_condition(text, broad=self.broad)
        if self.walked:
            return true()
        return Opportunity.id == any_(self.listed())

    def listed(self) -> Any:
        """The ids, read first, as a bigint[] in SQL.

        They travel as text ("4,8,15", as find_statement writes them): asyncpg encodes a
        Python list element by element (2.5 ms for 9,000 ids). PostgreSQL folds the
        conversion into a constant array when it plans for the value (db.custom_plans), so it
        can hash it."""
        assert self.ids is not None, "the matches were not read first"
        return cast(func.string_to_array(literal(self.ids, Text), ","), ARRAY(BigInteger))

    def walking(self) -> Matches:
        return replace(self, walked=True)


def collect_statement(text: str) -> Any:
    """The ids of the deals matching `text`, as one array."""
    return select(func.array_agg(_matches(text).c[0]))


def find_statement(text: str) -> Any:
    """The probe's count, and when it finds `text` rare, its matches' ids (Matches.listed): one
    round trip (the matches are read only when the CASE asks for them)."""
    probe = probe_statement(text).subquery("probe")
    hits = probe.c[0]
    matches = _matches(text)
    ids = select(func.string_agg(cast(matches.c[0], Text), ",")).scalar_subquery()
    return select(hits.label("hits"), case((hits < BROAD_AT, ids)).label("ids"))


async def find_matches(session: AsyncSession, text: str, *, collect: bool) -> Matches:
    """Whether `text` is broad (is_broad); if it is rare and `collect`, its matches too (a
    ranked list decides by their number how to read them: ranking.py)."""
    if not collect:
        return Matches(text, broad=await is_broad(session, text))
    found = (await session.execute(find_statement(text))).one()
    if found.hits >= BROAD_AT:
        return Matches(text, broad=True)
    return Matches(text, ids=found.ids or "")
