"""Running pipeline totals (migration 0008): `opportunityGroups` answered from
`opportunity_totals` plus its pending changes must equal the same groups summed from the deals,
for admins, members and outsiders, whatever happened to the deals, folded or not.

Every check asks each person each question three ways: the fast path (STAGE, STATUS or OWNER
with a filter of status, stageIds, ownerIds and mine only, possibly nested in `and` lists, or
through the built-in views "All open" and "My open"), the general path (the same plus
`probability: {min: 0}`, which selects the same deals but which the totals cannot answer), and
an expectation worked out here from the deals listed, summed exactly with Decimal and rounded
half-even once. Who may see which deal is modelled here too (owner, visibility, user and team
links, team members), and checked against each person's own listing.

The totals are checked unfolded (a server that never folds), folded (one that folds every
second), after a scripted sequence of changes by different users, after random sequences
(hypothesis), and with concurrent writers racing the folder. One test makes sure the questions
really are answered from the totals: a change row no deal made shows in every one of them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from app.settings import Settings, to_libpq_url
from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, RunningServer, create_admin, serve
from tests.views_client import mutation

MINOR_UNITS = {"EUR": 2, "USD": 2, "JPY": 0, "KWD": 3}

OPPORTUNITY = (
    "opportunity { id version } userErrors { field code message }"  # the mutations' payload
)


CREATE = mutation("createOpportunity", OPPORTUNITY)
UPDATE = mutation("updateOpportunity", OPPORTUNITY)
MARK_WON = mutation("markOpportunityWon", OPPORTUNITY)
MARK_LOST = mutation("markOpportunityLost", OPPORTUNITY)
REOPEN = mutation("reopenOpportunity", OPPORTUNITY)
DELETE = mutation("deleteOpportunity", OPPORTUNITY)
LINK = mutation(
    "linkParticipant", "participant { id } opportunity { version } userErrors { code message }"
)
UNLINK = mutation("unlinkParticipant", OPPORTUNITY)
TEAM_PAYLOAD = "team { id } userErrors { code message }"
CREATE_TEAM = mutation("createTeam", TEAM_PAYLOAD)
ADD_MEMBER = mutation("addTeamMember", TEAM_PAYLOAD, "TeamMemberInput")
REMOVE_MEMBER = mutation("removeTeamMember", TEAM_PAYLOAD, "TeamMemberInput")
VERSION = "query($id: ID!) { opportunity(id: $id) { version } }"
STAGES = "{ stages { id name kind position defaultProbability } }"
VIEWS = "{ views { id name isBuiltIn } }"
DEALS = """query($first: Int!, $after: String) {
  opportunities(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id status visibility probability stage { id } owner { id }
      expectedValue { amount currency }
    } }
  } }"""
# A condition every deal meets (probabilities are 0-100) that the totals cannot answer:
# with it, the same question goes through the general path, which sums the deals.
EVERY_DEAL = {"probability": {"min": 0}}
STATUS_ORDER = ("OPEN", "WON", "LOST")
Groups = list[dict[str, Any]]  # an opportunityGroups answer
# What the built-in views select, in filter form (migration 0006).
VIEW_FILTERS: dict[str, dict[str, Any]] = {
    "All open": {"status": ["OPEN"]},
    "My open": {"status": ["OPEN"], "mine": True},
}


# --- the world: people, teams, stages and a model of who sees which deal --------------------


@dataclass
class Person:
    name: str
    id: str
    token: str
    is_admin: bool = False


@dataclass
class DealModel:
    owner: str
    visibility: str
    version: int
    status: str = "OPEN"
    linked_users: set[str] = field(default_factory=set)
    # team ID -> the participant IDs linking the deal to it
    linked_teams: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class World:
    """The server seen by one test, with what the test knows of it."""

    api: Api
    admin: Person
    people: dict[str, Person]
    teams: dict[str, str]  # team name -> ID
    members: dict[str, set[str]]  # team ID -> user IDs
    stages: list[dict[str, Any]]  # in pipeline order
    views: dict[str, str]  # built-in view name -> ID
    deals: dict[str, DealModel] = field(default_factory=dict)  # the live deals
    checks: int = 0

    @property
    def everyone(self) -> list[Person]:
        return [self.admin, *self.people.values()]

    @property
    def open_stages(self) -> list[str]:
        return [s["id"] for s in self.stages if s["kind"] == "OPEN"]

    def names(self) -> dict[str, str]:
        return {p.id: p.name for p in self.everyone}

    def sees(self, person: Person, deal: DealModel) -> bool:
        """The visibility rule: admins see everything; others public deals, their own, and private
        ones linked to them or to one of their teams."""
        if person.is_admin or deal.visibility == "PUBLIC" or deal.owner == person.id:
            return True
        if person.id in deal.linked_users:
            return True
        return any(
            person.id in self.members[team] for team, links in deal.linked_teams.items() if links
        )

    def visible(self, person: Person) -> set[str]:
        return {i for i, d in self.deals.items() if self.sees(person, d)}

    def who_sees(self, deal_id: str) -> list[Person]:
        return [p for p in self.everyone if self.sees(p, self.deals[deal_id])]

    # --- changes through the API --------------------------------------------------------

    async def create(
        self,
        person: Person,
        amount: str,
        currency: str = "EUR",
        *,
        visibility: str = "PUBLIC",
        owner: Person | None = None,
        **fields: Any,
    ) -> str:
        values = {
            "name": f"Deal {len(self.deals) + 1}",
            "expectedValue": {"amount": amount, "currency": currency},
            "visibility": visibility,
            **fields,
        }
        if owner is not None:
            values["ownerId"] = owner.id
        payload = await self.api.mutate("createOpportunity", CREATE, {"i": values}, person.token)
        deal_id: str = payload["opportunity"]["id"]
        self.deals[deal_id] = DealModel(
            (owner or person).id, visibility, payload["opportunity"]["version"]
        )
        return deal_id

    async def version(self, deal_id: str) -> int:
        found = (await self.api.ok(VERSION, {"id": deal_id}, self.admin.token))["opportunity"]
        version: int = found["version"]
        return version

    async def change(
        self, name: str, query: str, person: Person, deal_id: str, **fields: Any
    ) -> None:
        deal = self.deals[deal_id]
        values = {"id": deal_id, "expectedVersion": deal.version, **fields}
        payload = await self.api.mutate(name, query, {"i": values}, person.token)
        deal.version = payload["opportunity"]["version"]

    async def update(self, person: Person, deal_id: str, **fields: Any) -> None:
        await self.change("updateOpportunity", UPDATE, person, deal_id, **fields)
        deal = self.deals[deal_id]
        deal.owner = fields.get("ownerId", deal.owner)
        deal.visibility = fields.get("visibility", deal.visibility)

    async def won(self, person: Person, deal_id: str, **fields: Any) -> None:
        await self.change("markOpportunityWon", MARK_WON, person, deal_id, **fields)
        self.deals[deal_id].status = "WON"

    async def lost(self, person: Person, deal_id: str) -> None:
        await self.change("markOpportunityLost", MARK_LOST, person, deal_id)
        self.deals[deal_id].status = "LOST"

    async def reopen(self, person: Person, deal_id: str) -> None:
        await self.change("reopenOpportunity", REOPEN, person, deal_id)
        self.deals[deal_id].status = "OPEN"

    async def delete(self, person: Person, deal_id: str) -> None:
        await self.change("deleteOpportunity", DELETE, person, deal_id)
        del self.deals[deal_id]

    async def link(self, person: Person, deal_id: str, target: str) -> str:
        values = {"opportunityId": deal_id, "participantId": target, "role": "OTHER"}
        payload = await self.api.mutate("linkParticipant", LINK, {"i": values}, person.token)
        participant_id: str = payload["participant"]["id"]
        deal = self.deals[deal_id]
        deal.version = payload["opportunity"]["version"]
        if target in self.members:
            deal.linked_teams.setdefault(target, set()).add(participant_id)
        else:
            deal.linked_users.add(target)
        return participant_id

    async def unlink_team(self, person: Person, deal_id: str, team_id: str) -> None:
        deal = self.deals[deal_id]
        for participant_id in sorted(deal.linked_teams.pop(team_id)):
            values = {"id": participant_id}
            payload = await self.api.mutate(
                "unlinkParticipant", UNLINK, {"i": values}, person.token
            )
            deal.version = payload["opportunity"]["version"]

    async def join(self, team_id: str, person: Person, *, leave: bool = False) -> None:
        name, query = (
            ("removeTeamMember", REMOVE_MEMBER) if leave else ("addTeamMember", ADD_MEMBER)
        )
        values = {"teamId": team_id, "userId": person.id}
        await self.api.mutate(name, query, {"i": values}, self.admin.token)
        if leave:
            self.members[team_id].discard(person.id)
        else:
            self.members[team_id].add(person.id)


async def make_world(api: Api, admin_token: str) -> World:
    """Ada (admin); Amy and Bob in Sales, Carl in Presales, Olga in no team."""
    admin_id = (await api.ok("{ me { id } }", token=admin_token))["me"]["id"]
    admin = Person("Ada Admin", admin_id, admin_token, is_admin=True)
    people: dict[str, Person] = {}
    for name in ("Amy", "Bob", "Carl", "Olga"):
        user_id, token = await api.create_user(
            admin_token, f"{name.lower()}@example.com", name=name
        )
        people[name] = Person(name, user_id, token)
    stages = (await api.ok(STAGES, token=admin_token))["stages"]
    views = {
        v["name"]: v["id"]
        for v in (await api.ok(VIEWS, token=admin_token))["views"]
        if v["isBuiltIn"]
    }
    world = World(api, admin, people, {}, {}, stages, views)
    for team, members in (("Sales", ("Amy", "Bob")), ("Presales", ("Carl",))):
        payload = await api.mutate("createTeam", CREATE_TEAM, {"i": {"name": team}}, admin_token)
        world.teams[team] = payload["team"]["id"]
        world.members[world.teams[team]] = set()
        for member in members:
            await world.join(world.teams[team], people[member])
    return world


# --- what a person should get, worked out from the deals they list -------------------------


@dataclass(frozen=True)
class Deal:
    id: str
    status: str
    visibility: str
    stage: str
    owner: str
    amount: Decimal
    currency: str
    probability: int


async def listed(api: Api, token: str) -> list[Deal]:
    """Every deal `token` may see, page by page."""
    found: list[Deal] = []
    after: str | None = None
    while True:
        page = (await api.ok(DEALS, {"first": 100, "after": after}, token))["opportunities"]
        for edge in page["edges"]:
            node = edge["node"]
            money = node["expectedValue"]
            found.append(
                Deal(
                    node["id"],
                    node["status"],
                    node["visibility"],
                    node["stage"]["id"],
                    node["owner"]["id"],
                    Decimal(money["amount"]),
                    money["currency"],
                    node["probability"],
                )
            )
        if not page["pageInfo"]["hasNextPage"]:
            assert len(found) == page["totalCount"], page
            return found
        after = page["pageInfo"]["endCursor"]


def matches(deal: Deal, f: dict[str, Any] | None, me: str) -> bool:
    """The few filter conditions these tests use, evaluated here."""
    if not f:
        return True
    if "status" in f and deal.status not in f["status"]:
        return False
    if "stageIds" in f and deal.stage not in f["stageIds"]:
        return False
    if "ownerIds" in f and deal.owner not in f["ownerIds"]:
        return False
    if f.get("mine") and deal.owner != me:
        return False
    if "visibility" in f and deal.visibility != f["visibility"]:
        return False
    low = f.get("probability", {}).get("min")
    if low is not None and deal.probability < low:
        return False
    if "or" in f and not any(matches(deal, child, me) for child in f["or"]):
        return False
    return all(matches(deal, child, me) for child in f.get("and", []))


def amount_text(value: Decimal, currency: str) -> str:
    """`value` rounded half-even to the currency's minor unit, as the API writes amounts."""
    unit = Decimal(1).scaleb(-MINOR_UNITS[currency])
    return f"{value.quantize(unit, rounding=ROUND_HALF_EVEN):f}"


def expected_groups(
    deals: Iterable[Deal], by: str, f: dict[str, Any] | None, me: str
) -> dict[str, tuple[int, list[dict[str, Any]]]]:
    """{key: (count, totals by currency)}: values summed exactly, weighted values summed as
    amount * probability and divided by 100 once, then rounded half-even."""
    sums: dict[str, dict[str, list[Any]]] = {}
    for deal in deals:
        if not matches(deal, f, me):
            continue
        key = {"STAGE": deal.stage, "STATUS": deal.status, "OWNER": deal.owner}[by]
        entry = sums.setdefault(key, {}).setdefault(deal.currency, [0, Decimal(0), Decimal(0)])
        entry[0] += 1
        entry[1] += deal.amount
        entry[2] += deal.amount * deal.probability
    found: dict[str, tuple[int, list[dict[str, Any]]]] = {}
    for key, currencies in sums.items():
        totals = [
            {
                "currency": currency,
                "count": count,
                "value": {"amount": amount_text(value, currency), "currency": currency},
                "weightedValue": {
                    "amount": amount_text(weighted / 100, currency),
                    "currency": currency,
                },
            }
            for currency, (count, value, weighted) in sorted(currencies.items())
        ]
        found[key] = (sum(t["count"] for t in totals), totals)
    return found


def expected_order(world: World, by: str, keys: Iterable[str]) -> list[str]:
    """The order a board shows groups in: every stage in pipeline order; statuses OPEN, WON,
    LOST; owners by name."""
    if by == "STAGE":
        return [s["id"] for s in world.stages]
    if by == "STATUS":
        return [s for s in STATUS_ORDER if s in set(keys)]
    names = world.names()
    return sorted(keys, key=lambda k: names[k].lower())


@dataclass(frozen=True)
class Case:
    """One question: a grouping, a filter and maybe a view, asked as it is (the fast path when
    the totals can answer it) and with EVERY_DEAL added (the general path)."""

    by: str
    filter: dict[str, Any] | None = None
    view: str | None = None
    both: bool = True  # ask the general path too (else the fast one and the expectation only)

    def general(self) -> dict[str, Any]:
        """The same question with a condition every deal meets, which the totals cannot answer."""
        return {**(self.filter or {}), **EVERY_DEAL}

    def answerable(self) -> bool:
        """Whether the totals can answer it (conditions on their key only, joined by AND)."""

        def key_only(f: dict[str, Any]) -> bool:
            keys = {"status", "stageIds", "ownerIds", "mine", "and"}
            return set(f) <= keys and all(key_only(child) for child in f.get("and", []))

        return self.by in ("STAGE", "STATUS", "OWNER") and key_only(self.filter or {})

    def selects(self) -> dict[str, Any] | None:
        """What it selects, in the form matches() reads."""
        if self.view is None:
            return self.filter
        return {"and": [VIEW_FILTERS[self.view], self.filter or {}]}


def all_cases(world: World) -> tuple[list[Case], list[Case]]:
    """The questions every check asks, and those it asks one of in turn."""
    stages = world.open_stages
    won, lost = (next(s["id"] for s in world.stages if s["kind"] == k) for k in ("WON", "LOST"))
    amy, bob, olga = (world.people[n].id for n in ("Amy", "Bob", "Olga"))
    every = [
        Case("STAGE", view="All open"),  # the board everyone opens
        Case("OWNER", {"and": [{"status": ["OPEN", "WON", "LOST"]}]}),  # every deal
    ]
    in_turn = [
        Case("STATUS"),
        Case("OWNER", {"mine": True}),
        Case("STAGE", {"status": ["OPEN"]}),
        Case("OWNER", {"and": [{"status": ["OPEN", "WON"]}, {"ownerIds": [amy, bob, olga]}]}),
        Case("STAGE", {"stageIds": [stages[0], stages[-1], won, lost], "status": ["OPEN", "LOST"]}),
        Case("OWNER", view="My open"),
        Case("STATUS", {"and": [{"and": [{"mine": True}]}, {"stageIds": [*stages, won]}]}),
        Case("STATUS", {"ownerIds": [world.admin.id, bob]}, view="All open"),
        # Conditions the totals cannot answer, beside theirs: both paths sum the deals.
        Case("OWNER", {"and": [{"status": ["OPEN", "LOST"]}, {"visibility": "PRIVATE"}]}),
        Case("STAGE", {"or": [{"status": ["WON"]}, {"stageIds": [stages[0]]}]}),
    ]
    return every, in_turn


def cases(world: World, *, full: bool = False) -> list[Case]:
    """What one check asks: every question both ways when `full`; else the usual ones of the
    fast path, and one more both ways, a different one each time (a check costs some 10 ms a
    question, path and person)."""
    every, in_turn = all_cases(world)
    if full:
        return every + in_turn
    world.checks += 1
    return [*(replace(c, both=False) for c in every), in_turn[world.checks % len(in_turn)]]


GROUP_FIELDS = """key count stage { id } owner { id }
  totals { currency count value { amount currency } weightedValue { amount currency } }"""


async def ask(
    world: World, person: Person, asked: list[Case]
) -> list[tuple[Groups, Groups | None]]:
    """Each case's groups by the fast and (if asked) the general path, all in one request."""
    params: list[str] = []
    fields: list[str] = []
    variables: dict[str, Any] = {}
    for n, case in enumerate(asked):
        paths = [("fast", case.filter)] + ([("general", case.general())] if case.both else [])
        for path, f in paths:
            name = f"{path}{n}"
            params += [f"${name}: OpportunityFilterInput", f"${name}View: ID"]
            fields.append(
                f"{name}: opportunityGroups(groupBy: {case.by}, filter: ${name}, "
                f"viewId: ${name}View) {{ {GROUP_FIELDS} }}"
            )
            variables[name] = f
            variables[f"{name}View"] = world.views[case.view] if case.view else None
    query = f"query({', '.join(params)}) {{ {' '.join(fields)} }}"
    data = await world.api.ok(query, variables, person.token)
    return [(data[f"fast{n}"], data.get(f"general{n}")) for n in range(len(asked))]


def as_expected(groups: list[dict[str, Any]]) -> dict[str, tuple[int, list[dict[str, Any]]]]:
    """Groups as expected_groups() gives them, empty ones left out."""
    keys = [g["key"] for g in groups]
    assert len(keys) == len(set(keys)), keys
    return {g["key"]: (g["count"], g["totals"]) for g in groups if g["count"]}


def verify(
    world: World,
    person: Person,
    deals: list[Deal],
    case: Case,
    fast: Groups,
    general: Groups | None,
) -> None:
    """The fast path, the general path and the sums of the listed deals agree."""
    where = (person.name, case)
    # The totals and the deals give the very same groups, in the same order.
    assert general is None or fast == general, (where, fast, general)
    expected = expected_groups(deals, case.by, case.selects(), person.id)
    assert as_expected(fast) == expected, (where, fast, expected)
    assert [g["key"] for g in fast] == expected_order(world, case.by, expected), (where, fast)
    for group in fast:
        assert group["count"] == sum(t["count"] for t in group["totals"]), (where, group)
        if case.by == "STAGE":
            assert group["stage"] == {"id": group["key"]} and group["owner"] is None, group
        if case.by == "OWNER":
            assert group["owner"] == {"id": group["key"]} and group["stage"] is None, group


async def check_cases(world: World, person: Person, deals: list[Deal], asked: list[Case]) -> None:
    for case, (fast, general) in zip(asked, await ask(world, person, asked), strict=True):
        verify(world, person, deals, case, fast, general)


async def own_listing(world: World, person: Person) -> list[Deal]:
    """The deals `person` lists, checked against what the model says they may see."""
    deals = await listed(world.api, person.token)
    assert {d.id for d in deals} == world.visible(person), person.name
    for deal in deals:
        model = world.deals[deal.id]
        state = (model.status, model.owner, model.visibility)
        assert (deal.status, deal.owner, deal.visibility) == state, (person.name, deal, model)
    return deals


async def check(
    world: World, people: Iterable[Person] | None = None, *, full: bool = False
) -> None:
    """Every person (or those given) gets the same groups three ways. A `full` check asks
    every question and reads each person's own listing; the others (quicker) take the deals
    a person may see, by the model, from the admin's listing."""
    asked = cases(world, full=full)
    everything = await own_listing(world, world.admin)
    for person in world.everyone if people is None else people:
        if full:
            deals = await own_listing(world, person)
        else:
            deals = [d for d in everything if d.id in world.visible(person)]
        await check_cases(world, person, deals, asked)


# --- servers that fold never, or every second -----------------------------------------------


@asynccontextmanager
async def running(
    settings: Settings, database_url: str, fold_seconds: int
) -> AsyncIterator[RunningServer]:
    await create_admin(database_url)
    folding = replace(settings, totals_fold_seconds=fold_seconds)
    async with serve(folding, database_url) as (api, app):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield RunningServer(api, database_url, folding, app, token)


@pytest.fixture
async def unfolded(settings: Settings, database_url: str) -> AsyncIterator[RunningServer]:
    """A server that does not fold during a test: every total includes pending changes."""
    async with running(settings, database_url, 3600) as server:
        yield server


@pytest.fixture
async def folding(settings: Settings, database_url: str) -> AsyncIterator[RunningServer]:
    """A server that folds every second."""
    async with running(settings, database_url, 1) as server:
        yield server


async def pending_changes(database_url: str) -> int:
    """How many changes wait to be folded: only to know when folding happened."""
    connection = await asyncpg.connect(to_libpq_url(database_url))
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM opportunity_total_changes")
    finally:
        await connection.close()
    return count


async def folded(database_url: str, timeout: float = 10.0) -> None:
    """Wait until the server has folded every pending change."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await pending_changes(database_url):
        assert loop.time() < deadline, "the server did not fold the pending changes"
        await asyncio.sleep(0.1)


def amount(minor: int, currency: str) -> str:
    return f"{Decimal(minor).scaleb(-MINOR_UNITS[currency]):f}"


# --- the tests ------------------------------------------------------------------------------


async def test_totals_follow_every_kind_of_change_by_every_kind_of_user(
    unfolded: RunningServer,
) -> None:
    world = await make_world(unfolded.api, unfolded.admin_token)
    admin, amy, bob, carl, olga = world.everyone
    sales, presales = world.teams["Sales"], world.teams["Presales"]
    _, second, *_, last = world.open_stages
    await check(world, [admin])  # nothing yet: every stage listed, empty

    # Deals across stages, currencies, owners and visibilities; weighted values that tie.
    a_public = await world.create(amy, "100.00", probability=10)
    a_private = await world.create(amy, "250.50", "USD", visibility="PRIVATE", stageId=last)
    a_yen = await world.create(amy, "1005", "JPY", probability=50)  # 502.5: ties
    b_private = await world.create(bob, "0.01", visibility="PRIVATE", probability=50)
    b_public = await world.create(admin, "0.01", owner=bob, probability=50)  # with b_private 0.01
    o_private = await world.create(olga, "7", "JPY", visibility="PRIVATE", probability=50)
    c_private = await world.create(carl, "1.005", "KWD", visibility="PRIVATE", probability=50)
    await world.create(admin, "3.00", "USD", stageId=second, probability=33)
    await check(world)

    # Amounts, currencies, probabilities and stages change, by whoever may see the deal.
    await world.update(amy, a_private, expectedValue={"amount": "99.99", "currency": "EUR"})
    await world.update(bob, b_private, probability=75)
    await world.update(olga, a_public, stageId=second)  # the stage's default probability
    await world.update(
        admin, a_yen, stageId=last, probability=37, expectedValue={"amount": "1", "currency": "JPY"}
    )
    await world.update(carl, c_private, expectedValue={"amount": "2.001", "currency": "KWD"})
    await check(world)

    # Won, lost, reopened.
    await world.won(amy, a_public)
    await world.lost(bob, b_private)
    await world.won(olga, o_private, actualValue={"amount": "5", "currency": "JPY"})
    await world.lost(admin, c_private)
    await world.reopen(carl, c_private)
    await check(world)

    # Visibility both ways.
    await world.update(amy, a_yen, visibility="PRIVATE")
    await world.update(bob, b_private, visibility="PUBLIC")
    await world.update(admin, a_private, visibility="PUBLIC")
    await world.update(amy, a_private, visibility="PRIVATE")

    # A new owner: Amy's private deal is now Olga's, and Amy no longer sees it.
    await world.update(amy, a_private, ownerId=olga.id)
    await world.update(admin, b_public, ownerId=carl.id)
    assert a_private not in world.visible(amy) and a_private in world.visible(olga)
    await check(world)

    # Links: a private deal linked to Sales is seen by Amy and Bob (Bob, linked himself too,
    # counts it once); one linked to Olga is seen by her.
    await world.link(carl, c_private, sales)
    await world.link(carl, c_private, bob.id)
    await world.link(amy, a_yen, olga.id)
    assert c_private in world.visible(amy) and a_yen in world.visible(olga)
    await check(world)
    # Linked to Presales too, then unlinked from Sales: Amy stops seeing it, Bob does not.
    await world.link(admin, c_private, presales)
    await world.unlink_team(admin, c_private, sales)
    assert c_private not in world.visible(amy) and c_private in world.visible(bob)
    # Team membership changes who sees the team's private deals.
    await world.join(presales, bob)
    await world.join(sales, carl, leave=True)
    await check(world)

    # Deleted deals leave every total, folded or not.
    await world.delete(olga, o_private)
    await world.delete(admin, b_private)
    await world.delete(amy, a_yen)
    await check(world, full=True)
    # The server never folded: all of this came from pending changes.
    assert await pending_changes(unfolded.database_url) > 0


async def test_folded_totals_and_changes_after_a_fold(folding: RunningServer) -> None:
    world = await make_world(folding.api, folding.admin_token)
    admin, amy, bob, carl, olga = world.everyone
    stages = world.open_stages
    created = []
    for n, (person, currency) in enumerate(
        zip(world.everyone * 2, itertools.cycle(("EUR", "USD", "JPY", "KWD")), strict=False)
    ):
        visibility = "PRIVATE" if n % 3 == 0 else "PUBLIC"
        created.append(
            await world.create(
                person,
                amount(1000 + 37 * n, currency),
                currency,
                visibility=visibility,
                stageId=stages[n % len(stages)],
                probability=(15 * n) % 101,
            )
        )
    await world.link(admin, created[3], world.teams["Sales"])
    await world.won(bob, created[1])
    await world.lost(amy, created[2])
    await folded(folding.database_url)
    await check(world)  # from the totals alone

    # Changes after the fold are counted on top of the folded totals...
    await world.update(
        carl, created[4], stageId=stages[-1], expectedValue={"amount": "12.34", "currency": "EUR"}
    )
    await world.update(amy, created[5], visibility="PRIVATE", probability=3)
    await world.update(admin, created[6], ownerId=olga.id)
    await world.won(olga, created[7])
    await world.delete(admin, created[8])
    await world.reopen(bob, created[1])
    await world.update(admin, created[9], stageId=stages[0], probability=50)
    await check(world)
    # ... and once folded in.
    await folded(folding.database_url)
    await check(world)
    # A deal moves out of a key it was folded into, and changes after the fold count again.
    await world.update(admin, created[9], stageId=stages[1], probability=60)
    await world.update(bob, created[1], expectedValue={"amount": "0.01", "currency": "USD"})
    await check(world)


async def test_concurrent_writers_racing_the_folder(folding: RunningServer) -> None:
    world = await make_world(folding.api, folding.admin_token)
    admin, amy, bob, carl, olga = world.everyone
    stages = world.open_stages
    deals = [
        await world.create(
            person,
            amount(500 + n, "EUR" if n % 2 else "USD"),
            "EUR" if n % 2 else "USD",
            visibility="PRIVATE" if n % 4 == 0 else "PUBLIC",
        )
        for n, person in enumerate([amy, bob, carl, olga, admin] * 3)
    ]

    async def writer(index: int, rounds: int) -> int:
        """Moves its own deals between stages and amounts, as someone who sees each."""
        done = 0
        mine = deals[index::5]
        for step in range(rounds):
            deal_id = mine[step % len(mine)]
            person = world.who_sees(deal_id)[step % len(world.who_sees(deal_id))]
            values: dict[str, Any] = {
                "stageId": stages[(index + step) % len(stages)],
                "expectedValue": {"amount": amount(100 * step + index, "EUR"), "currency": "EUR"},
            }
            if step % 3 == 0:
                values["probability"] = (7 * step + index) % 101
            await world.update(person, deal_id, **values)
            done += 1
        return done

    # Five writers on different deals while the server folds.
    assert await asyncio.gather(*(writer(i, 6) for i in range(5))) == [6] * 5

    # Many writers on the same deal at once: one wins, the others are refused, and only the
    # winner's change is counted.
    target = deals[1]
    version = await world.version(target)

    async def contender(n: int) -> bool:
        """Whether this one's change was made (a refused one was refused as a conflict)."""
        values = {
            "id": target,
            "expectedVersion": version,
            "stageId": stages[n % len(stages)],
            "expectedValue": {"amount": amount(10_000 * (n + 1), "JPY"), "currency": "JPY"},
        }
        payload = (await world.api.ok(UPDATE, {"i": values}, admin.token))["updateOpportunity"]
        assert [e["code"] for e in payload["userErrors"]] in ([], ["CONFLICT"]), payload
        return not payload["userErrors"]

    assert sum(await asyncio.gather(*(contender(n) for n in range(8)))) == 1
    world.deals[target].version = await world.version(target)
    await check(world)

    # Creates, closes and deletes at once, then the same after every pending change is folded.
    await asyncio.gather(
        world.won(amy, deals[0]),
        world.lost(bob, deals[2]),
        world.delete(admin, deals[3]),
        world.update(admin, deals[8], visibility="PUBLIC"),
        world.create(olga, "1.11", visibility="PRIVATE"),
        world.create(bob, "2.22", "USD"),
        writer(4, 4),
    )
    await check(world)
    await folded(folding.database_url)
    await check(world)


async def test_the_checks_notice_totals_that_drift(unfolded: RunningServer) -> None:
    """The questions the checks ask really are answered from the totals: a change that no deal
    made, written straight into the database, shows in each question that would select such a
    deal, and the check of that question fails; the others still pass."""
    world = await make_world(unfolded.api, unfolded.admin_token)
    amy = world.people["Amy"]
    stage = world.open_stages[0]
    await world.create(amy, "10.00", stageId=stage)
    ghost = Deal("ghost", "OPEN", "PUBLIC", stage, amy.id, Decimal(5), "EUR", 100)
    connection = await asyncpg.connect(to_libpq_url(unfolded.database_url))
    try:
        await connection.execute(
            "INSERT INTO opportunity_total_changes "
            "(visibility, status, stage_id, owner_id, currency, count, value, weighted) "
            "SELECT 'PUBLIC', 'OPEN', stage_id, owner_id, 'EUR', 1, 5, 500 FROM opportunities"
        )
        noticed = 0
        for person in (world.admin, amy, world.people["Olga"]):
            deals = await own_listing(world, person)
            asked = cases(world, full=True)
            for case, (fast, general) in zip(asked, await ask(world, person, asked), strict=True):
                if case.answerable() and matches(ghost, case.selects(), person.id):
                    with pytest.raises(AssertionError):
                        verify(world, person, deals, case, fast, general)
                    noticed += 1
                else:
                    verify(world, person, deals, case, fast, general)
        # Of the ten questions the totals answer, six select Amy's open deal for anyone, and
        # three more for Amy only (the other two sum the deals).
        assert noticed == 6 + 9 + 6, noticed
        await connection.execute("DELETE FROM opportunity_total_changes WHERE value = 5")
    finally:
        await connection.close()
    await check(world, [world.admin, amy])


# --- random sequences -------------------------------------------------------------------------

CURRENCIES = sorted(MINOR_UNITS)
MINOR_AMOUNTS = st.one_of(
    st.integers(0, 9),  # the smallest amounts: weighted values that round, and tie
    st.integers(0, 10**9),
    st.sampled_from([1, 3, 5, 1005, 10**12 + 1]),
)
PROBABILITIES = st.one_of(st.sampled_from([0, 50, 100]), st.integers(0, 100))
STEP = st.tuples(
    st.sampled_from(
        [
            "create",
            "create",
            "amount",
            "probability",
            "stage",
            "won",
            "lost",
            "reopen",
            "visibility",
            "owner",
            "delete",
            "link_team",
            "unlink_team",
            "link_user",
        ]
    ),
    st.integers(0, 10**6),  # which deal
    st.integers(0, 10**6),  # who acts, or whom / which team a change names
    st.sampled_from(CURRENCIES),
    MINOR_AMOUNTS,
    PROBABILITIES,
)


async def apply(world: World, step: tuple[str, int, int, str, int, int]) -> None:
    """One random change, by someone allowed to make it; a change that does not apply to the
    deal drawn (closing a closed deal ...) is skipped."""
    kind, pick, who, currency, minor, probability = step
    people = world.everyone
    if kind == "create" or not world.deals:
        person = people[who % len(people)]
        await world.create(
            person,
            amount(minor, currency),
            currency,
            visibility="PRIVATE" if pick % 2 else "PUBLIC",
            stageId=world.open_stages[pick % len(world.open_stages)],
            probability=probability,
        )
        return
    deal_id = sorted(world.deals)[pick % len(world.deals)]
    deal = world.deals[deal_id]
    seers = world.who_sees(deal_id)
    person = seers[who % len(seers)]
    is_open = deal.status == "OPEN"
    if kind == "amount":
        money = {"amount": amount(minor, currency), "currency": currency}
        if is_open:  # a won deal's currency is fixed
            await world.update(person, deal_id, expectedValue=money)
    elif kind == "probability" and is_open:
        await world.update(person, deal_id, probability=probability)
    elif kind == "stage" and is_open:
        await world.update(person, deal_id, stageId=world.open_stages[who % len(world.open_stages)])
    elif kind == "won" and is_open:
        await world.won(person, deal_id)
    elif kind == "lost" and is_open:
        await world.lost(person, deal_id)
    elif kind == "reopen" and not is_open:
        await world.reopen(person, deal_id)
    elif kind == "visibility":
        await world.update(
            person, deal_id, visibility="PUBLIC" if deal.visibility == "PRIVATE" else "PRIVATE"
        )
    elif kind == "owner":
        await world.update(person, deal_id, ownerId=people[minor % len(people)].id)
    elif kind == "delete":
        owner = next(p for p in people if p.id == deal.owner)
        await world.delete(owner if who % 2 else world.admin, deal_id)
    elif kind == "link_team":
        team = sorted(world.members)[minor % len(world.members)]
        if not deal.linked_teams.get(team):
            await world.link(person, deal_id, team)
    elif kind == "unlink_team":
        linked = sorted(t for t, links in deal.linked_teams.items() if links)
        if linked:
            await world.unlink_team(world.admin, deal_id, linked[minor % len(linked)])
    elif kind == "link_user":
        target = world.people[sorted(world.people)[minor % len(world.people)]]
        if target.id not in deal.linked_users and target.id != deal.owner:
            await world.link(person, deal_id, target.id)


@pytest.fixture
async def random_world(api: Api, admin_token: str) -> World:
    """A world with a deal of each kind to start from: private ones seen through a team, a
    user link, ownership; public ones open, won and lost; in four currencies."""
    world = await make_world(api, admin_token)
    admin, amy, bob, carl, olga = world.everyone
    stages = world.open_stages
    presales = world.teams["Presales"]
    await world.link(admin, await world.create(amy, "10.05", visibility="PRIVATE"), presales)
    await world.create(bob, "333", "JPY", visibility="PRIVATE", stageId=stages[1])
    linked = await world.create(carl, "1.005", "KWD", visibility="PRIVATE", probability=50)
    await world.link(carl, linked, olga.id)
    await world.create(olga, "0.03", "USD", visibility="PRIVATE", probability=50)
    await world.create(admin, "99.99", stageId=stages[-1])
    await world.won(amy, await world.create(amy, "12.50", "USD"))
    await world.lost(bob, await world.create(bob, "7.77"))
    return world


@settings(
    max_examples=5,
    deadline=None,
    # The examples share one server whose deals each example changes further: a failing
    # example cannot be replayed alone, so shrinking would only repeat it, slowly.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(STEP, min_size=2, max_size=10))
async def test_random_sequences_of_changes_keep_the_totals_exact(
    random_world: World, steps: list[tuple[str, int, int, str, int, int]]
) -> None:
    # The examples run one after another against one server (folding every 5 seconds), so
    # each starts from the deals the earlier ones left.
    for step in steps:
        await apply(random_world, step)
    await check(random_world)


async def test_weighted_totals_round_once_exactly_even_for_large_amounts(
    api: Api, admin_token: str
) -> None:
    """9999999999999.005 KWD at 29 %: the weighted value is exactly 2899999999999.71145, so
    2899999999999.711 half-even to the fils, as the deal's own weightedValue says. Both paths
    must say so too: rounding the division to 4 places first (.7115) and then half-even to 3
    would give .712."""
    world = await make_world(api, admin_token)
    deal_id = await world.create(world.admin, "9999999999999.005", "KWD", probability=29)
    own = (
        await api.ok(
            "query($id: ID!) { opportunity(id: $id) { weightedValue { amount } } }",
            {"id": deal_id},
            admin_token,
        )
    )["opportunity"]["weightedValue"]["amount"]
    assert own == "2899999999999.711"
    ((fast, general),) = await ask(world, world.admin, [Case("STAGE", {"status": ["OPEN"]})])
    for path, groups in (("fast", fast), ("general", general or [])):
        weighted = [t["weightedValue"]["amount"] for g in groups for t in g["totals"]]
        assert weighted == ["2899999999999.711"], (path, weighted)
