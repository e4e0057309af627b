"""A sales team for the following and inbox tests: an admin, Bob and Carl (reps), Mia (a
teammate who follows deals), Zoe (another team's rep), each with a token; and the mutations and
queries they use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.client import Api

CREATE = """
mutation($i: CreateOpportunityInput!) {
  createOpportunity(input: $i) { opportunity { id version } userErrors { field code message } }
}"""
UPDATE = """
mutation($i: UpdateOpportunityInput!) {
  updateOpportunity(input: $i) { opportunity { id version } userErrors { field code message } }
}"""
WON = """
mutation($i: MarkOpportunityWonInput!) {
  markOpportunityWon(input: $i) { opportunity { id version } userErrors { field code message } }
}"""
LOST = """
mutation($i: MarkOpportunityLostInput!) {
  markOpportunityLost(input: $i) { opportunity { id version } userErrors { field code message } }
}"""
JOURNAL = """
mutation($i: AddJournalInput!) {
  addJournal(input: $i) { activity { id } userErrors { field code message } }
}"""
TASK = """
mutation($i: AddTaskInput!) {
  addTask(input: $i) { activity { id version } userErrors { field code message } }
}"""
UPDATE_ACTIVITY = """
mutation($i: UpdateActivityInput!) {
  updateActivity(input: $i) { activity { id version } userErrors { field code message } }
}"""
LINK = """
mutation($i: LinkParticipantInput!) {
  linkParticipant(input: $i) {
    participant { id } opportunity { version } userErrors { field code message }
  }
}"""
FOLLOW = """
mutation($id: ID!) {
  followOpportunity(input: {opportunityId: $id}) {
    opportunity { id following } following userErrors { field code message }
  }
}"""
UNFOLLOW = """
mutation($id: ID!) {
  unfollowOpportunity(input: {opportunityId: $id}) {
    opportunity { id following } following userErrors { field code message }
  }
}"""
FOLLOWING = """
query($first: Int, $after: String) {
  following(first: $first, after: $after) {
    totalCount nodes { id name following } pageInfo { hasNextPage endCursor }
  }
}"""
NOTIFICATIONS = """
query($unreadOnly: Boolean, $first: Int, $after: String) {
  notifications(unreadOnly: $unreadOnly, first: $first, after: $after) {
    totalCount
    nodes {
      id kind read readAt summary actor { name } opportunity { id name }
      activity { id ... on Task { title } ... on Journal { title } }
    }
    pageInfo { hasNextPage endCursor }
  }
  unreadNotificationCount
}"""
MARK_READ = """
mutation($id: ID!) {
  markNotificationRead(input: {id: $id}) {
    notification { id read } unreadCount userErrors { field code message }
  }
}"""
MARK_ALL_READ = """
mutation {
  markAllNotificationsRead(input: {}) { markedCount unreadCount userErrors { code message } }
}"""
SET_PREFERENCE = """
mutation($kind: NotificationKind!, $enabled: Boolean!) {
  setNotificationPreference(input: {kind: $kind, enabled: $enabled}) {
    preference { kind enabled } userErrors { field code message }
  }
}"""
PREFERENCES = "{ notificationPreferences { kind enabled } }"
CATALOGUE = "{ stages { id name } me { id } }"
EVENTS = """
subscription($since: String) {
  notificationEvents(since: $since) {
    cursor kind unreadCount notifications { id kind read summary opportunity { name } }
  }
}"""


@dataclass
class Team:
    api: Api
    admin: str
    bob_id: str
    bob: str
    carl_id: str
    carl: str
    mia_id: str
    mia: str
    zoe_id: str
    zoe: str
    stages: dict[str, str]

    async def create(self, token: str | None = None, **values: Any) -> dict[str, Any]:
        values.setdefault("name", "ACME rollout")
        values.setdefault("expectedValue", {"amount": "1000.00", "currency": "EUR"})
        payload = await self.api.mutate(
            "createOpportunity", CREATE, {"i": values}, token or self.bob
        )
        opportunity: dict[str, Any] = payload["opportunity"]
        return opportunity

    async def update(self, token: str, deal: dict[str, Any], **values: Any) -> dict[str, Any]:
        """Update `deal` (its version is kept up to date)."""
        variables = {"i": {"id": deal["id"], "expectedVersion": deal["version"], **values}}
        payload = await self.api.mutate("updateOpportunity", UPDATE, variables, token)
        deal["version"] = payload["opportunity"]["version"]
        return deal

    async def move(self, token: str, deal: dict[str, Any], stage: str) -> None:
        await self.update(token, deal, stageId=self.stages[stage])

    async def win(self, token: str, deal: dict[str, Any]) -> None:
        variables = {"i": {"id": deal["id"], "expectedVersion": deal["version"]}}
        payload = await self.api.mutate("markOpportunityWon", WON, variables, token)
        deal["version"] = payload["opportunity"]["version"]

    async def lose(self, token: str, deal: dict[str, Any]) -> None:
        variables = {"i": {"id": deal["id"], "expectedVersion": deal["version"]}}
        payload = await self.api.mutate("markOpportunityLost", LOST, variables, token)
        deal["version"] = payload["opportunity"]["version"]

    async def journal(self, token: str, deal: dict[str, Any], body: str) -> str:
        variables = {"i": {"opportunityId": deal["id"], "body": body}}
        payload = await self.api.mutate("addJournal", JOURNAL, variables, token)
        return str(payload["activity"]["id"])

    async def task(
        self, token: str, deal: dict[str, Any], title: str, assignee: str | None = None
    ) -> dict[str, Any]:
        variables = {"i": {"opportunityId": deal["id"], "title": title, "assigneeId": assignee}}
        payload = await self.api.mutate("addTask", TASK, variables, token)
        activity: dict[str, Any] = payload["activity"]
        return activity

    async def link(self, token: str, deal: dict[str, Any], user_id: str) -> None:
        variables = {
            "i": {"opportunityId": deal["id"], "participantId": user_id, "role": "PRESALES"}
        }
        payload = await self.api.mutate("linkParticipant", LINK, variables, token)
        deal["version"] = payload["opportunity"]["version"]

    async def follow(self, token: str, deal: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = await self.api.mutate(
            "followOpportunity", FOLLOW, {"id": deal["id"]}, token
        )
        return payload

    async def unfollow(self, token: str, deal: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = await self.api.mutate(
            "unfollowOpportunity", UNFOLLOW, {"id": deal["id"]}, token
        )
        return payload

    async def inbox(self, token: str, **variables: Any) -> dict[str, Any]:
        data = await self.api.ok(NOTIFICATIONS, variables, token)
        found: dict[str, Any] = data["notifications"]
        found["unread"] = data["unreadNotificationCount"]
        return found

    async def kinds(self, token: str) -> list[str]:
        """The kinds in the user's inbox, newest first."""
        return [n["kind"] for n in (await self.inbox(token))["nodes"]]


async def make_team(api: Api, admin_token: str) -> Team:
    bob_id, bob = await api.create_user(admin_token, "bob@example.com", name="Bob Stone")
    carl_id, carl = await api.create_user(admin_token, "carl@example.com", name="Carl Diaz")
    mia_id, mia = await api.create_user(admin_token, "mia@example.com", name="Mia Keller")
    zoe_id, zoe = await api.create_user(admin_token, "zoe@example.com", name="Zoe Park")
    catalogue = await api.ok(CATALOGUE, token=admin_token)
    stages = {s["name"]: s["id"] for s in catalogue["stages"]}
    return Team(api, admin_token, bob_id, bob, carl_id, carl, mia_id, mia, zoe_id, zoe, stages)
