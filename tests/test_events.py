"""Every opportunity action's live events, checked the way Zulip's `verify_action` does.

A watcher subscribes, an action runs, and the watcher must receive exactly the expected
events: kind, new version, actor, opportunity ID, increasing cursor, and the changed fields
with their old and new values. The events are then applied to the state read before the
action and the result must equal a fresh read; the event's `opportunity` must equal a fresh
read of the same fields. "Exactly" is checked without sleeping: after the action, a change to
a marker opportunity is made, and it must be the very next event (events arrive in commit
order, so anything extra would come before it).
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from tests.client import Api, Subscriber

OPPORTUNITY_FIELDS = """
fragment Opp on Opportunity {
  id number name description status probability forecastCategory estimatedCloseDate
  nextStep leadSource visibility actualCloseDate lostNote version isDeleted createdAt updatedAt
  expectedValue { amount currency } weightedValue { amount currency }
  actualValue { amount currency }
  stage { id } folder { id } owner { id } createdBy { id } awardedTo { id } lostReasons { id }
  participants { id kind role isPrimary target { ... on Node { id } } }
}
"""

EVENTS = (
    OPPORTUNITY_FIELDS
    + """
subscription Events($opportunityId: ID, $filter: OpportunityEventFilter, $since: String) {
  opportunityEvents(opportunityId: $opportunityId, filter: $filter, since: $since) {
    cursor kind opportunityId version occurredAt
    changes { field old new }
    actor { id }
    opportunity { ...Opp }
  }
}
"""
)

READ = OPPORTUNITY_FIELDS + "query Read($id: ID!) { opportunity(id: $id) { ...Opp } }"


def mutation(name: str, payload: str = "opportunity { id version }") -> str:
    """`name(input: $i)` returning `payload` and the userErrors."""
    input_type = name[0].upper() + name[1:] + "Input"
    return f"""mutation($i: {input_type}!) {{ {name}(input: $i) {{
      {payload} userErrors {{ field code message }} }} }}"""


CREATE = mutation("createOpportunity")
UPDATE = mutation("updateOpportunity")
WON = mutation("markOpportunityWon")
LOST = mutation("markOpportunityLost")
REOPEN = mutation("reopenOpportunity")
DELETE = mutation("deleteOpportunity")
MOVE = mutation("moveOpportunity")
LINK = mutation("linkParticipant", "participant { id } opportunity { id version }")
UNLINK = mutation("unlinkParticipant")
CREATE_FOLDER = mutation("createFolder", "folder { id }")
CREATE_COMPANY = mutation("createCompany", "company { id }")
CREATE_CONTACT = mutation("createContact", "contact { id }")
CATALOGUE = "{ stages { id name } lostReasons { id name } }"

# The fields of the state the events are applied to (FieldChange.field names).
REFERENCES = ("stage", "folder", "owner", "awardedTo")
BLANK_STATE: dict[str, Any] = {
    "name": None,
    "description": None,
    "status": None,
    "probability": None,
    "forecastCategory": None,
    "estimatedCloseDate": None,
    "nextStep": None,
    "leadSource": None,
    "visibility": None,
    "actualCloseDate": None,
    "lostNote": None,
    "version": 0,
    "isDeleted": False,
    "expectedValue": None,
    "actualValue": None,
    "stage": None,
    "folder": None,
    "owner": None,
    "awardedTo": None,
    "lostReasons": [],
    "participants": {},
}


def state_of(opportunity: dict[str, Any]) -> dict[str, Any]:
    """An opportunity as read through the API, in the shape its events describe."""
    state = {key: opportunity[key] for key in BLANK_STATE if key in opportunity}
    for key in REFERENCES:
        state[key] = opportunity[key]["id"] if opportunity[key] else None
    state["lostReasons"] = sorted(r["id"] for r in opportunity["lostReasons"])
    state["participants"] = {
        p["id"]: {
            "id": p["id"],
            "kind": p["kind"],
            "targetId": p["target"]["id"],
            "role": p["role"],
            "isPrimary": p["isPrimary"],
        }
        for p in opportunity["participants"]
    }
    return state


def apply_event(state: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """What a client does with an event: each change's `old` must be what it had."""
    state = copy.deepcopy(state)
    for change in event["changes"]:
        field, old, new = change["field"], change["old"], change["new"]
        if field == "participants":
            if old is not None:
                assert state["participants"].pop(old["id"]) == old, change
            if new is not None:
                state["participants"][new["id"]] = new
        elif field == "deletedAt":
            assert old is None and new is not None, change
            state["isDeleted"] = True
        elif field == "lostReasons":
            assert state["lostReasons"] == sorted(old), change
            state["lostReasons"] = sorted(new)
        else:
            assert field in state, f"unknown field in {change}"
            assert state[field] == old, f"{field}: state has {state[field]!r}, event says {old!r}"
            state[field] = new
    state["version"] = event["version"]
    return state


async def read(api: Api, opportunity_id: str, token: str) -> dict[str, Any] | None:
    opportunity: dict[str, Any] | None = (await api.ok(READ, {"id": opportunity_id}, token))[
        "opportunity"
    ]
    return opportunity


async def subscriptions_open(api: Api) -> int:
    metrics = (await api.http.get("/metrics")).text
    found = re.search(r"^tandem_subscriptions (\S+)$", metrics, re.MULTILINE)
    assert found, metrics
    return int(float(found.group(1)))


async def until_subscribed(api: Api, count: int) -> None:
    """The server has registered `count` subscriptions: events from now on reach them."""
    for _ in range(1000):
        if await subscriptions_open(api) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} subscriptions were registered")


async def next_event(sub: Subscriber) -> dict[str, Any]:
    event: dict[str, Any] = (await sub.next(timeout=10))["opportunityEvents"]
    return event


async def subscription_errors(sub: Subscriber, variables: dict[str, Any]) -> list[dict[str, Any]]:
    """Subscribe and expect the server to refuse: the errors, after which it completes."""
    op_id = await sub.subscribe(EVENTS, variables)
    message = await sub.receive(timeout=10)
    assert message["id"] == op_id and message["type"] in ("next", "data"), message
    assert message["payload"]["data"] is None, message
    errors: list[dict[str, Any]] = message["payload"]["errors"]
    assert (await sub.receive(timeout=10)) == {"id": op_id, "type": "complete"}
    return errors


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


@dataclass
class Floor:
    """A sales floor: `bob` acts, `mia` watches everything, a marker opportunity ends checks."""

    api: Api
    admin: str
    bob_id: str
    bob: str
    mia_id: str
    mia: str
    watcher: Subscriber
    marker_id: str
    marker_version: int = 1
    cursor: int = 0

    async def create(self, token: str | None = None, **values: Any) -> dict[str, Any]:
        values.setdefault("name", "Deal")
        values.setdefault("expectedValue", money("1000.00"))
        payload = await self.api.mutate(
            "createOpportunity", CREATE, {"i": values}, token or self.bob
        )
        opportunity: dict[str, Any] = payload["opportunity"]
        return opportunity

    async def update(
        self, token: str, opportunity: dict[str, Any], **values: Any
    ) -> dict[str, Any]:
        variables = {
            "i": {"id": opportunity["id"], "expectedVersion": opportunity["version"], **values}
        }
        result: dict[str, Any] = (
            await self.api.mutate("updateOpportunity", UPDATE, variables, token)
        )["opportunity"]
        return result

    async def change_marker(self) -> None:
        name = f"Marker {self.marker_version + 1}"
        variables = {
            "i": {"id": self.marker_id, "expectedVersion": self.marker_version, "name": name}
        }
        await self.api.mutate("updateOpportunity", UPDATE, variables, self.admin)
        self.marker_version += 1

    def is_marker(self, event: dict[str, Any]) -> bool:
        return (event["opportunityId"], event["version"]) == (self.marker_id, self.marker_version)

    async def sync(self) -> None:
        """Skip whatever the watcher has not read yet (the events of a test's set-up)."""
        await self.change_marker()
        while not self.is_marker(event := await next_event(self.watcher)):
            pass
        self.cursor = int(event["cursor"])

    async def expect_nothing_more(self) -> None:
        """Change the marker: the watcher's next event must be exactly that change."""
        await self.change_marker()
        event = await next_event(self.watcher)
        assert self.is_marker(event), f"unexpected event: {event['kind']} {event['changes']}"
        assert int(event["cursor"]) > self.cursor
        self.cursor = int(event["cursor"])

    async def verify_action(
        self,
        action: Callable[[], Awaitable[str]],
        kinds: list[str],
        *,
        opportunity_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Run `action` (it returns the opportunity's ID) and check its events against reads."""
        await self.sync()
        before = BLANK_STATE
        if opportunity_id is not None:
            found = await read(self.api, opportunity_id, self.mia)
            assert found is not None
            before = state_of(found)
        changed_id = await action()
        events = [await next_event(self.watcher) for _ in kinds]
        assert [e["kind"] for e in events] == kinds
        state = before
        for event in events:
            assert event["opportunityId"] == changed_id
            assert event["actor"] == {"id": self.bob_id}
            assert event["version"] == state["version"] + 1
            assert int(event["cursor"]) > self.cursor, "cursors increase"
            self.cursor = int(event["cursor"])
            state = apply_event(state, event)
        await self.expect_nothing_more()
        assert state_of(events[-1]["opportunity"]) == state, "the snapshot != the events applied"
        fresh = await read(self.api, changed_id, self.mia)
        if state["isDeleted"]:
            assert fresh is None, "a deleted opportunity is gone from reads"
        else:
            assert fresh is not None
            assert state == state_of(fresh), "events applied to the old state != a fresh read"
            assert events[-1]["opportunity"] == fresh, "the event's snapshot != a fresh read"
        return events


@pytest.fixture
async def floor(api: Api, admin_token: str) -> AsyncIterator[Floor]:
    bob_id, bob = await api.create_user(admin_token, "bob@example.com")
    mia_id, mia = await api.create_user(admin_token, "mia@example.com")
    marker = await api.mutate(
        "createOpportunity",
        CREATE,
        {"i": {"name": "Marker 1", "expectedValue": money("1.00")}},
        admin_token,
    )
    async with api.subscriber(mia) as watcher:
        await watcher.subscribe(EVENTS)
        await until_subscribed(api, 1)
        yield Floor(
            api, admin_token, bob_id, bob, mia_id, mia, watcher, marker["opportunity"]["id"]
        )


async def catalogue(api: Api, token: str) -> tuple[dict[str, str], dict[str, str]]:
    data = await api.ok(CATALOGUE, token=token)
    return (
        {s["name"]: s["id"] for s in data["stages"]},
        {r["name"]: r["id"] for r in data["lostReasons"]},
    )


def fields(event: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {c["field"]: (c["old"], c["new"]) for c in event["changes"]}


async def test_create_emits_created_with_every_initial_field(floor: Floor) -> None:
    folder = await floor.api.mutate(
        "createFolder", CREATE_FOLDER, {"i": {"name": "EMEA"}}, floor.bob
    )

    async def create() -> str:
        opportunity = await floor.create(
            name="Acme renewal",
            description="Three-year renewal",
            folderId=folder["folder"]["id"],
            expectedValue=money("12500.50"),
            estimatedCloseDate="2031-03-31",
            nextStep="Send proposal",
            leadSource="Referral",
        )
        return str(opportunity["id"])

    (event,) = await floor.verify_action(create, ["CREATED"])
    assert event["version"] == 1
    assert fields(event) == {
        "name": (None, "Acme renewal"),
        "description": (None, "Three-year renewal"),
        "folder": (None, folder["folder"]["id"]),
        "stage": (None, event["opportunity"]["stage"]["id"]),
        "status": (None, "OPEN"),
        "probability": (None, 10),
        "forecastCategory": (None, "PIPELINE"),
        "estimatedCloseDate": (None, "2031-03-31"),
        "nextStep": (None, "Send proposal"),
        "leadSource": (None, "Referral"),
        "owner": (None, floor.bob_id),
        "visibility": (None, "PUBLIC"),
        "expectedValue": (None, money("12500.50")),
    }


async def test_update_emits_updated_with_old_and_new_values(floor: Floor) -> None:
    opportunity = await floor.create(name="Old name", expectedValue=money("100.00"))

    async def update() -> str:
        await floor.update(
            floor.bob, opportunity, name="New name", expectedValue=money("250.00"), nextStep="Call"
        )
        return str(opportunity["id"])

    (event,) = await floor.verify_action(update, ["UPDATED"], opportunity_id=opportunity["id"])
    assert event["version"] == 2
    assert fields(event) == {
        "name": ("Old name", "New name"),
        "expectedValue": (money("100.00"), money("250.00")),
        "nextStep": (None, "Call"),
    }


async def test_update_that_changes_nothing_emits_no_event(floor: Floor) -> None:
    opportunity = await floor.create(name="Same")
    await floor.sync()

    unchanged = await floor.update(floor.bob, opportunity, name="Same")

    assert unchanged["version"] == opportunity["version"]
    await floor.expect_nothing_more()


async def test_stage_change_emits_stage_changed_and_resets_probability(floor: Floor) -> None:
    stages, _ = await catalogue(floor.api, floor.bob)
    opportunity = await floor.create()

    async def advance() -> str:
        await floor.update(floor.bob, opportunity, stageId=stages["Proposal"])
        return str(opportunity["id"])

    (event,) = await floor.verify_action(
        advance, ["STAGE_CHANGED"], opportunity_id=opportunity["id"]
    )
    assert fields(event) == {
        "stage": (stages["Prospecting"], stages["Proposal"]),
        "probability": (10, 60),
        "forecastCategory": ("PIPELINE", "BEST_CASE"),
    }


async def test_stage_change_with_explicit_probability_keeps_it(floor: Floor) -> None:
    stages, _ = await catalogue(floor.api, floor.bob)
    opportunity = await floor.create()

    async def advance() -> str:
        await floor.update(floor.bob, opportunity, stageId=stages["Negotiation"], probability=55)
        return str(opportunity["id"])

    (event,) = await floor.verify_action(
        advance, ["STAGE_CHANGED"], opportunity_id=opportunity["id"]
    )
    assert fields(event)["probability"] == (10, 55)
    assert fields(event)["forecastCategory"] == ("PIPELINE", "COMMIT")


async def test_mark_won_emits_won_with_the_outcome(floor: Floor) -> None:
    stages, _ = await catalogue(floor.api, floor.bob)
    opportunity = await floor.create(expectedValue=money("900.00"))

    async def win() -> str:
        variables = {
            "i": {
                "id": opportunity["id"],
                "expectedVersion": 1,
                "actualValue": money("875.25"),
                "actualCloseDate": "2030-01-15",
            }
        }
        await floor.api.mutate("markOpportunityWon", WON, variables, floor.bob)
        return str(opportunity["id"])

    (event,) = await floor.verify_action(win, ["WON"], opportunity_id=opportunity["id"])
    assert fields(event) == {
        "status": ("OPEN", "WON"),
        "stage": (stages["Prospecting"], stages["Closed Won"]),
        "probability": (10, 100),
        "forecastCategory": ("PIPELINE", "CLOSED"),
        "actualValue": (None, money("875.25")),
        "actualCloseDate": (None, "2030-01-15"),
    }
    assert event["opportunity"]["weightedValue"] == money("900.00")


async def test_mark_lost_emits_lost_with_reasons_competitor_and_note(floor: Floor) -> None:
    stages, reasons = await catalogue(floor.api, floor.bob)
    competitor = await floor.api.mutate(
        "createCompany", CREATE_COMPANY, {"i": {"name": "Rival Inc"}}, floor.bob
    )
    competitor_id = competitor["company"]["id"]
    opportunity = await floor.create()

    async def mark_lost() -> str:
        variables = {
            "i": {
                "id": opportunity["id"],
                "expectedVersion": 1,
                "lostReasonIds": [reasons["Timing"], reasons["Price"]],
                "awardedToId": competitor_id,
                "note": "Cheaper offer",
                "actualCloseDate": "2030-02-01",
            }
        }
        await floor.api.mutate("markOpportunityLost", LOST, variables, floor.bob)
        return str(opportunity["id"])

    (event,) = await floor.verify_action(mark_lost, ["LOST"], opportunity_id=opportunity["id"])
    changed = fields(event)
    old_reasons, new_reasons = changed.pop("lostReasons")
    assert (old_reasons, sorted(new_reasons)) == ([], sorted([reasons["Timing"], reasons["Price"]]))
    assert changed == {
        "status": ("OPEN", "LOST"),
        "stage": (stages["Prospecting"], stages["Closed Lost"]),
        "probability": (10, 0),
        "forecastCategory": ("PIPELINE", "OMITTED"),
        "awardedTo": (None, competitor_id),
        "lostNote": (None, "Cheaper offer"),
        "actualCloseDate": (None, "2030-02-01"),
    }


async def test_reopen_emits_reopened_and_clears_the_outcome(floor: Floor) -> None:
    stages, reasons = await catalogue(floor.api, floor.bob)
    opportunity = await floor.create()
    await floor.update(floor.bob, opportunity, stageId=stages["Proposal"])
    variables = {
        "i": {
            "id": opportunity["id"],
            "expectedVersion": 2,
            "note": "Gone quiet",
            "lostReasonIds": [reasons["Went silent"]],
        }
    }
    await floor.api.mutate("markOpportunityLost", LOST, variables, floor.bob)

    async def reopen() -> str:
        variables = {"i": {"id": opportunity["id"], "expectedVersion": 3}}
        await floor.api.mutate("reopenOpportunity", REOPEN, variables, floor.bob)
        return str(opportunity["id"])

    (event,) = await floor.verify_action(reopen, ["REOPENED"], opportunity_id=opportunity["id"])
    changed = fields(event)
    assert changed["status"] == ("LOST", "OPEN")
    assert changed["stage"] == (stages["Closed Lost"], stages["Proposal"]), "back where it was"
    assert changed["probability"] == (0, 60)
    assert changed["lostNote"] == ("Gone quiet", None)
    assert changed["lostReasons"] == ([reasons["Went silent"]], [])
    assert event["opportunity"]["actualCloseDate"] is None


async def test_delete_emits_deleted_and_the_opportunity_is_gone(floor: Floor) -> None:
    opportunity = await floor.create()

    async def delete() -> str:
        variables = {"i": {"id": opportunity["id"], "expectedVersion": 1}}
        await floor.api.mutate("deleteOpportunity", DELETE, variables, floor.bob)
        return str(opportunity["id"])

    (event,) = await floor.verify_action(delete, ["DELETED"], opportunity_id=opportunity["id"])
    assert [c["field"] for c in event["changes"]] == ["deletedAt"]
    assert event["opportunity"]["isDeleted"] is True
    assert event["opportunity"]["version"] == 2


async def test_move_emits_moved_with_the_old_and_new_folder(floor: Floor) -> None:
    source = await floor.api.mutate("createFolder", CREATE_FOLDER, {"i": {"name": "A"}}, floor.bob)
    target = await floor.api.mutate("createFolder", CREATE_FOLDER, {"i": {"name": "B"}}, floor.bob)
    source_id, target_id = source["folder"]["id"], target["folder"]["id"]
    opportunity = await floor.create(folderId=source_id)

    async def move() -> str:
        variables = {"i": {"id": opportunity["id"], "expectedVersion": 1, "folderId": target_id}}
        await floor.api.mutate("moveOpportunity", MOVE, variables, floor.bob)
        return str(opportunity["id"])

    (event,) = await floor.verify_action(move, ["MOVED"], opportunity_id=opportunity["id"])
    assert fields(event) == {"folder": (source_id, target_id)}


async def link(floor: Floor, opportunity_id: str, target_id: str, role: str, **more: Any) -> str:
    variables = {
        "i": {"opportunityId": opportunity_id, "participantId": target_id, "role": role, **more}
    }
    payload = await floor.api.mutate("linkParticipant", LINK, variables, floor.bob)
    return str(payload["participant"]["id"])


async def test_linking_participants_emits_participant_linked(floor: Floor) -> None:
    company = await floor.api.mutate(
        "createCompany", CREATE_COMPANY, {"i": {"name": "Acme"}}, floor.bob
    )
    opportunity = await floor.create()
    opportunity_id = opportunity["id"]
    linked: list[str] = []

    async def link_company() -> str:
        linked.append(await link(floor, opportunity_id, company["company"]["id"], "CUSTOMER"))
        return str(opportunity_id)

    async def link_user() -> str:
        linked.append(await link(floor, opportunity_id, floor.mia_id, "PRESALES"))
        return str(opportunity_id)

    (event,) = await floor.verify_action(
        link_company, ["PARTICIPANT_LINKED"], opportunity_id=opportunity_id
    )
    assert event["changes"] == [
        {
            "field": "participants",
            "old": None,
            "new": {
                "id": linked[0],
                "kind": "COMPANY",
                "targetId": company["company"]["id"],
                "role": "CUSTOMER",
                "isPrimary": False,
            },
        }
    ]
    (event,) = await floor.verify_action(
        link_user, ["PARTICIPANT_LINKED"], opportunity_id=opportunity_id
    )
    assert event["changes"][0]["new"]["targetId"] == floor.mia_id
    assert event["version"] == 3


async def test_a_new_primary_contact_event_also_demotes_the_old_one(floor: Floor) -> None:
    contacts = []
    for first in ("Ann", "Ben"):
        payload = await floor.api.mutate(
            "createContact",
            CREATE_CONTACT,
            {"i": {"firstName": first, "lastName": "Buyer"}},
            floor.bob,
        )
        contacts.append(payload["contact"]["id"])
    opportunity = await floor.create()
    first_link = await link(floor, opportunity["id"], contacts[0], "CHAMPION", isPrimary=True)

    async def link_new_primary() -> str:
        await link(floor, opportunity["id"], contacts[1], "DECISION_MAKER", isPrimary=True)
        return str(opportunity["id"])

    (event,) = await floor.verify_action(
        link_new_primary, ["PARTICIPANT_LINKED"], opportunity_id=opportunity["id"]
    )
    demoted, added = event["changes"]
    assert (demoted["old"]["id"], demoted["old"]["isPrimary"]) == (first_link, True)
    assert (demoted["new"]["id"], demoted["new"]["isPrimary"]) == (first_link, False)
    assert (added["old"], added["new"]["targetId"], added["new"]["isPrimary"]) == (
        None,
        contacts[1],
        True,
    )


async def test_unlinking_a_participant_emits_participant_unlinked(floor: Floor) -> None:
    company = await floor.api.mutate(
        "createCompany", CREATE_COMPANY, {"i": {"name": "Acme"}}, floor.bob
    )
    opportunity = await floor.create()
    participant_id = await link(floor, opportunity["id"], company["company"]["id"], "PARTNER")

    async def unlink() -> str:
        variables = {"i": {"id": participant_id, "expectedVersion": 2}}
        await floor.api.mutate("unlinkParticipant", UNLINK, variables, floor.bob)
        return str(opportunity["id"])

    (event,) = await floor.verify_action(
        unlink, ["PARTICIPANT_UNLINKED"], opportunity_id=opportunity["id"]
    )
    assert event["changes"] == [
        {
            "field": "participants",
            "old": {
                "id": participant_id,
                "kind": "COMPANY",
                "targetId": company["company"]["id"],
                "role": "PARTNER",
                "isPrimary": False,
            },
            "new": None,
        }
    ]
    assert event["opportunity"]["participants"] == []


async def test_two_users_watching_one_opportunity_see_each_others_changes(
    api: Api, admin_token: str
) -> None:
    bob_id, bob = await api.create_user(admin_token, "bob@example.com")
    mia_id, mia = await api.create_user(admin_token, "mia@example.com")
    watched = (
        await api.mutate(
            "createOpportunity",
            CREATE,
            {"i": {"name": "Shared", "expectedValue": money("5.00")}},
            bob,
        )
    )["opportunity"]
    other = (
        await api.mutate(
            "createOpportunity",
            CREATE,
            {"i": {"name": "Other", "expectedValue": money("5.00")}},
            bob,
        )
    )["opportunity"]
    only_watched = {"opportunityId": watched["id"]}
    async with api.subscriber(bob) as bob_sub, api.subscriber(mia) as mia_sub:
        await bob_sub.subscribe(EVENTS, only_watched)
        await mia_sub.subscribe(EVENTS, only_watched)
        await until_subscribed(api, 2)

        await api.mutate(
            "updateOpportunity",
            UPDATE,
            {"i": {"id": other["id"], "expectedVersion": 1, "name": "Ignored"}},
            mia,
        )
        await api.mutate(
            "updateOpportunity",
            UPDATE,
            {"i": {"id": watched["id"], "expectedVersion": 1, "name": "Bob's"}},
            bob,
        )
        from_bob = [await next_event(bob_sub), await next_event(mia_sub)]
        await api.mutate(
            "updateOpportunity",
            UPDATE,
            {"i": {"id": watched["id"], "expectedVersion": 2, "nextStep": "Mia's"}},
            mia,
        )
        from_mia = [await next_event(bob_sub), await next_event(mia_sub)]

    for event in from_bob:
        assert (event["actor"]["id"], event["version"]) == (bob_id, 2)
        assert event["changes"] == [{"field": "name", "old": "Shared", "new": "Bob's"}]
    for event in from_mia:
        assert (event["actor"]["id"], event["version"]) == (mia_id, 3)
        assert event["changes"] == [{"field": "nextStep", "old": None, "new": "Mia's"}]
        assert event["opportunity"]["name"] == "Bob's"
    assert from_bob[0] == from_bob[1] and from_mia[0] == from_mia[1]


async def collect(sub: Subscriber, count: int) -> list[dict[str, Any]]:
    return [await next_event(sub) for _ in range(count)]


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["kind"], e["opportunity"]["name"], e["version"]) for e in events]


async def test_one_users_subscriptions_with_other_arguments_each_get_their_own(
    floor: Floor,
) -> None:
    """Subscriptions of one user are judged together only when their arguments pick the
    same events: one deal's, all deals', and one deal's of one kind, side by side."""
    watched = await floor.create(name="Watched")
    other = await floor.create(name="Other")
    async with floor.api.subscriber(floor.mia) as sub:
        only_watched = await sub.subscribe(EVENTS, {"opportunityId": watched["id"]})
        everything = await sub.subscribe(EVENTS)
        watched_won = await sub.subscribe(
            EVENTS, {"opportunityId": watched["id"], "filter": {"kinds": ["WON"]}}
        )
        await until_subscribed(floor.api, 4)  # with the floor's own watcher

        await floor.update(floor.bob, other, nextStep="Other's")
        updated = await floor.update(floor.bob, watched, nextStep="Watched's")
        win = {"i": {"id": watched["id"], "expectedVersion": updated["version"]}}
        await floor.api.mutate("markOpportunityWon", WON, win, floor.bob)

        by_operation: dict[str, list[tuple[str, str]]] = {}
        for _ in range(6):  # 1 + 3 + 2 events
            message = await sub.receive()
            assert message["type"] == "next", message
            event = message["payload"]["data"]["opportunityEvents"]
            by_operation.setdefault(message["id"], []).append(
                (event["kind"], event["opportunity"]["name"])
            )
        await sub.expect_silence(0.3)

    assert by_operation == {
        only_watched: [("UPDATED", "Watched"), ("WON", "Watched")],
        everything: [("UPDATED", "Other"), ("UPDATED", "Watched"), ("WON", "Watched")],
        watched_won: [("WON", "Watched")],
    }


async def test_one_users_sockets_with_one_subscription_each_get_every_event(
    floor: Floor,
) -> None:
    """One user's sockets with the same subscription are handed each event together (a wall
    of dashboards): the first of them leaving, and another resuming from a cursor while the
    rest are live, change nothing in what each of the others receives."""
    deal = await floor.create(name="Herded")

    def seen(message: dict[str, Any]) -> tuple[str, int]:
        assert message["type"] == "next", message
        event = message["payload"]["data"]["opportunityEvents"]
        return event["cursor"], event["version"]

    async with AsyncExitStack() as stack:
        first, second = [
            await stack.enter_async_context(floor.api.subscriber(floor.admin)) for _ in range(2)
        ]
        async with floor.api.subscriber(floor.admin) as leaving:
            await leaving.subscribe(EVENTS)  # the first of the herd: whose functions it uses
            await first.subscribe(EVENTS)
            await second.subscribe(EVENTS)
            await until_subscribed(floor.api, 4)  # with the floor's own watcher
            deal = await floor.update(floor.bob, deal, nextStep="One")
            received = [seen(await sub.receive()) for sub in (leaving, first, second)]
            assert [version for _, version in received] == [2, 2, 2]
            cursor = received[0][0]
            assert {c for c, _ in received} == {cursor}
        for _ in range(500):  # the leaving socket's subscription ended on the server
            if await subscriptions_open(floor.api) == 3:
                break
            await asyncio.sleep(0.01)
        assert await subscriptions_open(floor.api) == 3

        deal = await floor.update(floor.bob, deal, nextStep="Two")
        resumed = await stack.enter_async_context(floor.api.subscriber(floor.admin))
        await resumed.subscribe(EVENTS, {"since": cursor})  # replays "Two", then live
        await until_subscribed(floor.api, 4)
        await floor.update(floor.bob, deal, nextStep="Three")

        for sub in (first, second, resumed):
            versions = [seen(await sub.receive())[1] for _ in range(2)]
            assert versions == [3, 4]
            await sub.expect_silence(0.2)


async def test_kinds_filter_passes_only_those_kinds(floor: Floor) -> None:
    stages, _ = await catalogue(floor.api, floor.bob)
    first = await floor.create(name="First")
    second = await floor.create(name="Second")
    async with floor.api.subscriber(floor.mia) as sub:
        await sub.subscribe(EVENTS, {"filter": {"kinds": ["WON", "STAGE_CHANGED"]}})
        await until_subscribed(floor.api, 2)

        await floor.update(floor.bob, first, nextStep="Call")
        await floor.update(floor.bob, second, stageId=stages["Proposal"])
        win = {"i": {"id": first["id"], "expectedVersion": 2}}
        await floor.api.mutate("markOpportunityWon", WON, win, floor.bob)
        await floor.create(name="Third")
        await floor.update(floor.bob, {**second, "version": 2}, stageId=stages["Negotiation"])

        received = await collect(sub, 3)

    assert summary(received) == [
        ("STAGE_CHANGED", "Second", 2),
        ("WON", "First", 3),
        ("STAGE_CHANGED", "Second", 3),
    ]


async def test_folder_filter_passes_only_opportunities_in_that_folder(floor: Floor) -> None:
    folders = []
    for name in ("Watched", "Elsewhere"):
        payload = await floor.api.mutate(
            "createFolder", CREATE_FOLDER, {"i": {"name": name}}, floor.bob
        )
        folders.append(payload["folder"]["id"])
    inside = await floor.create(name="Inside", folderId=folders[0])
    outside = await floor.create(name="Outside", folderId=folders[1])
    unfiled = await floor.create(name="Unfiled")
    async with floor.api.subscriber(floor.mia) as sub:
        await sub.subscribe(EVENTS, {"filter": {"folderId": folders[0]}})
        await until_subscribed(floor.api, 2)

        await floor.update(floor.bob, outside, nextStep="Ignored")
        await floor.update(floor.bob, unfiled, nextStep="Ignored")
        await floor.update(floor.bob, inside, nextStep="Seen")
        move = {"i": {"id": outside["id"], "expectedVersion": 2, "folderId": folders[0]}}
        await floor.api.mutate("moveOpportunity", MOVE, move, floor.bob)
        await floor.create(name="Created inside", folderId=folders[0])

        received = await collect(sub, 3)

    assert summary(received) == [
        ("UPDATED", "Inside", 2),
        ("MOVED", "Outside", 3),
        ("CREATED", "Created inside", 1),
    ]
    assert all(e["opportunity"]["folder"] == {"id": folders[0]} for e in received)


async def test_owner_filter_passes_only_that_owners_opportunities(floor: Floor) -> None:
    bobs = await floor.create(name="Bob's")
    mias = await floor.create(floor.mia, name="Mia's")
    async with floor.api.subscriber(floor.admin) as sub:
        await sub.subscribe(EVENTS, {"filter": {"ownerId": floor.mia_id}})
        await until_subscribed(floor.api, 2)

        await floor.update(floor.bob, bobs, nextStep="Ignored")
        await floor.update(floor.bob, mias, nextStep="Seen")
        await floor.update(floor.bob, {**bobs, "version": 2}, ownerId=floor.mia_id)

        received = await collect(sub, 2)

    assert summary(received) == [("UPDATED", "Mia's", 2), ("UPDATED", "Bob's", 3)]
    assert [e["opportunity"]["owner"]["id"] for e in received] == [floor.mia_id, floor.mia_id]


async def test_a_conflicting_update_emits_no_event(floor: Floor) -> None:
    opportunity = await floor.create(name="Contested")
    await floor.update(floor.mia, opportunity, name="Mia was first")
    await floor.sync()

    stale = {"i": {"id": opportunity["id"], "expectedVersion": 1, "name": "Bob overwrites"}}
    payload = (await floor.api.ok(UPDATE, stale, floor.bob))["updateOpportunity"]

    assert [e["code"] for e in payload["userErrors"]] == ["CONFLICT"]
    assert payload["opportunity"]["version"] == 2
    await floor.expect_nothing_more()


@pytest.mark.parametrize(
    "change",
    [
        {"probability": 150},
        {"name": ""},
        {"expectedValue": {"amount": "-1.00", "currency": "EUR"}},
        {"expectedValue": {"amount": "1.00", "currency": "XXQ"}},
    ],
    ids=["probability", "empty-name", "negative-money", "unknown-currency"],
)
async def test_a_rejected_update_emits_no_event(floor: Floor, change: dict[str, Any]) -> None:
    opportunity = await floor.create(name="Valid")
    await floor.sync()

    variables = {"i": {"id": opportunity["id"], "expectedVersion": 1, "nextStep": "x", **change}}
    payload = (await floor.api.ok(UPDATE, variables, floor.bob))["updateOpportunity"]

    assert payload["userErrors"], payload
    await floor.expect_nothing_more()
    found = await read(floor.api, opportunity["id"], floor.bob)
    assert found is not None and (found["version"], found["nextStep"]) == (1, None)


async def test_the_legacy_graphql_ws_protocol_delivers_events(floor: Floor) -> None:
    async with floor.api.subscriber(floor.mia, protocol="graphql-ws") as legacy:
        assert legacy.acked is not None
        await legacy.subscribe(EVENTS)
        await until_subscribed(floor.api, 2)

        created = await floor.create(name="Over graphql-ws")
        await floor.update(floor.bob, created, name="Renamed")

        received = await collect(legacy, 2)

    assert summary(received) == [("CREATED", "Over graphql-ws", 1), ("UPDATED", "Renamed", 2)]
    assert received[1]["changes"] == [{"field": "name", "old": "Over graphql-ws", "new": "Renamed"}]


async def test_subscribing_to_a_hidden_opportunity_is_the_same_error_as_a_missing_one(
    floor: Floor,
) -> None:
    private = await floor.create(name="Secret", visibility="PRIVATE")
    deleted = await floor.create(name="Deleted")
    variables = {"i": {"id": deleted["id"], "expectedVersion": 1}}
    await floor.api.mutate("deleteOpportunity", DELETE, variables, floor.bob)
    missing_id = "T3Bwb3J0dW5pdHk6OTk5OTk="  # Opportunity:99999

    async with floor.api.subscriber(floor.mia) as sub:
        hidden = await subscription_errors(sub, {"opportunityId": private["id"]})
        gone = await subscription_errors(sub, {"opportunityId": deleted["id"]})
        missing = await subscription_errors(sub, {"opportunityId": missing_id})

    assert hidden == missing == gone
    assert missing[0]["extensions"]["reason"] == "NOT_FOUND"


async def test_subscribing_with_an_id_of_another_type_is_an_error(floor: Floor) -> None:
    folder = await floor.api.mutate("createFolder", CREATE_FOLDER, {"i": {"name": "F"}}, floor.bob)
    async with floor.api.subscriber(floor.mia) as sub:
        errors = await subscription_errors(sub, {"opportunityId": folder["folder"]["id"]})
        garbage = await subscription_errors(sub, {"opportunityId": "not-an-id"})
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert garbage[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_subscribers_with_different_selections_each_get_their_own_shape(
    api: Api, admin_token: str
) -> None:
    # Subscribers with the same query share one execution per event; different queries
    # must not be served each other's results.
    narrow = "subscription($s: String) { opportunityEvents(since: $s) { kind } }"
    wide = """subscription($s: String) {
      opportunityEvents(since: $s) { kind opportunity { name version } } }"""
    # Subscribing from the cursor read first: the event reaches each subscriber however soon
    # after the subscribe message the mutation commits.
    since = {"s": (await api.ok("{ eventCursor }", token=admin_token))["eventCursor"]}
    async with (
        api.subscriber(admin_token) as first,
        api.subscriber(admin_token) as second,
        api.subscriber(admin_token) as third,
    ):
        await first.subscribe(narrow, since)
        await second.subscribe(wide, since)
        await third.subscribe(narrow, since)
        await api.mutate(
            "createOpportunity",
            """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
                 opportunity { id } userErrors { code } } }""",
            {"i": {"name": "Shared", "expectedValue": {"amount": "1.00", "currency": "EUR"}}},
            admin_token,
        )
        got = [(await s.next())["opportunityEvents"] for s in (first, second, third)]
    assert got == [
        {"kind": "CREATED"},
        {"kind": "CREATED", "opportunity": {"name": "Shared", "version": 1}},
        {"kind": "CREATED"},
    ]
