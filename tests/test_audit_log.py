"""The audit log (issue 14 point 6): what admins manage is recorded with actor, time and
before/after, in the change's own transaction, and only admins may read it.

Every change here goes through the public API (or the `tandem` command); the log is read
back with `auditLog` as a client would.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.client import Api
from tests.conftest import ADMIN_EMAIL, RunningServer
from tests.processes import TANDEM, tandem_env

AUDIT_LOG = """
query($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor }
    nodes { id at via action subjectType subjectId before after actor { id email } }
  }
}
"""
ME = "{ me { id } }"
CREATE_USER = """mutation($i: CreateUserInput!) { createUser(input: $i) {
  user { id } userErrors { field code message } } }"""
UPDATE_USER = """mutation($i: UpdateUserInput!) { updateUser(input: $i) {
  user { id } userErrors { field code message } } }"""
CHANGE_PASSWORD = """mutation($i: ChangePasswordInput!) { changePassword(input: $i) {
  userErrors { field code message } } }"""
CREATE_TEAM = """mutation($i: CreateTeamInput!) { createTeam(input: $i) {
  team { id } userErrors { field code message } } }"""
RENAME_TEAM = """mutation($i: RenameTeamInput!) { renameTeam(input: $i) {
  team { id } userErrors { field code message } } }"""
DELETE_TEAM = """mutation($i: DeleteInput!) { deleteTeam(input: $i) {
  deletedId userErrors { field code message } } }"""
ADD_MEMBER = """mutation($i: TeamMemberInput!) { addTeamMember(input: $i) {
  team { id } userErrors { field code message } } }"""
REMOVE_MEMBER = """mutation($i: TeamMemberInput!) { removeTeamMember(input: $i) {
  team { id } userErrors { field code message } } }"""
CREATE_STAGE = """mutation($i: CreateStageInput!) { createStage(input: $i) {
  stage { id } userErrors { field code message } } }"""
UPDATE_STAGE = """mutation($i: UpdateStageInput!) { updateStage(input: $i) {
  stage { id } userErrors { field code message } } }"""
DELETE_STAGE = """mutation($i: DeleteStageInput!) { deleteStage(input: $i) {
  deletedId userErrors { field code message } } }"""
CREATE_PRODUCT = """mutation($i: CreateProductInput!) { createProduct(input: $i) {
  product { id version } userErrors { field code message } } }"""
UPDATE_PRODUCT = """mutation($i: UpdateProductInput!) { updateProduct(input: $i) {
  product { id version } userErrors { field code message } } }"""
CREATE_VIEW = """mutation($i: CreateViewInput!) { createView(input: $i) {
  view { id version } userErrors { field code message } } }"""
UPDATE_VIEW = """mutation($i: UpdateViewInput!) { updateView(input: $i) {
  view { id version } userErrors { field code message } } }"""
DELETE_VIEW = """mutation($i: DeleteViewInput!) { deleteView(input: $i) {
  deletedId userErrors { field code message } } }"""
CREATE_OPPORTUNITY = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id } userErrors { code message } } }"""
LINK = """mutation($i: LinkParticipantInput!) { linkParticipant(input: $i) {
  participant { id } userErrors { code message } } }"""

PASSWORD = "correct horse battery"
DEFAULT_COLUMNS = ["number", "name", "stage", "owner", "expectedValue", "estimatedCloseDate"]


async def log(
    api: Api, token: str, first: int | None = None, after: str | None = None, **filter: Any
) -> dict[str, Any]:
    variables = {"filter": filter or None, "first": first, "after": after}
    connection: dict[str, Any] = (await api.ok(AUDIT_LOG, variables, token))["auditLog"]
    return connection


async def entries(api: Api, token: str, **filter: Any) -> list[dict[str, Any]]:
    """Every entry that matches, newest first."""
    nodes: list[dict[str, Any]] = (await log(api, token, first=100, **filter))["nodes"]
    return nodes


def changes(found: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    return [(e["action"], e["before"], e["after"]) for e in found]


async def my_id(api: Api, token: str) -> str:
    user_id: str = (await api.ok(ME, token=token))["me"]["id"]
    return user_id


async def change(api: Api, field: str, query: str, token: str, /, **input: Any) -> dict[str, Any]:
    """The payload of the mutation `field` given `input`, user errors and all."""
    payload: dict[str, Any] = (await api.ok(query, {"i": input}, token))[field]
    return payload


async def made(api: Api, field: str, query: str, token: str, /, **input: Any) -> dict[str, Any]:
    """The payload of a mutation that must succeed."""
    payload = await change(api, field, query, token, **input)
    assert payload["userErrors"] == [], payload
    return payload


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


# --- what is recorded --------------------------------------------------------------------------


async def test_user_changes_are_recorded_with_actor_time_and_before_after(
    api: Api, admin_token: str
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    admin = await my_id(api, admin_token)
    created = await made(
        api,
        "createUser",
        CREATE_USER,
        admin_token,
        email="Nora@Example.com",
        name="Nora",
        password=PASSWORD,
        role="MEMBER",
        mustChangePassword=True,
    )
    nora = created["user"]["id"]
    await made(api, "updateUser", UPDATE_USER, admin_token, id=nora, name="Nora N", role="ADMIN")
    await made(api, "updateUser", UPDATE_USER, admin_token, id=nora, isActive=False)
    # Nothing changes: nothing to record.
    await made(api, "updateUser", UPDATE_USER, admin_token, id=nora, name="Nora N")

    found = await entries(api, admin_token, subjectId=nora)
    assert changes(found) == [
        ("user.update", {"isActive": True}, {"isActive": False}),
        ("user.update", {"name": "Nora", "role": "MEMBER"}, {"name": "Nora N", "role": "ADMIN"}),
        (
            "user.create",
            None,
            {
                "email": "nora@example.com",
                "name": "Nora",
                "role": "MEMBER",
                "isActive": True,
                "mustChangePassword": True,
            },
        ),
    ]
    for entry in found:
        assert entry["actor"] == {"id": admin, "email": ADMIN_EMAIL}
        assert entry["via"] == "API"
        assert (entry["subjectType"], entry["subjectId"]) == ("User", nora)
        assert started <= datetime.fromisoformat(entry["at"]) <= datetime.now(UTC)
    assert [e["at"] for e in found] == sorted((e["at"] for e in found), reverse=True)


async def test_a_password_change_is_recorded_as_its_action_alone(
    api: Api, admin_token: str
) -> None:
    user, token = await api.create_user(admin_token, "pat@example.com")
    new_password = "a brand new secret phrase"
    await made(
        api,
        "changePassword",
        CHANGE_PASSWORD,
        token,
        currentPassword=PASSWORD,
        newPassword=new_password,
    )
    found = await entries(api, admin_token, subjectId=user, actions=["user.password_change"])
    assert changes(found) == [("user.password_change", None, None)]
    assert found[0]["actor"]["id"] == user


async def test_team_changes_are_recorded(api: Api, admin_token: str) -> None:
    member, _ = await api.create_user(admin_token, "mo@example.com")
    team = (await made(api, "createTeam", CREATE_TEAM, admin_token, name="Hunters"))["team"]["id"]
    await made(api, "renameTeam", RENAME_TEAM, admin_token, id=team, name="Farmers")
    await made(api, "addTeamMember", ADD_MEMBER, admin_token, teamId=team, userId=member)
    await made(api, "addTeamMember", ADD_MEMBER, admin_token, teamId=team, userId=member)
    await made(api, "removeTeamMember", REMOVE_MEMBER, admin_token, teamId=team, userId=member)
    await made(api, "removeTeamMember", REMOVE_MEMBER, admin_token, teamId=team, userId=member)
    await made(api, "addTeamMember", ADD_MEMBER, admin_token, teamId=team, userId=member)
    await made(api, "deleteTeam", DELETE_TEAM, admin_token, id=team)

    # Adding a member twice or removing one who is not there changes nothing: no entry.
    assert changes(await entries(api, admin_token, subjectId=team)) == [
        ("team.delete", {"name": "Farmers", "memberIds": [member]}, None),
        ("team.member_add", None, {"userId": member}),
        ("team.member_remove", {"userId": member}, None),
        ("team.member_add", None, {"userId": member}),
        ("team.rename", {"name": "Hunters"}, {"name": "Farmers"}),
        ("team.create", None, {"name": "Hunters"}),
    ]


async def test_stage_changes_are_recorded(api: Api, admin_token: str) -> None:
    stage = (
        await made(
            api,
            "createStage",
            CREATE_STAGE,
            admin_token,
            name="Pilot",
            defaultProbability=40,
            position=50,
        )
    )["stage"]["id"]
    await made(
        api, "updateStage", UPDATE_STAGE, admin_token, id=stage, defaultProbability=45, name="Trial"
    )
    await made(api, "deleteStage", DELETE_STAGE, admin_token, id=stage)

    trial = {
        "name": "Trial",
        "kind": "OPEN",
        "position": 50,
        "defaultProbability": 45,
        "forecastCategory": "PIPELINE",
    }
    assert changes(await entries(api, admin_token, subjectId=stage)) == [
        ("stage.delete", trial, None),
        (
            "stage.update",
            {"name": "Pilot", "defaultProbability": 40},
            {"name": "Trial", "defaultProbability": 45},
        ),
        ("stage.create", None, {**trial, "name": "Pilot", "defaultProbability": 40}),
    ]


async def test_product_changes_are_recorded(api: Api, admin_token: str) -> None:
    product = (
        await made(
            api,
            "createProduct",
            CREATE_PRODUCT,
            admin_token,
            sku="W-1",
            name="Widget",
            unitPrice={"amount": "10.50", "currency": "EUR"},
            defaultTaxRate="19",
        )
    )["product"]
    await made(
        api,
        "updateProduct",
        UPDATE_PRODUCT,
        admin_token,
        id=product["id"],
        unitPrice={"amount": "12", "currency": "EUR"},
        isActive=False,
    )
    # The same values again: no change, no entry.
    await made(api, "updateProduct", UPDATE_PRODUCT, admin_token, id=product["id"], name="Widget")

    assert changes(await entries(api, admin_token, subjectId=product["id"])) == [
        (
            "product.update",
            {"unitPrice": "10.5000", "isActive": True},
            {"unitPrice": "12.0000", "isActive": False},
        ),
        (
            "product.create",
            None,
            {
                "sku": "W-1",
                "name": "Widget",
                "description": None,
                "unitPrice": "10.5000",
                "currency": "EUR",
                "defaultTaxRate": "19.0000",
                "isActive": True,
            },
        ),
    ]


async def test_sharing_a_view_with_everyone_is_recorded_private_and_team_views_are_not(
    api: Api, admin_token: str
) -> None:
    member, token = await api.create_user(admin_token, "vi@example.com")
    team = (await made(api, "createTeam", CREATE_TEAM, admin_token, name="Viewers"))["team"]["id"]
    await made(api, "addTeamMember", ADD_MEMBER, admin_token, teamId=team, userId=member)
    view = (await made(api, "createView", CREATE_VIEW, token, name="Mine"))["view"]
    view = (
        await made(
            api,
            "updateView",
            UPDATE_VIEW,
            token,
            id=view["id"],
            expectedVersion=view["version"],
            visibility="TEAM",
            teamId=team,
        )
    )["view"]
    assert await entries(api, admin_token, subjectId=view["id"]) == []

    view = (
        await made(
            api,
            "updateView",
            UPDATE_VIEW,
            token,
            id=view["id"],
            expectedVersion=view["version"],
            visibility="EVERYONE",
        )
    )["view"]
    view = (
        await made(
            api,
            "updateView",
            UPDATE_VIEW,
            admin_token,
            id=view["id"],
            expectedVersion=view["version"],
            name="Ours",
            columns=["name", "stage"],
        )
    )["view"]
    await made(
        api,
        "updateView",
        UPDATE_VIEW,
        token,
        id=view["id"],
        expectedVersion=view["version"],
        visibility="PRIVATE",
    )
    found = await entries(api, admin_token, subjectId=view["id"])
    assert changes(found) == [
        ("view.unshare", {"visibility": "EVERYONE"}, {"visibility": "PRIVATE"}),
        (
            "view.update",
            {"name": "Mine", "columns": DEFAULT_COLUMNS},
            {"name": "Ours", "columns": ["name", "stage"]},
        ),
        (
            "view.share",
            {"visibility": "TEAM", "teamId": team},
            {"visibility": "EVERYONE", "teamId": None},
        ),
    ]
    admin = await my_id(api, admin_token)
    assert [e["actor"]["id"] for e in found] == [member, admin, member]

    shared = (
        await made(api, "createView", CREATE_VIEW, token, name="For all", visibility="EVERYONE")
    )["view"]
    await made(api, "deleteView", DELETE_VIEW, token, id=shared["id"])
    found = await entries(api, admin_token, subjectId=shared["id"])
    assert [(e["action"], e["before"] is None, e["after"] is None) for e in found] == [
        ("view.delete", False, True),
        ("view.share", True, False),
    ]
    assert found[0]["before"] == found[1]["after"]
    assert found[1]["after"] == {
        "name": "For all",
        "ownerId": member,
        "visibility": "EVERYONE",
        "teamId": None,
        "kind": "TABLE",
        "filter": {},
        "sort": [],
        "groupBy": None,
        "columns": DEFAULT_COLUMNS,
    }


# --- what is not -------------------------------------------------------------------------------


async def test_refused_changes_record_nothing(api: Api, admin_token: str) -> None:
    member, token = await api.create_user(admin_token, "no@example.com")
    team = (await made(api, "createTeam", CREATE_TEAM, admin_token, name="Kept"))["team"]["id"]
    stages = (await api.ok("{ stages { id } }", token=admin_token))["stages"]
    before = await log(api, admin_token)

    user_input = {"email": "x@example.com", "name": "X", "password": PASSWORD, "role": "MEMBER"}
    forbidden = [
        await change(api, "createUser", CREATE_USER, token, **user_input),
        await change(api, "updateUser", UPDATE_USER, token, id=member, role="ADMIN"),
        await change(api, "createTeam", CREATE_TEAM, token, name="Mine"),
        await change(api, "renameTeam", RENAME_TEAM, token, id=team, name="Taken"),
        await change(api, "addTeamMember", ADD_MEMBER, token, teamId=team, userId=member),
        await change(api, "deleteTeam", DELETE_TEAM, token, id=team),
        await change(api, "updateStage", UPDATE_STAGE, token, id=stages[0]["id"], name="Mine"),
        await change(
            api,
            "createProduct",
            CREATE_PRODUCT,
            token,
            sku="P",
            name="P",
            unitPrice={"amount": "1", "currency": "EUR"},
        ),
    ]
    assert [codes(p) for p in forbidden] == [["FORBIDDEN"]] * len(forbidden)

    opportunity = (
        await made(
            api,
            "createOpportunity",
            CREATE_OPPORTUNITY,
            admin_token,
            name="Linked",
            expectedValue={"amount": "100", "currency": "EUR"},
            stageId=stages[0]["id"],
        )
    )["opportunity"]["id"]
    await made(
        api,
        "linkParticipant",
        LINK,
        admin_token,
        opportunityId=opportunity,
        participantId=team,
        role="OTHER",
    )
    link_count = (await log(api, admin_token))["totalCount"]
    assert link_count == before["totalCount"]  # deals and their links are not admin matters
    short_password = {**user_input, "password": "short"}
    taken_email = {**user_input, "email": "NO@example.com"}
    invalid = [
        await change(api, "createUser", CREATE_USER, admin_token, **short_password),
        await change(api, "createUser", CREATE_USER, admin_token, **taken_email),
        await change(api, "createTeam", CREATE_TEAM, admin_token, name="  "),
        await change(api, "deleteTeam", DELETE_TEAM, admin_token, id=team),
        await change(
            api, "updateStage", UPDATE_STAGE, admin_token, id=stages[0]["id"], position=-1
        ),
        await change(api, "deleteStage", DELETE_STAGE, admin_token, id=stages[0]["id"]),
        await change(api, "createView", CREATE_VIEW, token, name="", visibility="EVERYONE"),
    ]
    assert [codes(p) for p in invalid] == [
        ["INVALID"],
        ["DUPLICATE"],
        ["REQUIRED"],
        ["IN_USE"],
        ["OUT_OF_RANGE"],
        ["IN_USE"],
        ["REQUIRED"],
    ]
    assert await log(api, admin_token) == before


async def test_only_admins_read_the_log(api: Api, admin_token: str) -> None:
    _, token = await api.create_user(admin_token, "peek@example.com")
    body = await api.gql(AUDIT_LOG, {}, token)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    anonymous = await api.gql(AUDIT_LOG, {})
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]


async def test_no_password_hash_or_token_appears_in_the_log(
    server: RunningServer, api: Api, admin_token: str
) -> None:
    user, token = await api.create_user(admin_token, "sec@example.com")
    new_password = "another long passphrase"
    await made(
        api,
        "changePassword",
        CHANGE_PASSWORD,
        token,
        currentPassword=PASSWORD,
        newPassword=new_password,
    )
    await made(api, "updateUser", UPDATE_USER, admin_token, id=user, isActive=False)
    answer = await api.post({"query": AUDIT_LOG, "variables": {"first": 100}}, admin_token)
    text = answer.text
    assert "sec@example.com" in text  # the user's entries are there
    for secret in (PASSWORD, new_password, token, admin_token, "$argon2"):
        assert secret not in text
    nodes = answer.json()["data"]["auditLog"]["nodes"]
    keys = {key for e in nodes for values in (e["before"], e["after"]) for key in values or {}}
    assert {key for key in keys if "password" in key.lower()} == {"mustChangePassword"}


# --- reading -----------------------------------------------------------------------------------


async def test_filters_narrow_the_log(api: Api, admin_token: str) -> None:
    started = datetime.now(UTC)  # after the test's admin was made (the same clock as the server)
    ann, ann_token = await api.create_user(admin_token, "ann@example.com", role="ADMIN")
    team = (await made(api, "createTeam", CREATE_TEAM, ann_token, name="Ann's"))["team"]["id"]
    await made(api, "renameTeam", RENAME_TEAM, admin_token, id=team, name="Anna's")
    await made(api, "updateUser", UPDATE_USER, ann_token, id=ann, name="Anna")

    def seen(found: list[dict[str, Any]]) -> list[str]:
        return [e["action"] for e in found]

    assert seen(await entries(api, admin_token, actorId=ann)) == ["user.update", "team.create"]
    assert seen(await entries(api, admin_token, actions=["team.create", "team.rename"])) == [
        "team.rename",
        "team.create",
    ]
    assert seen(await entries(api, admin_token, subjectType="Team")) == [
        "team.rename",
        "team.create",
    ]
    assert seen(await entries(api, admin_token, subjectType="User", subjectId=ann)) == [
        "user.update",
        "user.create",
    ]
    # The test's admin was made as the command line makes one; everything since came by API.
    assert seen(await entries(api, admin_token, via="CLI")) == ["user.create"]
    made_here = ["user.create", "user.update", "team.create", "team.rename"]
    assert seen(await entries(api, admin_token, via="API", actions=made_here)) == [
        "user.update",
        "team.rename",
        "team.create",
        "user.create",
    ]
    since = await entries(api, admin_token, at={"from": started.isoformat()}, actions=made_here)
    assert seen(since) == ["user.update", "team.rename", "team.create", "user.create"]
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert await entries(api, admin_token, at={"from": later}) == []
    assert seen(await entries(api, admin_token, at={"period": "TODAY"}, subjectId=team)) == [
        "team.rename",
        "team.create",
    ]
    assert await entries(api, admin_token, actions=["user.create"], actorId=ann) == []

    async def refused(**filter: Any) -> tuple[str, str, list[str]]:
        body = await api.gql(AUDIT_LOG, {"filter": filter}, admin_token)
        extensions = body["errors"][0]["extensions"]
        return extensions["code"], extensions["reason"], extensions["field"]

    assert await refused(subjectType="Team", subjectId=ann) == (
        "BAD_USER_INPUT",
        "INVALID",
        ["subjectId"],
    )
    assert await refused(at={"from": "2026-01-02T00:00:00"}) == (
        "BAD_USER_INPUT",
        "INVALID",
        ["at"],
    )
    assert await refused(at={"from": later, "to": started.isoformat()}) == (
        "BAD_USER_INPUT",
        "INVALID",
        ["at"],
    )
    assert await refused(actorId=team) == ("BAD_USER_INPUT", "INVALID_ID", ["actorId"])
    assert await refused(actions=["user.\x00"]) == ("BAD_USER_INPUT", "INVALID", ["actions"])


async def test_pages_follow_each_other_newest_first(api: Api, admin_token: str) -> None:
    for name in ("One", "Two", "Three", "Four", "Five"):
        await made(api, "createTeam", CREATE_TEAM, admin_token, name=name)
    whole = await log(api, admin_token)
    assert whole["pageInfo"]["hasNextPage"] is False
    teams = await log(api, admin_token, subjectType="Team")
    assert teams["totalCount"] == 5

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = await log(api, admin_token, first=2, after=after, subjectType="Team")
        assert page["totalCount"] == 5
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [e["id"] for e in page["nodes"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert pages == 3
    assert seen == [e["id"] for e in teams["nodes"]]
    assert [e["id"] for e in whole["nodes"] if e["subjectType"] == "Team"] == seen
    assert [e["after"]["name"] for e in teams["nodes"]] == [
        "Five",
        "Four",
        "Three",
        "Two",
        "One",
    ]

    bad = await api.gql(AUDIT_LOG, {"after": "not a cursor"}, admin_token)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    too_many = await api.gql(AUDIT_LOG, {"first": 101}, admin_token)
    assert too_many["errors"][0]["extensions"]["reason"] == "OUT_OF_RANGE"


async def test_the_log_is_priced_like_other_pages(api: Api, admin_token: str) -> None:
    sized = await api.post({"query": AUDIT_LOG, "variables": {"first": 20}}, admin_token)
    assert sized.json()["extensions"]["cost"]["requested"] == 1 + 20
    default = await api.post({"query": "{ auditLog { nodes { id } } }"}, admin_token)
    assert default.json()["extensions"]["cost"]["requested"] == 1 + 50


async def test_the_command_line_acts_without_an_actor(
    server: RunningServer, api: Api, admin_token: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        TANDEM,
        "create-user",
        "--email",
        "cli@example.com",
        "--name",
        "Cleo Cli",
        "--password",
        PASSWORD,
        "--role",
        "ADMIN",
        env=tandem_env(server.settings, server.database_url, TANDEM_PASSWORD_HASHING="fast"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()

    found = await entries(api, admin_token, via="CLI", actions=["user.create"])
    assert [(e["actor"], e["after"]["email"], e["after"]["role"]) for e in found] == [
        (None, "cli@example.com", "ADMIN"),
        (None, ADMIN_EMAIL, "ADMIN"),
    ]
