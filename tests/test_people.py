"""Users and teams (issue 2 points 3 and 7): admin-managed, with team membership.

Members may read users and teams but every change is for admins only: a member gets
FORBIDDEN and nothing changes. E-mails are unique case-insensitively, and an admin cannot
lock themselves out.
"""

from __future__ import annotations

from typing import Any

from tests.client import CREATE_USER, Api

USERS = "{ users(includeInactive: true) { id email name role isActive } }"
TEAMS = "{ teams { id name members { email } } }"
ME = "{ me { id } }"
USER_TEAMS = """
query($id: ID!) { node(id: $id) { ... on User { email teams { name } } } }
"""
UPDATE_USER = """
mutation($input: UpdateUserInput!) {
  updateUser(input: $input) { user { id name role isActive } userErrors { field code message } }
}
"""
CREATE_TEAM = """
mutation($name: String!) {
  createTeam(input: {name: $name}) { team { id name } userErrors { field code message } }
}
"""
RENAME_TEAM = """
mutation($id: ID!, $name: String!) {
  renameTeam(input: {id: $id, name: $name}) { team { id name } userErrors { field code message } }
}
"""
DELETE_TEAM = """
mutation($id: ID!) { deleteTeam(input: {id: $id}) { deletedId userErrors { field code message } } }
"""
ADD_MEMBER = """
mutation($team: ID!, $user: ID!) {
  addTeamMember(input: {teamId: $team, userId: $user}) {
    team { name members { email } } userErrors { field code message }
  }
}
"""
REMOVE_MEMBER = """
mutation($team: ID!, $user: ID!) {
  removeTeamMember(input: {teamId: $team, userId: $user}) {
    team { name members { email } } userErrors { field code message }
  }
}
"""
CREATE_OPPORTUNITY = """
mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { code message } }
}
"""
LINK = """
mutation($input: LinkParticipantInput!) {
  linkParticipant(input: $input) { participant { id } userErrors { field code message } }
}
"""
UNLINK = """
mutation($id: ID!) { unlinkParticipant(input: {id: $id}) { userErrors { code message } } }
"""


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


async def call(api: Api, name: str, query: str, variables: dict[str, Any], token: str) -> Any:
    """The mutation's payload, user errors and all."""
    return (await api.ok(query, variables, token))[name]


async def create_user_payload(
    api: Api, token: str, email: str, password: str = "long enough password", role: str = "MEMBER"
) -> dict[str, Any]:
    variables = {"input": {"email": email, "name": "Some One", "password": password, "role": role}}
    return await call(api, "createUser", CREATE_USER, variables, token)  # type: ignore[no-any-return]


async def create_team(api: Api, token: str, name: str) -> str:
    payload = await api.mutate("createTeam", CREATE_TEAM, {"name": name}, token)
    team_id: str = payload["team"]["id"]
    return team_id


async def users_by_email(api: Api, token: str) -> dict[str, dict[str, Any]]:
    return {u["email"]: u for u in (await api.ok(USERS, token=token))["users"]}


async def teams_by_name(api: Api, token: str) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in (await api.ok(TEAMS, token=token))["teams"]}


async def my_id(api: Api, token: str) -> str:
    user_id: str = (await api.ok(ME, token=token))["me"]["id"]
    return user_id


# --- admin-only changes ----------------------------------------------------------------------


async def test_member_cannot_create_users(api: Api, admin_token: str) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    payload = await create_user_payload(api, member, "sock@example.com", role="ADMIN")
    assert codes(payload) == ["FORBIDDEN"] and payload["user"] is None
    assert "sock@example.com" not in await users_by_email(api, admin_token)


async def test_member_cannot_promote_themselves_or_change_others(
    api: Api, admin_token: str
) -> None:
    member_id, member = await api.create_user(admin_token, "mia@example.com")
    other_id, _ = await api.create_user(admin_token, "max@example.com")
    for variables in (
        {"input": {"id": member_id, "role": "ADMIN"}},
        {"input": {"id": other_id, "isActive": False}},
        {"input": {"id": other_id, "name": "Renamed"}},
    ):
        payload = await call(api, "updateUser", UPDATE_USER, variables, member)
        assert codes(payload) == ["FORBIDDEN"], (variables, payload)
    users = await users_by_email(api, admin_token)
    assert users["mia@example.com"]["role"] == "MEMBER"
    assert users["max@example.com"]["isActive"] is True
    assert users["max@example.com"]["name"] == "Max"


async def test_member_cannot_create_rename_or_delete_teams(api: Api, admin_token: str) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    team_id = await create_team(api, admin_token, "Sales")

    created = await call(api, "createTeam", CREATE_TEAM, {"name": "Rogues"}, member)
    renamed = await call(api, "renameTeam", RENAME_TEAM, {"id": team_id, "name": "Mine"}, member)
    deleted = await call(api, "deleteTeam", DELETE_TEAM, {"id": team_id}, member)

    assert codes(created) == codes(renamed) == codes(deleted) == ["FORBIDDEN"]
    assert deleted["deletedId"] is None
    assert list(await teams_by_name(api, admin_token)) == ["Sales"]


async def test_member_cannot_change_team_membership(api: Api, admin_token: str) -> None:
    mia_id, member = await api.create_user(admin_token, "mia@example.com")
    max_id, _ = await api.create_user(admin_token, "max@example.com")
    team_id = await create_team(api, admin_token, "Sales")
    await api.mutate("addTeamMember", ADD_MEMBER, {"team": team_id, "user": max_id}, admin_token)

    added = await call(api, "addTeamMember", ADD_MEMBER, {"team": team_id, "user": mia_id}, member)
    removed = await call(
        api, "removeTeamMember", REMOVE_MEMBER, {"team": team_id, "user": max_id}, member
    )

    assert codes(added) == codes(removed) == ["FORBIDDEN"]
    members = (await teams_by_name(api, admin_token))["Sales"]["members"]
    assert members == [{"email": "max@example.com"}]


# --- creating users --------------------------------------------------------------------------


async def test_admin_creates_a_user_who_can_log_in(api: Api, admin_token: str) -> None:
    payload = await create_user_payload(api, admin_token, "Neo@Example.com")
    assert payload["userErrors"] == []
    assert payload["user"]["email"] == "neo@example.com"
    assert payload["user"]["role"] == "MEMBER"
    token = await api.login("neo@example.com", "long enough password")
    assert (await api.ok(ME, token=token))["me"]["id"] == payload["user"]["id"]


async def test_duplicate_e_mail_is_refused_case_insensitively(api: Api, admin_token: str) -> None:
    await api.create_user(admin_token, "mia@example.com")
    for email in ("mia@example.com", "MIA@Example.COM", "admin@EXAMPLE.com"):
        payload = await create_user_payload(api, admin_token, email)
        assert codes(payload) == ["DUPLICATE"], (email, payload)
        assert payload["userErrors"][0]["field"] == ["email"]
    emails = sorted(await users_by_email(api, admin_token))
    assert emails == ["admin@example.com", "mia@example.com"]


async def test_malformed_e_mail_is_invalid(api: Api, admin_token: str) -> None:
    for email in ("not-an-email", "a@b", "two words@example.com", "@example.com"):
        payload = await create_user_payload(api, admin_token, email)
        assert codes(payload) == ["INVALID"], (email, payload)
        assert payload["userErrors"][0]["field"] == ["email"]
    assert len(await users_by_email(api, admin_token)) == 1


async def test_short_password_is_invalid(api: Api, admin_token: str) -> None:
    payload = await create_user_payload(api, admin_token, "mia@example.com", password="123456789")
    assert codes(payload) == ["INVALID"]
    assert payload["userErrors"][0]["field"] == ["password"]
    assert "mia@example.com" not in await users_by_email(api, admin_token)


async def test_blank_name_is_required(api: Api, admin_token: str) -> None:
    variables = {"input": {"email": "mia@example.com", "name": "   ", "password": "x" * 12}}
    payload = await call(api, "createUser", CREATE_USER, variables, admin_token)
    assert codes(payload) == ["REQUIRED"]


# --- updating users --------------------------------------------------------------------------


async def test_admin_promotes_a_member_who_then_may_manage_teams(
    api: Api, admin_token: str
) -> None:
    member_id, member = await api.create_user(admin_token, "mia@example.com")
    payload = await api.mutate(
        "updateUser", UPDATE_USER, {"input": {"id": member_id, "role": "ADMIN"}}, admin_token
    )
    assert payload["user"]["role"] == "ADMIN"
    # Rights are read per request, so the member's existing token now carries them.
    await create_team(api, member, "Made by Mia")


async def test_deactivated_users_are_listed_only_on_request(api: Api, admin_token: str) -> None:
    member_id, _ = await api.create_user(admin_token, "mia@example.com")
    await api.mutate(
        "updateUser", UPDATE_USER, {"input": {"id": member_id, "isActive": False}}, admin_token
    )
    active = (await api.ok("{ users { email } }", token=admin_token))["users"]
    assert {"email": "mia@example.com"} not in active
    assert (await users_by_email(api, admin_token))["mia@example.com"]["isActive"] is False


async def test_admin_cannot_demote_or_deactivate_themselves(api: Api, admin_token: str) -> None:
    admin_id = await my_id(api, admin_token)
    for change in ({"role": "MEMBER"}, {"isActive": False}):
        payload = await call(
            api, "updateUser", UPDATE_USER, {"input": {"id": admin_id, **change}}, admin_token
        )
        assert codes(payload) == ["INVALID"], (change, payload)
    me = (await users_by_email(api, admin_token))["admin@example.com"]
    assert me["role"] == "ADMIN" and me["isActive"] is True


async def test_admin_may_rename_themselves(api: Api, admin_token: str) -> None:
    admin_id = await my_id(api, admin_token)
    payload = await api.mutate(
        "updateUser", UPDATE_USER, {"input": {"id": admin_id, "name": "Ada L."}}, admin_token
    )
    assert payload["user"]["name"] == "Ada L."


async def test_updating_an_unknown_user_is_not_found(api: Api, admin_token: str) -> None:
    payload = await call(
        api, "updateUser", UPDATE_USER, {"input": {"id": "VXNlcjo5OTk5", "name": "X"}}, admin_token
    )
    assert codes(payload) == ["NOT_FOUND"]


# --- teams -----------------------------------------------------------------------------------


async def test_team_members_and_user_teams_are_listed(api: Api, admin_token: str) -> None:
    mia_id, member = await api.create_user(admin_token, "mia@example.com")
    max_id, _ = await api.create_user(admin_token, "max@example.com")
    sales = await create_team(api, admin_token, "Sales")
    support = await create_team(api, admin_token, "Support")
    for team, user in ((sales, mia_id), (sales, max_id), (support, mia_id)):
        await api.mutate("addTeamMember", ADD_MEMBER, {"team": team, "user": user}, admin_token)

    teams = await teams_by_name(api, member)  # members may read teams
    assert sorted(m["email"] for m in teams["Sales"]["members"]) == [
        "max@example.com",
        "mia@example.com",
    ]
    assert teams["Support"]["members"] == [{"email": "mia@example.com"}]
    mia = (await api.ok(USER_TEAMS, {"id": mia_id}, member))["node"]
    assert sorted(t["name"] for t in mia["teams"]) == ["Sales", "Support"]


async def test_adding_a_member_twice_keeps_one_membership(api: Api, admin_token: str) -> None:
    mia_id, _ = await api.create_user(admin_token, "mia@example.com")
    team = await create_team(api, admin_token, "Sales")
    for _ in range(2):
        payload = await api.mutate(
            "addTeamMember", ADD_MEMBER, {"team": team, "user": mia_id}, admin_token
        )
    assert payload["team"]["members"] == [{"email": "mia@example.com"}]


async def test_removed_member_leaves_the_team(api: Api, admin_token: str) -> None:
    mia_id, _ = await api.create_user(admin_token, "mia@example.com")
    team = await create_team(api, admin_token, "Sales")
    await api.mutate("addTeamMember", ADD_MEMBER, {"team": team, "user": mia_id}, admin_token)
    payload = await api.mutate(
        "removeTeamMember", REMOVE_MEMBER, {"team": team, "user": mia_id}, admin_token
    )
    assert payload["team"]["members"] == []
    mia = (await api.ok(USER_TEAMS, {"id": mia_id}, admin_token))["node"]
    assert mia["teams"] == []


async def test_adding_an_unknown_user_to_a_team_is_not_found(api: Api, admin_token: str) -> None:
    team = await create_team(api, admin_token, "Sales")
    payload = await call(
        api, "addTeamMember", ADD_MEMBER, {"team": team, "user": "VXNlcjo5OTk5"}, admin_token
    )
    assert codes(payload) == ["NOT_FOUND"]
    assert (await teams_by_name(api, admin_token))["Sales"]["members"] == []


async def test_team_names_are_unique_case_insensitively(api: Api, admin_token: str) -> None:
    await create_team(api, admin_token, "Sales")
    other = await create_team(api, admin_token, "Support")
    created = await call(api, "createTeam", CREATE_TEAM, {"name": "SALES"}, admin_token)
    renamed = await call(
        api, "renameTeam", RENAME_TEAM, {"id": other, "name": "sales"}, admin_token
    )
    assert codes(created) == codes(renamed) == ["DUPLICATE"]
    assert sorted(await teams_by_name(api, admin_token)) == ["Sales", "Support"]


async def test_admin_renames_and_deletes_a_team(api: Api, admin_token: str) -> None:
    team = await create_team(api, admin_token, "Sales")
    renamed = await api.mutate(
        "renameTeam", RENAME_TEAM, {"id": team, "name": "Field Sales"}, admin_token
    )
    assert renamed["team"] == {"id": team, "name": "Field Sales"}
    deleted = await api.mutate("deleteTeam", DELETE_TEAM, {"id": team}, admin_token)
    assert deleted["deletedId"] == team
    assert await teams_by_name(api, admin_token) == {}


async def test_team_linked_to_an_opportunity_cannot_be_deleted(api: Api, admin_token: str) -> None:
    team = await create_team(api, admin_token, "Sales")
    opportunity = (
        await api.mutate(
            "createOpportunity",
            CREATE_OPPORTUNITY,
            {"input": {"name": "Deal", "expectedValue": {"amount": "100", "currency": "EUR"}}},
            admin_token,
        )
    )["opportunity"]
    link = await api.mutate(
        "linkParticipant",
        LINK,
        {"input": {"opportunityId": opportunity["id"], "participantId": team, "role": "SALES_REP"}},
        admin_token,
    )

    refused = await call(api, "deleteTeam", DELETE_TEAM, {"id": team}, admin_token)
    assert codes(refused) == ["IN_USE"] and refused["deletedId"] is None
    assert "Sales" in await teams_by_name(api, admin_token)

    await api.mutate("unlinkParticipant", UNLINK, {"id": link["participant"]["id"]}, admin_token)
    deleted = await api.mutate("deleteTeam", DELETE_TEAM, {"id": team}, admin_token)
    assert deleted["deletedId"] == team
