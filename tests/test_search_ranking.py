"""Searches ranked by relevance (app/crm/opportunities/ranking.py), through the public API.

A search sorted by relevance ranks only the RANKED most recently updated matches and lists
the other matches after them, most recently updated first (updatedAt DESC, id DESC). The
cursor carries where the ranked part ends, so paging is exact across that boundary whatever
the page size, and stays exact while deals change. A probe picks how PostgreSQL finds the
matches ("broad" or "rare", and for a rare one with many matches, whether to walk the deals
in order of recency): never which deals are listed, nor their order.

The pipeline most tests build holds more than RANKED deals matching SEARCH in every way a
deal can match: a word of its name, a part of a word of its name, a word of its description
only, its number only, a linked company's name only; beside deals that do not match and
deleted deals that would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from string import ascii_lowercase
from typing import Any

from tests.client import Api
from tests.views_client import LIST, OPPORTUNITY_PAYLOAD, UPDATE, Crm, order

RANKED = 200  # ranking.RANKED: how many of the most recent matches are ranked
SEARCH = "0042"
BATCH = 25  # deals created by one request (the server allows 100 aliases)

MATCHING = ("exact", "word", "part", "described", "company", "number")
# Kinds whose relevance is 0: nothing of the name is like SEARCH, no word of it either.
UNRANKED = ("company", "number")

DELETE = """mutation($i: DeleteOpportunityInput!) {
  deleteOpportunity(input: $i) { opportunity { id } userErrors { field code message } } }"""
RECENT = """query($first: Int, $after: String) {
  opportunities(first: $first, after: $after, orderBy: [{field: UPDATED_AT, direction: DESC}]) {
    pageInfo { hasNextPage endCursor }
    nodes { id updatedAt }
  }
}"""


def pk(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().partition(":")[2])


def amount(value: int) -> dict[str, str]:
    return {"amount": f"{value}.00", "currency": "EUR"}


# --- building -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    name: str
    kind: str  # one of MATCHING, "other" or "deleted" (a match, deleted once built)
    description: str | None = None
    company: str | None = None  # "match" or "other": the company to link
    token: str | None = None  # who creates it (default: the admin)
    private: bool = False


@dataclass
class Pipeline:
    crm: Crm
    companies: dict[str, str]
    kinds: dict[str, str] = field(default_factory=dict)  # deal ID -> kind, deleted ones too
    names: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)
    private: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    touched: list[str] = field(default_factory=list)  # among the oldest, updated last
    created: int = 0

    @property
    def matches(self) -> set[str]:
        """The live deals matching SEARCH, whoever may see them."""
        return {i for i, kind in self.kinds.items() if kind in MATCHING} - self.deleted

    def of_kind(self, kind: str) -> list[str]:
        return [i for i, k in self.kinds.items() if k == kind]

    async def add(self, specs: Sequence[Spec]) -> list[str]:
        """Create `specs` in order, up to BATCH deals of one creator by one request (their
        mutations run one after the other); their IDs."""
        ids: list[str] = []
        batches: list[list[Spec]] = []
        for spec in specs:
            if batches and len(batches[-1]) < BATCH and batches[-1][0].token == spec.token:
                batches[-1].append(spec)
            else:
                batches.append([spec])
        for batch in batches:
            token = batch[0].token
            values: dict[str, Any] = {}
            for n, spec in enumerate(batch):
                self.created += 1
                values[f"i{n}"] = {
                    "name": spec.name,
                    "expectedValue": amount(self.created * 7919 % 40 * 10),  # ties on purpose
                    "description": spec.description,
                    "visibility": "PRIVATE" if spec.private else "PUBLIC",
                }
            declared = ", ".join(f"$i{n}: CreateOpportunityInput!" for n in range(len(batch)))
            fields = " ".join(
                f"d{n}: createOpportunity(input: $i{n}) {{ {OPPORTUNITY_PAYLOAD} }}"
                for n in range(len(batch))
            )
            data = await self.crm.api.ok(
                f"mutation({declared}) {{ {fields} }}", values, token or self.crm.admin
            )
            links = []
            for n, spec in enumerate(batch):
                payload = data[f"d{n}"]
                assert payload["userErrors"] == [], payload
                deal_id: str = payload["opportunity"]["id"]
                ids.append(deal_id)
                self.kinds[deal_id] = spec.kind
                self.names[deal_id] = spec.name
                self.numbers[deal_id] = payload["opportunity"]["number"]
                if spec.private:
                    self.private.add(deal_id)
                if spec.company is not None:
                    links.append(self.crm.link(deal_id, self.companies[spec.company], "CUSTOMER"))
            await asyncio.gather(*links)
        return ids


async def build(crm: Crm, *, words: int = 190, late: Sequence[Spec] = ()) -> Pipeline:
    """The pipeline described at the top; `late` specs are mixed among the newest deals.

    The oldest deals hold every way of matching, so that each falls on both sides of the end
    of the ranked part (the 15 or so oldest matches)."""
    companies = {
        "match": await crm.company("Depot 0042 Ltd"),
        "other": await crm.company("Depot 0043 Ltd"),
    }
    pipeline = Pipeline(crm, companies)
    letters = iter([*ascii_lowercase, *(a + b for a in ascii_lowercase for b in ascii_lowercase)])
    numbers = iter(range(1, 1000))

    def word() -> Spec:
        return Spec(f"Lot 0042 no {next(numbers)}", "word")

    def part() -> Spec:
        return Spec(f"Crate X0042Y {next(letters)}", "part")

    def described() -> Spec:
        name = f"Crate {next(letters)}"
        return Spec(name, "described", description="Ships with lot 0042 of the order")

    def company() -> Spec:
        return Spec(f"Linked crate {next(letters)}", "company", company="match")

    def others() -> list[Spec]:
        return [
            Spec(f"Crate {next(numbers)}", "other", description="Ships with lot 0043"),
            Spec(f"Lot 0043 no {next(numbers)}", "other"),
            Spec(f"Linked crate {next(letters)}", "other", company="other"),
        ]

    def gone() -> Spec:
        return Spec(f"Lot 0042 gone {next(numbers)}", "deleted")

    oldest = [part(), described(), company(), *(word() for _ in range(6)), *others(), gone()]
    # Some of these are updated last (touched), so ranked though created early.
    early = [*(word() for _ in range(20)), described(), described(), part(), company(), *others()]
    newer = [*(word() for _ in range(words - 26)), *(part() for _ in range(8))]
    newer += [*(described() for _ in range(3)), *(company() for _ in range(4))]
    newer += [*others(), *others(), gone(), gone()]
    for group in (oldest, early, newer):
        random.Random(len(group)).shuffle(group)
    newer.insert(len(newer) - 60, Spec(SEARCH, "exact"))  # the best match among the ranked
    mixer = random.Random(7)
    for spec in late:
        newer.insert(mixer.randrange(len(newer) - 60, len(newer) + 1), spec)

    # The oldest deal is named exactly like the search: it matches best of all, yet is too
    # old to be ranked.
    await pipeline.add([Spec(SEARCH, "exact")])
    await pipeline.add(oldest)
    early_ids = await pipeline.add(early)
    # The 42nd deal, OPP-000042, matches by its number alone.
    (number_only,) = await pipeline.add([Spec("Crate plain", "number")])
    assert SEARCH in pipeline.numbers[number_only], pipeline.numbers[number_only]
    await pipeline.add(newer)

    pipeline.touched = [i for i in early_ids if pipeline.kinds[i] == "word"][:4]
    pipeline.touched += [i for i in early_ids if pipeline.kinds[i] == "described"][:1]
    for deal_id in pipeline.touched:
        await crm.update(deal_id, expectedValue=amount(5000))
    for deal_id in pipeline.of_kind("deleted"):
        await delete(crm, deal_id)
        pipeline.deleted.add(deal_id)
    return pipeline


async def update(crm: Crm, deal_id: str, **fields: Any) -> None:
    values = {"id": deal_id, "expectedVersion": await crm.version(deal_id), **fields}
    await crm.api.mutate("updateOpportunity", UPDATE, {"i": values}, crm.admin)


async def delete(crm: Crm, deal_id: str) -> None:
    values = {"id": deal_id, "expectedVersion": await crm.version(deal_id)}
    await crm.api.mutate("deleteOpportunity", DELETE, {"i": values}, crm.admin)


# --- reading --------------------------------------------------------------------------------


async def by_recency(crm: Crm, token: str | None = None) -> list[str]:
    """Every deal `token` sees, most recently updated first, ordered here from the updatedAt
    each deal shows (ties broken by the larger ID first)."""
    found: list[tuple[datetime, int, str]] = []
    after: str | None = None
    while True:
        data = await crm.api.ok(RECENT, {"first": 100, "after": after}, token or crm.admin)
        page = data["opportunities"]
        found += [
            (datetime.fromisoformat(n["updatedAt"]), pk(n["id"]), n["id"]) for n in page["nodes"]
        ]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len({i for _, _, i in found}) == len(found)
    return [i for _, _, i in sorted(found, reverse=True)]


async def reference(
    crm: Crm, order_by: list[dict[str, Any]], token: str | None = None
) -> list[str]:
    """Every deal in the order `order_by` lists them without a search."""
    return await walk(crm, 100, filter=None, order_by=order_by, token=token)


class Pager:
    """Pages of a list, one at a time, checking what every page promises."""

    def __init__(
        self,
        crm: Crm,
        *,
        filter: dict[str, Any] | None,
        order_by: list[dict[str, Any]] | None = None,
        token: str | None = None,
    ) -> None:
        self.crm = crm
        self.filter = filter
        self.order_by = order_by
        self.token = token
        self.after: str | None = None
        self.done = False
        self.total: int | None = None
        self.seen: list[str] = []

    async def next(self, size: int) -> list[str]:
        assert not self.done
        page = await self.crm.listing(
            self.token, filter=self.filter, orderBy=self.order_by, first=size, after=self.after
        )
        edges, info = page["edges"], page["pageInfo"]
        where = (size, len(self.seen), info)
        assert info["hasPreviousPage"] is (self.after is not None), where
        if self.total is None:
            self.total = page["totalCount"]
        if info["hasNextPage"]:
            # Full, however the page falls across the end of the ranked part.
            assert len(edges) == size, where
        else:
            assert len(edges) <= size, where
        if edges:
            assert info["startCursor"] == edges[0]["cursor"], where
            assert info["endCursor"] == edges[-1]["cursor"], where
        ids = [e["node"]["id"] for e in edges]
        self.seen += ids
        assert len(self.seen) <= 2000, "paging does not end"
        self.done = not info["hasNextPage"]
        self.after = info["endCursor"]
        return ids


async def walk(
    crm: Crm,
    size: int,
    *,
    filter: dict[str, Any] | None = None,
    order_by: list[dict[str, Any]] | None = None,
    token: str | None = None,
) -> list[str]:
    """The IDs of every deal listed, page by page; as many as totalCount says."""
    pager = Pager(crm, filter=filter, order_by=order_by, token=token)
    while not pager.done:
        await pager.next(size)
    total = (await crm.listing(token, filter=filter, orderBy=order_by, first=0))["totalCount"]
    assert len(pager.seen) == total == pager.total, (size, len(pager.seen), total, pager.total)
    return pager.seen


def check_ranked(
    found: list[str],
    recent: list[str],
    pipeline: Pipeline,
    *,
    exact: str | None = None,
    by_relevance_only: bool = True,
) -> None:
    """`found` is every match of `recent` (the matches, most recently updated first) once:
    the RANKED most recent ones first, ranked, then the others in the order of `recent`."""
    counts = Counter(found)
    assert [i for i, n in counts.items() if n > 1] == [], "listed more than once"
    assert set(found) == set(recent), (
        "missing",
        sorted(pipeline.names[i] for i in set(recent) - set(found)),
        "not matching",
        sorted(pipeline.names.get(i, i) for i in set(found) - set(recent)),
    )
    assert len(recent) > RANKED
    assert set(found[:RANKED]) == set(recent[:RANKED]), "ranked the wrong deals"
    assert found[RANKED:] == recent[RANKED:], "after the ranked part: not most recent first"
    if exact is not None:
        assert found[0] == exact, [pipeline.names[i] for i in found[:5]]
    if not by_relevance_only:
        return
    # Deals whose relevance is 0 (matched by number or company only) close the ranked part,
    # larger ID first.
    ranked = found[:RANKED]
    zero = [i for i in ranked if pipeline.kinds[i] in UNRANKED]
    assert zero, "the ranked part should hold deals matched by number or company alone"
    assert ranked[-len(zero) :] == sorted(zero, key=pk, reverse=True), [
        pipeline.names[i] for i in ranked[-len(zero) - 3 :]
    ]


# --- broad searches -------------------------------------------------------------------------


async def test_broad_search_ranks_the_most_recent_matches_then_lists_the_rest_by_recency(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    pipeline = await build(crm)
    recent = [i for i in await by_recency(crm) if i in pipeline.matches]
    every_kind = {pipeline.kinds[i] for i in recent}
    assert every_kind == set(MATCHING), every_kind
    exact_old, exact_new = pipeline.of_kind("exact")
    assert exact_old not in recent[:RANKED] and exact_new in recent[:RANKED]
    assert set(pipeline.touched) <= set(recent[:RANKED])  # recently updated, not created
    # Every way of matching falls on both sides of the cut.
    for kind in ("word", "described", "company", "part"):
        assert {pipeline.kinds[i] for i in recent[:RANKED]} >= {kind}, kind
        assert {pipeline.kinds[i] for i in recent[RANKED:]} >= {kind}, kind

    found = await walk(crm, 100, filter={"search": SEARCH})
    check_ranked(found, recent, pipeline, exact=exact_new)
    # The best match of all is too old to be ranked: it comes last, the least recent.
    assert found[-1] == exact_old

    # Page sizes that end a page exactly at the cut, just before or after it, or straddle it.
    for size in (30, 7, 50):
        assert await walk(crm, size, filter={"search": SEARCH}) == found, size
    # RELEVANCE asked for explicitly is the default order while searching.
    assert (
        await walk(crm, 64, filter={"search": SEARCH}, order_by=[order("RELEVANCE", "DESC")])
        == found
    )
    # Ascending: the same ranked part backwards (the ID breaks ties in the same direction),
    # the same rest after it.
    upward = await walk(crm, 45, filter={"search": SEARCH}, order_by=[order("RELEVANCE", "ASC")])
    assert upward[:RANKED] == found[:RANKED][::-1]
    assert upward[RANKED:] == found[RANKED:]
    # Relevance then another key: the same deals ranked, the same rest.
    then_name = await walk(
        crm,
        70,
        filter={"search": SEARCH},
        order_by=[order("RELEVANCE", "DESC"), order("NAME", "ASC")],
    )
    check_ranked(then_name, recent, pipeline, exact=exact_new, by_relevance_only=False)


async def test_a_broad_search_in_an_explicit_order_lists_every_match_in_that_order(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    pipeline = await build(crm)
    for order_by in (
        [order("EXPECTED_VALUE", "DESC")],
        [order("NAME", "ASC")],
        [order("UPDATED_AT", "ASC")],
    ):
        expected = [i for i in await reference(crm, order_by) if i in pipeline.matches]
        assert len(expected) > RANKED
        for size in (100, 33):
            found = await walk(crm, size, filter={"search": SEARCH}, order_by=order_by)
            assert found == expected, (order_by, size)


# --- a rare search, and the probe -----------------------------------------------------------


async def test_a_rare_search_finds_exactly_its_matches_ranked(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    exact = await crm.deal("Zanzibar")
    long_name = await crm.deal("Zanzibar spice route and harbour logistics programme")
    described = await crm.deal("Spice route", description="Cloves from zanzibar, weekly")
    linked = await crm.deal("Harbour cranes")
    await crm.link(linked, await crm.company("Zanzibar Trading Co"), "CUSTOMER")
    gone = await crm.deal("Zanzibar of old")
    await delete(crm, gone)
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    _, owner = await api.create_user(admin_token, "olga@example.com")
    secret = await crm.deal("Zanzibar secret", token=owner, visibility="PRIVATE")
    await asyncio.gather(*(crm.deal(f"Crate {n}", description="plain") for n in range(30)))
    # Updated last: the most recent deals are the ones that match least.
    await crm.update(linked, expectedValue=amount(7))
    await crm.update(described, expectedValue=amount(7))

    best_first = [exact, long_name, described, linked]
    for text in ("zanzibar", "ZANZIBAR", "Zanzibar"):
        found = await walk(crm, 100, filter={"search": text}, token=outsider)
        assert found == best_first, text
        assert await walk(crm, 1, filter={"search": text}, token=outsider) == best_first, text
    assert await walk(crm, 100, filter={"search": "zanzibar"}) == [exact, secret, *best_first[1:]]
    # A prefix of the word: the same deals, the exact name first, the company's deal last.
    found = await walk(crm, 2, filter={"search": "zanz"}, token=outsider)
    assert set(found) == set(best_first) and found[0] == exact and found[-1] == linked

    # More deals match on their own fields until the probe finds the search broad (6 of the
    # most recent 1,000 deals): how matches are found changes, not which or in what order.
    before = found = await walk(crm, 100, filter={"search": "zanzibar"}, token=outsider)
    added: list[str] = []
    for n in range(4):
        added.append(await crm.deal(f"Zanzibar extra {n}"))
        found = await walk(crm, 100, filter={"search": "zanzibar"}, token=outsider)
        assert set(found) == {*before, *added}, n
        assert [i for i in found if i in before] == before, n
        assert found[0] == exact and found[-1] == linked, n
        assert await walk(crm, 3, filter={"search": "zanzibar"}, token=outsider) == found, n


async def test_a_rare_search_with_many_matches_lists_the_same_deals_in_the_same_order(
    api: Api, admin_token: str
) -> None:
    """A rare search's ranked list may be read by walking the deals in order of recency
    (ranking.py), or its matches one by one when the walk does not fill a page: the same
    deals, in the same order, for everyone."""
    crm = Crm(api, admin_token)
    _, owner = await api.create_user(admin_token, "olga@example.com")
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    late = [Spec(f"Lot 0042 secret {n}", "word", token=owner, private=True) for n in range(12)]
    pipeline = await build(crm, late=late)
    # Newer deals that do not match bury the matches: none of the 1,000 most recently
    # updated deals matches, so the search is rare, though it matches over 200 deals.
    buried = await pipeline.add([Spec(f"Crate {n}", "other") for n in range(1030)])
    for deal_id in buried:
        if SEARCH in pipeline.numbers[deal_id]:  # OPP-000420 to 429, deleted: they would
            pipeline.kinds[deal_id] = "deleted"  # make the search broad
            await delete(crm, deal_id)
            pipeline.deleted.add(deal_id)
    assert len(pipeline.matches - pipeline.private) > RANKED

    newest = await by_recency(crm)
    assert not set(newest[:1000]) & pipeline.matches
    everything = [i for i in newest if i in pipeline.matches]
    exact_new = pipeline.of_kind("exact")[1]
    found = await walk(crm, 100, filter={"search": SEARCH})
    check_ranked(found, everything, pipeline)
    # Pages that end at the cut, near it or across it; the last one short.
    for size in (7, 50, 33):
        assert await walk(crm, size, filter={"search": SEARCH}) == found, size

    recent = [i for i in await by_recency(crm, outsider) if i in pipeline.matches]
    assert set(recent) == pipeline.matches - pipeline.private
    for size in (100, 9):
        theirs = await walk(crm, size, filter={"search": SEARCH}, token=outsider)
        check_ranked(theirs, recent, pipeline, exact=exact_new)

    # The same search again inside the filter changes nothing; under NOT, it leaves nothing.
    again = {"search": SEARCH, "or": [{"search": SEARCH}, {"status": ["WON"]}]}
    assert await walk(crm, 40, filter=again) == found
    assert await walk(crm, 40, filter={"search": SEARCH, "not": {"search": SEARCH}}) == []
    # Fewer matches than the ranked part holds: every one of them, ranked.
    dear = {"value": {"min": "300"}}
    expected = {i for i in await walk(crm, 100, filter=dear) if i in pipeline.matches}
    assert 0 < len(expected) < RANKED
    ranked = await walk(crm, 30, filter={"search": SEARCH, **dear})
    assert len(ranked) == len(expected) and set(ranked) == expected
    assert await walk(crm, 100, filter={"search": SEARCH, **dear}) == ranked


# --- paging while deals change --------------------------------------------------------------


async def test_paging_stays_exact_while_deals_change(api: Api, admin_token: str) -> None:
    crm = Crm(api, admin_token)
    pipeline = await build(crm)
    recent = [i for i in await by_recency(crm) if i in pipeline.matches]
    ranked, rest = recent[:RANKED], recent[RANKED:]
    changed: set[str] = set()

    async def change(deal_id: str, **fields: Any) -> None:
        await update(crm, deal_id, **(fields or {"expectedValue": amount(9000)}))
        changed.add(deal_id)

    pager = Pager(crm, filter={"search": SEARCH})
    first_page = await pager.next(100)
    assert set(first_page) <= set(ranked)
    unseen_ranked = [i for i in ranked if i not in first_page]

    # Deals change between pages: one seen, one not yet seen; old deals become the most
    # recently updated (renamed keeping the word, or their amount changed) and new matches
    # are created, which pushes as many unchanged deals out of the 200 most recent ones: at
    # least the least recent deal already seen, and the least recent one not yet seen.
    await change(first_page[0])
    await change(unseen_ranked[0])
    gone = unseen_ranked[1]
    await delete(crm, gone)
    pipeline.deleted.add(gone)
    await change(rest[0], name=pipeline.names[rest[0]] + " renamed")
    for deal_id in rest[1:6]:
        await change(deal_id)
    unchanged_ranked = [i for i in ranked if i not in changed and i != gone]
    oldest_seen = max(unchanged_ranked.index(i) for i in first_page if i in unchanged_ranked)
    oldest_unseen = max(unchanged_ranked.index(i) for i in unseen_ranked[2:])
    # The 200 most recent matches now hold the 2 changed ranked deals, the 6 from the rest and
    # the new ones, so the unchanged ranked deals from index 192 - created on fall out.
    created = max(3, len(unchanged_ranked) - min(oldest_seen, oldest_unseen) - 6 + 1)
    new = await pipeline.add([Spec(f"Lot 0042 new {n}", "word") for n in range(created)])

    # Just past the end of the ranked part, more change: a deal seen there, one seen after
    # it, one not yet seen after it.
    old_rest = [i for i in rest if i not in changed]
    while len(pager.seen) < RANKED - 30:
        await pager.next(30)
    while not set(pager.seen) & set(old_rest):
        await pager.next(7)
    await change(next(i for i in old_rest if i in pager.seen))
    await change(next(i for i in reversed(old_rest) if i not in pager.seen))
    await change(next(i for i in pager.seen if i in ranked and i not in changed))
    while not pager.done:
        await pager.next(30)

    counts = Counter(pager.seen)
    repeated = [pipeline.names[i] for i, n in counts.items() if n > 1]
    assert repeated == [], repeated
    live = pipeline.matches | set(new)
    assert set(pager.seen) <= live, [pipeline.names.get(i) for i in set(pager.seen) - live]
    unchanged = pipeline.matches - changed - set(new)  # new ones may come before the cursor
    missing = [pipeline.names[i] for i in unchanged - set(pager.seen)]
    assert missing == [], missing

    # A walk from the start, now: every match once, ranked as the deals now stand.
    recent = [i for i in await by_recency(crm) if i in pipeline.matches]
    check_ranked(await walk(crm, 40, filter={"search": SEARCH}), recent, pipeline)


# --- cursors --------------------------------------------------------------------------------


def decode(cursor: str) -> list[Any]:
    values: list[Any] = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return values


def encode(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def test_a_cursor_of_another_list_or_a_tampered_one_is_refused(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    await build(crm)
    search = {"search": SEARCH}
    ranked_page = await crm.listing(filter=search, first=100)
    in_ranked = ranked_page["edges"][10]["cursor"]
    after_ranked = await crm.listing(
        filter=search, first=100, after=ranked_page["pageInfo"]["endCursor"]
    )
    assert after_ranked["pageInfo"]["hasNextPage"]
    rest_page = await crm.listing(
        filter=search, first=5, after=after_ranked["pageInfo"]["endCursor"]
    )
    in_rest = rest_page["edges"][2]["cursor"]
    by_name = (await crm.listing(filter=search, first=3, orderBy=[order("NAME")]))["pageInfo"]
    plain = (await crm.listing(first=3))["pageInfo"]["endCursor"]
    upward = await crm.listing(filter=search, first=3, orderBy=[order("RELEVANCE", "ASC")])

    # The cursors work where they were made.
    for cursor in (in_ranked, in_rest):
        page = await crm.listing(filter=search, first=3, after=cursor)
        assert len(page["edges"]) == 3

    a_tag, *a_values = decode(in_ranked)
    b_tag, *b_values = decode(in_rest)
    base, phase, cut_at, cut_id = a_tag.split("|")
    assert phase == "A" and b_tag == f"{base}|B|{cut_at}|{cut_id}", (a_tag, b_tag)

    async def refused(after: str, **variables: Any) -> dict[str, Any]:
        variables.setdefault("filter", search)
        return await crm.refused(LIST, {"first": 5, "after": after, **variables})

    # Another search, another order, or no search: refused.
    for cursor in (in_ranked, in_rest):
        await refused(cursor, filter={"search": "lot"})
        await refused(cursor, filter={"search": SEARCH.lower() + " "})
        await refused(cursor, orderBy=[order("RELEVANCE", "ASC")])
        await refused(cursor, orderBy=[order("NAME")])
        await refused(cursor, filter=None)
    await refused(by_name["endCursor"])
    await refused(plain)
    await refused(upward["pageInfo"]["endCursor"])

    tampered: list[Any] = [
        "not a cursor!",
        "",
        encode([]),
        encode({"tag": a_tag}),
        encode([a_tag]),
        encode([a_tag, *a_values, 1]),
        encode([a_tag, "high", a_values[1]]),
        encode([a_tag, a_values[0], "12"]),
        encode([a_tag, a_values[0], 1.5]),
        encode([a_tag, a_values[0], 2**70]),
        encode([b_tag, "soon", b_values[1]]),
        encode([b_tag, 12, b_values[1]]),
        encode([b_tag, b_values[0]]),
        encode([f"{base}|C|{cut_at}|{cut_id}", *a_values]),
        encode([f"{base}|A", *a_values]),
        encode([f"{base}|A|{cut_at}", *a_values]),
        encode([f"{base}|B|-|{cut_id}", *b_values]),
        encode([f"{base}|A|yesterday|{cut_id}", *a_values]),
        encode([f"{base}|B|{cut_at}|seven", *b_values]),
        encode([f"{base}|A|{cut_at}|{cut_id}|1", *a_values]),
        encode([f"{base.replace('DESC', 'ASC')}|A|{cut_at}|{cut_id}", *a_values]),
        encode([base.rsplit(" ", 1)[0] + " 000000000000|A|-", *a_values]),
    ]
    for cursor in tampered:
        error = await refused(cursor)
        assert "cursor" in error["message"], (cursor, error)


async def test_a_cursor_holding_values_out_of_range_is_refused(api: Api, admin_token: str) -> None:
    """Values that parse but that no cursor could hold, as ends of the ranked part or as
    positions after it: bad input, never an internal error."""
    crm = Crm(api, admin_token)
    for name in ("Zanzibar", "Zanzibar spice", "Zanzibar harbour"):
        await crm.deal(name)
    search = {"search": "zanzibar"}
    page = await crm.listing(filter=search, first=1)
    tag, relevance, last_id = decode(page["pageInfo"]["endCursor"])
    base, phase, cut = tag.split("|")
    assert (phase, cut) == ("A", "-"), tag  # fewer matches than RANKED: no end to the part
    at = "2026-01-01T00:00:00+00:00"
    # Well-formed cursors with values in range are read as positions (no error), whatever
    # they list.
    for cursor in (
        [f"{base}|B|{at}|{last_id}", at, last_id],
        [f"{base}|A|{at}|{last_id}", relevance, last_id],
    ):
        await crm.listing(filter=search, first=1, after=encode(cursor))

    huge = 2**70
    cases = [
        [f"{base}|B|-", at, last_id],  # after the ranked part, yet no end to it
        [f"{base}|B|{at}|{huge}", at, last_id],
        [f"{base}|A|{at}|-{huge}", relevance, last_id],
        [f"{base}|B|0001-01-01T00:00:00+14:00|{last_id}", at, last_id],
        [f"{base}|A|9999-12-31T23:59:59-14:00|{last_id}", relevance, last_id],
        [f"{base}|B|{at}|{last_id}", "0001-01-01T00:00:00+14:00", last_id],
    ]
    # Every case is tried, then the ones not refused as bad input are listed together.
    wrong: list[tuple[Any, Any]] = []
    for values in cases:
        body = await api.gql(
            LIST, {"filter": search, "first": 5, "after": encode(values)}, admin_token
        )
        errors = body.get("errors") or [{}]
        if body.get("data") is not None or errors[0].get("extensions", {}).get("code") != (
            "BAD_USER_INPUT"
        ):
            wrong.append((values, errors[0].get("message") or body.get("data")))
    assert wrong == [], wrong


# --- visibility -----------------------------------------------------------------------------


async def test_private_deals_are_never_listed_nor_move_the_cut_for_others(
    api: Api, admin_token: str
) -> None:
    crm = Crm(api, admin_token)
    _, owner = await api.create_user(admin_token, "olga@example.com")
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    late = [Spec(f"Lot 0042 secret {n}", "word", token=owner, private=True) for n in range(24)]
    late += [Spec(SEARCH, "exact", token=owner, private=True)]  # matches best of all
    late += [Spec(f"Lot 0042 shared {n}", "word", token=owner) for n in range(5)]
    pipeline = await build(crm, late=late)
    visible = pipeline.matches - pipeline.private
    assert len(visible) > RANKED and len(pipeline.private) == 25

    recent = [i for i in await by_recency(crm, outsider) if i in pipeline.matches]
    assert set(recent) == visible
    everything = [i for i in await by_recency(crm) if i in pipeline.matches]
    # The private deals are among the most recent: for the admin they take ranked places.
    assert set(everything[:RANKED]) & pipeline.private == pipeline.private
    exact_new = next(
        i for i in pipeline.of_kind("exact") if i in recent[:RANKED] and i not in pipeline.private
    )
    for size in (100, 30):
        found = await walk(crm, size, filter={"search": SEARCH}, token=outsider)
        assert not set(found) & pipeline.private, size
        check_ranked(found, recent, pipeline, exact=exact_new)
    # The owner and the admin see the private deals too, ranked among the others.
    secret_exact = next(i for i in pipeline.of_kind("exact") if i in pipeline.private)
    found = await walk(crm, 100, filter={"search": SEARCH})
    check_ranked(found, everything, pipeline)
    assert set(found[:2]) == {exact_new, secret_exact}
    theirs = [i for i in await by_recency(crm, owner) if i in pipeline.matches]
    assert set(theirs) == pipeline.matches
    check_ranked(await walk(crm, 100, filter={"search": SEARCH}, token=owner), theirs, pipeline)
