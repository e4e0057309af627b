"""Helpers for the opportunity view tests (filters, sorting, grouping): a thin client that
builds a pipeline through the public GraphQL API and reads it back as lists and groups."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.client import Api

OPPORTUNITY_PAYLOAD = "opportunity { id version name number } userErrors { field code message }"


def mutation(name: str, payload: str = OPPORTUNITY_PAYLOAD, input_type: str = "") -> str:
    input_type = input_type or f"{name[0].upper()}{name[1:]}Input"
    return f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ {payload} }} }}"


CREATE = mutation("createOpportunity")
UPDATE = mutation("updateOpportunity")
MARK_WON = mutation("markOpportunityWon")
MARK_LOST = mutation("markOpportunityLost")
LINK = mutation("linkParticipant", "participant { id } userErrors { field code message }")
CREATE_COMPANY = mutation("createCompany", "company { id } userErrors { code message }")
CREATE_CONTACT = mutation("createContact", "contact { id } userErrors { code message }")
CREATE_TEAM = mutation("createTeam", "team { id } userErrors { code message }")
ADD_TEAM_MEMBER = mutation(
    "addTeamMember", "team { id } userErrors { code message }", "TeamMemberInput"
)
CREATE_FOLDER = mutation("createFolder", "folder { id } userErrors { code message }")
UPDATE_STAGE = mutation("updateStage", "stage { id position } userErrors { code message }")
ACTIVITY_PAYLOAD = "activity { id version occurredAt } userErrors { field code message }"
ADD_JOURNAL = mutation("addJournal", ACTIVITY_PAYLOAD)
ADD_TASK = mutation("addTask", ACTIVITY_PAYLOAD)
SET_TASK_STATUS = mutation("setTaskStatus", ACTIVITY_PAYLOAD)
VERSION = "query($id: ID!) { opportunity(id: $id) { version } }"
STAGES = "{ stages { id name kind position } }"
LOST_REASONS = "{ lostReasons { id name } }"

LIST = """query($filter: OpportunityFilterInput, $orderBy: [OpportunityOrder!], $first: Int,
               $after: String) {
  opportunities(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name } }
  }
}"""
GROUPS = """query($by: OpportunityGroupBy!, $filter: OpportunityFilterInput) {
  opportunityGroups(groupBy: $by, filter: $filter) {
    key count
    stage { id name } owner { id name } team { id name } folder { id name } company { id name }
    totals { currency count value { amount currency } weightedValue { amount currency } }
  } }"""


def today() -> date:
    """Today in UTC, the calendar the server's relative periods use."""
    return datetime.now(UTC).date()


def month_bounds(day: date, shift: int) -> tuple[date, date]:
    """The first and last day of the month `shift` months from `day`'s."""
    year, index = divmod(day.year * 12 + day.month - 1 + shift, 12)
    start = date(year, index + 1, 1)
    return start, start.replace(day=calendar.monthrange(year, index + 1)[1])


def expected_bounds(period: str, day: date) -> tuple[date | None, date]:
    """The first and last day of a RelativePeriod around `day`, worked out independently."""
    monday = day - timedelta(days=day.weekday())
    quarter_shift = -((day.month - 1) % 3)  # months back to the quarter's first month
    simple: dict[str, tuple[date | None, date]] = {
        "TODAY": (day, day),
        "OVERDUE": (None, day - timedelta(days=1)),
        "THIS_WEEK": (monday, monday + timedelta(days=6)),
        "LAST_WEEK": (monday - timedelta(days=7), monday - timedelta(days=1)),
        "NEXT_WEEK": (monday + timedelta(days=7), monday + timedelta(days=13)),
        "THIS_YEAR": (date(day.year, 1, 1), date(day.year, 12, 31)),
        "LAST_YEAR": (date(day.year - 1, 1, 1), date(day.year - 1, 12, 31)),
        "NEXT_YEAR": (date(day.year + 1, 1, 1), date(day.year + 1, 12, 31)),
    }
    if period in simple:
        return simple[period]
    months = {"THIS_MONTH": 0, "LAST_MONTH": -1, "NEXT_MONTH": 1}
    if period in months:
        return month_bounds(day, months[period])
    shift = {"THIS_QUARTER": 0, "LAST_QUARTER": -3, "NEXT_QUARTER": 3}[period]
    start, _ = month_bounds(day, quarter_shift + shift)
    _, end = month_bounds(day, quarter_shift + shift + 2)
    return start, end


CALENDAR_PERIODS = [
    "TODAY",
    "OVERDUE",
    "THIS_WEEK",
    "LAST_WEEK",
    "NEXT_WEEK",
    "THIS_MONTH",
    "LAST_MONTH",
    "NEXT_MONTH",
    "THIS_QUARTER",
    "LAST_QUARTER",
    "NEXT_QUARTER",
    "THIS_YEAR",
    "LAST_YEAR",
    "NEXT_YEAR",
]


class Crm:
    """The server seen by one test: builds records as the admin unless told otherwise."""

    def __init__(self, api: Api, admin_token: str) -> None:
        self.api = api
        self.admin = admin_token

    # --- building --------------------------------------------------------------------------

    async def deal(
        self,
        name: str,
        amount: str = "100.00",
        currency: str = "EUR",
        *,
        token: str | None = None,
        **fields: Any,
    ) -> str:
        """A new opportunity's ID."""
        values = {"name": name, "expectedValue": {"amount": amount, "currency": currency}}
        payload = await self.api.mutate(
            "createOpportunity", CREATE, {"i": {**values, **fields}}, token or self.admin
        )
        deal_id: str = payload["opportunity"]["id"]
        return deal_id

    async def version(self, deal_id: str) -> int:
        found = (await self.api.ok(VERSION, {"id": deal_id}, self.admin))["opportunity"]
        version: int = found["version"]
        return version

    async def _change(self, name: str, query: str, deal_id: str, **fields: Any) -> None:
        values = {"id": deal_id, "expectedVersion": await self.version(deal_id), **fields}
        await self.api.mutate(name, query, {"i": values}, self.admin)

    async def update(self, deal_id: str, **fields: Any) -> None:
        await self._change("updateOpportunity", UPDATE, deal_id, **fields)

    async def won(self, deal_id: str, **fields: Any) -> None:
        await self._change("markOpportunityWon", MARK_WON, deal_id, **fields)

    async def lost(self, deal_id: str, **fields: Any) -> None:
        await self._change("markOpportunityLost", MARK_LOST, deal_id, **fields)

    async def company(self, name: str) -> str:
        payload = await self.api.mutate(
            "createCompany", CREATE_COMPANY, {"i": {"name": name}}, self.admin
        )
        company_id: str = payload["company"]["id"]
        return company_id

    async def contact(self, first: str, last: str) -> str:
        values = {"firstName": first, "lastName": last}
        payload = await self.api.mutate("createContact", CREATE_CONTACT, {"i": values}, self.admin)
        contact_id: str = payload["contact"]["id"]
        return contact_id

    async def team(self, name: str, *member_ids: str) -> str:
        payload = await self.api.mutate(
            "createTeam", CREATE_TEAM, {"i": {"name": name}}, self.admin
        )
        team_id: str = payload["team"]["id"]
        for user_id in member_ids:
            values = {"teamId": team_id, "userId": user_id}
            await self.api.mutate("addTeamMember", ADD_TEAM_MEMBER, {"i": values}, self.admin)
        return team_id

    async def folder(self, name: str, parent_id: str | None = None) -> str:
        values = {"name": name, "parentId": parent_id}
        payload = await self.api.mutate("createFolder", CREATE_FOLDER, {"i": values}, self.admin)
        folder_id: str = payload["folder"]["id"]
        return folder_id

    async def link(self, deal_id: str, target_id: str, role: str) -> None:
        values = {"opportunityId": deal_id, "participantId": target_id, "role": role}
        await self.api.mutate("linkParticipant", LINK, {"i": values}, self.admin)

    async def journal(self, deal_id: str, occurred_at: str | None = None) -> None:
        values = {"opportunityId": deal_id, "body": "Note", "occurredAt": occurred_at}
        await self.api.mutate("addJournal", ADD_JOURNAL, {"i": values}, self.admin)

    async def task(self, deal_id: str, status: str | None = None) -> None:
        values = {"opportunityId": deal_id, "title": "Follow up"}
        payload = await self.api.mutate("addTask", ADD_TASK, {"i": values}, self.admin)
        if status is not None:
            change = {"id": payload["activity"]["id"], "status": status}
            await self.api.mutate("setTaskStatus", SET_TASK_STATUS, {"i": change}, self.admin)

    async def stages(self) -> dict[str, str]:
        """Stage IDs by name."""
        found = (await self.api.ok(STAGES, token=self.admin))["stages"]
        return {s["name"]: s["id"] for s in found}

    async def stage_ids_in_order(self) -> list[str]:
        return [s["id"] for s in (await self.api.ok(STAGES, token=self.admin))["stages"]]

    async def lost_reasons(self) -> dict[str, str]:
        found = (await self.api.ok(LOST_REASONS, token=self.admin))["lostReasons"]
        return {r["name"]: r["id"] for r in found}

    # --- reading ---------------------------------------------------------------------------

    async def listing(self, token: str | None = None, **variables: Any) -> dict[str, Any]:
        variables.setdefault("first", 100)
        data = await self.api.ok(LIST, variables, token or self.admin)
        connection: dict[str, Any] = data["opportunities"]
        return connection

    async def names(
        self,
        filter: dict[str, Any] | None = None,
        order_by: list[dict[str, Any]] | None = None,
        *,
        token: str | None = None,
    ) -> list[str]:
        """Names of the matching deals in the server's order (one page of up to 100)."""
        page = await self.listing(token, filter=filter, orderBy=order_by)
        found = [e["node"]["name"] for e in page["edges"]]
        assert page["totalCount"] == len(found), page
        return found

    async def matching(
        self, filter: dict[str, Any] | None, *, token: str | None = None
    ) -> set[str]:
        """Names of the deals matching `filter`, as a set (totalCount checked too)."""
        found = await self.names(filter, token=token)
        assert len(found) == len(set(found)), found
        return set(found)

    async def walk(
        self, page_size: int, order_by: list[dict[str, Any]] | None, **variables: Any
    ) -> list[str]:
        """Names of every deal, page by page, checking each page's pageInfo and count."""
        seen: list[str] = []
        after: str | None = None
        total: int | None = None
        while True:
            page = await self.listing(first=page_size, after=after, orderBy=order_by, **variables)
            info = page["pageInfo"]
            assert info["hasPreviousPage"] is (after is not None), page
            assert len(page["edges"]) <= page_size, page
            total = page["totalCount"] if total is None else total
            assert page["totalCount"] == total, page
            seen += [e["node"]["name"] for e in page["edges"]]
            if page["edges"]:
                assert info["endCursor"] == page["edges"][-1]["cursor"], page
            if not info["hasNextPage"]:
                assert len(seen) == total, (seen, total)
                return seen
            after = info["endCursor"]

    async def groups(
        self, by: str, filter: dict[str, Any] | None = None, *, token: str | None = None
    ) -> list[dict[str, Any]]:
        data = await self.api.ok(GROUPS, {"by": by, "filter": filter}, token or self.admin)
        found: list[dict[str, Any]] = data["opportunityGroups"]
        return found

    async def refused(
        self, query: str, variables: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        """The top-level error of a request refused as BAD_USER_INPUT, with no data."""
        body = await self.api.gql(query, variables, token or self.admin)
        errors = body.get("errors")
        assert errors, (variables, body)
        assert body.get("data") is None, (variables, body)
        for each in errors:
            assert "Internal" not in each["message"], (variables, body)
        first: dict[str, Any] = errors[0]
        assert first.get("extensions", {}).get("code") == "BAD_USER_INPUT", (variables, body)
        return first


def order(field: str, direction: str = "ASC", nulls: str | None = None) -> dict[str, Any]:
    """One OpportunityOrder."""
    found: dict[str, Any] = {"field": field, "direction": direction}
    if nulls is not None:
        found["nulls"] = nulls
    return found


def totals(*rows: tuple[str, int, str, str]) -> list[dict[str, Any]]:
    """GroupTotal dicts from (currency, count, value, weighted value) rows."""
    return [
        {
            "currency": currency,
            "count": count,
            "value": {"amount": value, "currency": currency},
            "weightedValue": {"amount": weighted, "currency": currency},
        }
        for currency, count, value, weighted in rows
    ]
