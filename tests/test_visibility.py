"""Visibility (issue 2 point 4): a PRIVATE opportunity is seen only by its owner, the users
linked to it, the members of the teams linked to it, and admins.

To anybody else it looks exactly like a missing one: null by ID, absent from lists, counts and
folder counts, NOT_FOUND with the very same error from every mutation, and no way to its
history or participants. Rights follow links and team membership as they change.
"""

from __future__ import annotations

import base64
from typing import Any

from tests.client import Api, without_cost

MISSING_OPPORTUNITY = base64.b64encode(b"Opportunity:999999").decode()
MISSING_PARTICIPANT = base64.b64encode(b"Participant:999999").decode()

CREATE = """
mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id number version } userErrors { code message } }
}
"""
OPPORTUNITY = """
query($id: ID!) {
  opportunity(id: $id) { id name }
  node(id: $id) { id }
  nodes(ids: [$id]) { id }
}
"""
STATE = """
query($id: ID!) { opportunity(id: $id) { name version status isDeleted participants { id } } }
"""
HISTORY = """
query($id: ID!) { opportunity(id: $id) { history { totalCount nodes { kind } } } }
"""
LIST = """
query($filter: OpportunityFilterInput) {
  opportunities(filter: $filter) { totalCount nodes { id } }
}
"""
FOLDER_COUNT = """
query($id: ID!) {
  node(id: $id) {
    ... on Folder { opportunityCount all: opportunityCount(includeSubfolders: true) }
  }
}
"""
CREATE_FOLDER = """
mutation($name: String!, $parentId: ID) {
  createFolder(input: {name: $name, parentId: $parentId}) { folder { id } userErrors { code } }
}
"""
UPDATE = """
mutation($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { id version } userErrors { field code message } }
}
"""
DELETE = """
mutation($input: DeleteOpportunityInput!) {
  deleteOpportunity(input: $input) { opportunity { id } userErrors { field code message } }
}
"""
MOVE = """
mutation($input: MoveOpportunityInput!) {
  moveOpportunity(input: $input) { opportunity { id } userErrors { field code message } }
}
"""
MARK_WON = """
mutation($input: MarkOpportunityWonInput!) {
  markOpportunityWon(input: $input) { opportunity { id } userErrors { field code message } }
}
"""
MARK_LOST = """
mutation($input: MarkOpportunityLostInput!) {
  markOpportunityLost(input: $input) { opportunity { id } userErrors { field code message } }
}
"""
LINK = """
mutation($input: LinkParticipantInput!) {
  linkParticipant(input: $input) {
    participant { id } opportunity { id version } userErrors { field code message }
  }
}
"""
UNLINK = """
mutation($input: UnlinkParticipantInput!) {
  unlinkParticipant(input: $input) { opportunity { id } userErrors { field code message } }
}
"""
CREATE_TEAM = """
mutation($name: String!) { createTeam(input: {name: $name}) { team { id } userErrors { code } } }
"""
TEAM_MEMBER = """
mutation($team: ID!, $user: ID!) {
  addTeamMember(input: {teamId: $team, userId: $user}) { team { id } userErrors { code } }
}
"""
REMOVE_TEAM_MEMBER = """
mutation($team: ID!, $user: ID!) {
  removeTeamMember(input: {teamId: $team, userId: $user}) { team { id } userErrors { code } }
}
"""


async def create(api: Api, token: str, name: str, **fields: Any) -> dict[str, Any]:
    variables = {
        "input": {
            "name": name,
            "expectedValue": {"amount": "5000", "currency": "EUR"},
            "visibility": "PRIVATE",
            **fields,
        }
    }
    opportunity: dict[str, Any] = (await api.mutate("createOpportunity", CREATE, variables, token))[
        "opportunity"
    ]
    return opportunity


async def sees(api: Api, token: str, opportunity_id: str) -> bool:
    """Whether every read path agrees that `token`'s user sees the opportunity."""
    data = await api.ok(OPPORTUNITY, {"id": opportunity_id}, token)
    listed = (await api.ok(LIST, {}, token))["opportunities"]
    views = {
        "opportunity": data["opportunity"] is not None,
        "node": data["node"] is not None,
        "nodes": data["nodes"] != [None],
        "list": opportunity_id in [n["id"] for n in listed["nodes"]],
    }
    assert len(set(views.values())) == 1, f"read paths disagree: {views}"
    return views["opportunity"] is True


async def link(api: Api, token: str, opportunity_id: str, target: str) -> dict[str, Any]:
    variables = {
        "input": {"opportunityId": opportunity_id, "participantId": target, "role": "SALES_REP"}
    }
    payload: dict[str, Any] = await api.mutate("linkParticipant", LINK, variables, token)
    return payload


async def team_with(api: Api, admin_token: str, user_id: str) -> str:
    team_id: str = (
        await api.mutate("createTeam", CREATE_TEAM, {"name": "Deal desk"}, admin_token)
    )["team"]["id"]
    await api.mutate("addTeamMember", TEAM_MEMBER, {"team": team_id, "user": user_id}, admin_token)
    return team_id


async def errors_of(api: Api, name: str, query: str, input_: dict[str, Any], token: str) -> Any:
    payload = (await api.ok(query, {"input": input_}, token))[name]
    assert payload.get("opportunity") is None, payload  # nothing about it leaks back
    return payload["userErrors"]


# --- who sees it -----------------------------------------------------------------------------


async def test_private_opportunity_is_seen_by_its_owner_and_admins_only(
    api: Api, admin_token: str
) -> None:
    _, owner = await api.create_user(admin_token, "olga@example.com")
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    secret = await create(api, owner, "Secret deal")
    assert await sees(api, owner, secret["id"])
    assert await sees(api, admin_token, secret["id"])
    assert not await sees(api, outsider, secret["id"])


async def test_public_opportunity_is_seen_by_everyone(api: Api, admin_token: str) -> None:
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    public = await create(api, admin_token, "Open deal", visibility="PUBLIC")
    assert await sees(api, outsider, public["id"])


async def test_linked_user_sees_it_until_unlinked(api: Api, admin_token: str) -> None:
    lynn_id, lynn = await api.create_user(admin_token, "lynn@example.com")
    secret = await create(api, admin_token, "Secret deal")
    assert not await sees(api, lynn, secret["id"])

    linked = await link(api, admin_token, secret["id"], lynn_id)
    assert await sees(api, lynn, secret["id"])

    await api.mutate(
        "unlinkParticipant", UNLINK, {"input": {"id": linked["participant"]["id"]}}, admin_token
    )
    assert not await sees(api, lynn, secret["id"])


async def test_members_of_a_linked_team_see_it_and_joining_the_team_reveals_it(
    api: Api, admin_token: str
) -> None:
    tim_id, tim = await api.create_user(admin_token, "tim@example.com")
    otto_id, otto = await api.create_user(admin_token, "otto@example.com")
    team_id = await team_with(api, admin_token, tim_id)
    secret = await create(api, admin_token, "Secret deal")
    await link(api, admin_token, secret["id"], team_id)

    assert await sees(api, tim, secret["id"])
    assert not await sees(api, otto, secret["id"])

    await api.mutate("addTeamMember", TEAM_MEMBER, {"team": team_id, "user": otto_id}, admin_token)
    assert await sees(api, otto, secret["id"])

    await api.mutate(
        "removeTeamMember", REMOVE_TEAM_MEMBER, {"team": team_id, "user": otto_id}, admin_token
    )
    assert not await sees(api, otto, secret["id"])


async def test_making_it_public_reveals_it_and_private_again_hides_it(
    api: Api, admin_token: str
) -> None:
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    secret = await create(api, admin_token, "Secret deal")
    public = await api.mutate(
        "updateOpportunity",
        UPDATE,
        {
            "input": {
                "id": secret["id"],
                "expectedVersion": secret["version"],
                "visibility": "PUBLIC",
            }
        },
        admin_token,
    )
    assert await sees(api, outsider, secret["id"])
    await api.mutate(
        "updateOpportunity",
        UPDATE,
        {
            "input": {
                "id": secret["id"],
                "expectedVersion": public["opportunity"]["version"],
                "visibility": "PRIVATE",
            }
        },
        admin_token,
    )
    assert not await sees(api, outsider, secret["id"])


async def test_handing_it_to_a_new_owner_reveals_it_to_them(api: Api, admin_token: str) -> None:
    olga_id, olga = await api.create_user(admin_token, "olga@example.com")
    secret = await create(api, admin_token, "Secret deal")
    await api.mutate(
        "updateOpportunity",
        UPDATE,
        {"input": {"id": secret["id"], "expectedVersion": secret["version"], "ownerId": olga_id}},
        admin_token,
    )
    assert await sees(api, olga, secret["id"])


# --- to an outsider it looks exactly like a missing one -------------------------------------


async def test_hidden_and_missing_ids_read_the_same(api: Api, admin_token: str) -> None:
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    secret = await create(api, admin_token, "Secret deal")
    hidden = await api.gql(OPPORTUNITY, {"id": secret["id"]}, outsider)
    missing = await api.gql(OPPORTUNITY, {"id": MISSING_OPPORTUNITY}, outsider)
    assert (
        without_cost(hidden)
        == without_cost(missing)
        == {"data": {"opportunity": None, "node": None, "nodes": [None]}}
    )


async def test_hidden_opportunity_is_left_out_of_lists_and_total_counts(
    api: Api, admin_token: str
) -> None:
    olga_id, _ = await api.create_user(admin_token, "olga@example.com")
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    secret = await create(api, admin_token, "Secret deal", ownerId=olga_id)
    public = await create(api, admin_token, "Open deal", visibility="PUBLIC", ownerId=olga_id)

    for filter_ in (
        None,
        {"search": secret["number"]},
        {"search": "deal"},
        {"visibility": "PRIVATE"},
        {"ownerIds": [olga_id]},
        {"status": ["OPEN"]},
    ):
        listed = (await api.ok(LIST, {"filter": filter_}, outsider))["opportunities"]
        ids = [n["id"] for n in listed["nodes"]]
        assert secret["id"] not in ids, filter_
        assert listed["totalCount"] == len(ids), filter_
    everything = (await api.ok(LIST, {}, outsider))["opportunities"]
    assert (everything["totalCount"], everything["nodes"]) == (1, [{"id": public["id"]}])
    assert (await api.ok(LIST, {}, admin_token))["opportunities"]["totalCount"] == 2


async def test_hidden_opportunity_is_not_counted_in_folder_counts(
    api: Api, admin_token: str
) -> None:
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    parent = (await api.mutate("createFolder", CREATE_FOLDER, {"name": "Sales"}, admin_token))[
        "folder"
    ]["id"]
    child = (
        await api.mutate(
            "createFolder", CREATE_FOLDER, {"name": "Secret", "parentId": parent}, admin_token
        )
    )["folder"]["id"]
    await create(api, admin_token, "Secret deal", folderId=child)
    await create(api, admin_token, "Open deal", folderId=child, visibility="PUBLIC")

    as_outsider = (await api.ok(FOLDER_COUNT, {"id": child}, outsider))["node"]
    as_admin = (await api.ok(FOLDER_COUNT, {"id": child}, admin_token))["node"]
    assert as_outsider == {"opportunityCount": 1, "all": 1}
    assert as_admin == {"opportunityCount": 2, "all": 2}
    parent_count = (await api.ok(FOLDER_COUNT, {"id": parent}, outsider))["node"]
    assert parent_count == {"opportunityCount": 0, "all": 1}
    listed = await api.ok(
        LIST, {"filter": {"folderId": parent, "includeSubfolders": True}}, outsider
    )
    assert listed["opportunities"]["totalCount"] == 1


async def test_every_mutation_on_a_hidden_opportunity_fails_like_on_a_missing_one(
    api: Api, admin_token: str
) -> None:
    otto_id, outsider = await api.create_user(admin_token, "otto@example.com")
    secret = await create(api, admin_token, "Secret deal")
    version = secret["version"]

    def attempts(target: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (
                "updateOpportunity",
                UPDATE,
                {"id": target, "expectedVersion": version, "name": "Mine"},
            ),
            # A stale version must not turn NOT_FOUND into a CONFLICT that returns the record.
            (
                "updateOpportunity",
                UPDATE,
                {"id": target, "expectedVersion": version + 7, "name": "X"},
            ),
            ("deleteOpportunity", DELETE, {"id": target, "expectedVersion": version}),
            ("moveOpportunity", MOVE, {"id": target, "expectedVersion": version, "folderId": None}),
            ("markOpportunityWon", MARK_WON, {"id": target, "expectedVersion": version}),
            ("markOpportunityLost", MARK_LOST, {"id": target, "expectedVersion": version}),
            (
                "linkParticipant",
                LINK,
                {"opportunityId": target, "participantId": otto_id, "role": "SALES_REP"},
            ),
        ]

    for (name, query, hidden_input), (_, _, missing_input) in zip(
        attempts(secret["id"]), attempts(MISSING_OPPORTUNITY), strict=True
    ):
        hidden = await errors_of(api, name, query, hidden_input, outsider)
        missing = await errors_of(api, name, query, missing_input, outsider)
        assert [e["code"] for e in hidden] == ["NOT_FOUND"], (name, hidden)
        assert hidden == missing, (name, hidden, missing)

    # Nothing changed: same version, same name, and the outsider is still outside.
    data = await api.ok(
        STATE,
        {"id": secret["id"]},
        admin_token,
    )
    assert data["opportunity"] == {
        "name": "Secret deal",
        "version": version,
        "status": "OPEN",
        "isDeleted": False,
        "participants": [],
    }


async def test_hidden_opportunitys_history_and_participants_are_out_of_reach(
    api: Api, admin_token: str
) -> None:
    lynn_id, _ = await api.create_user(admin_token, "lynn@example.com")
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    secret = await create(api, admin_token, "Secret deal")
    participant_id = (await link(api, admin_token, secret["id"], lynn_id))["participant"]["id"]

    assert (await api.ok(HISTORY, {"id": secret["id"]}, admin_token))["opportunity"]["history"][
        "totalCount"
    ] == 2
    assert without_cost(await api.gql(HISTORY, {"id": secret["id"]}, outsider)) == {
        "data": {"opportunity": None}
    }
    by_node = await api.gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": participant_id}, outsider
    )
    assert without_cost(by_node) == {"data": {"node": None}}


async def test_unlinking_a_hidden_opportunitys_participant_fails_like_a_missing_one(
    api: Api, admin_token: str
) -> None:
    lynn_id, _ = await api.create_user(admin_token, "lynn@example.com")
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    secret = await create(api, admin_token, "Secret deal")
    participant_id = (await link(api, admin_token, secret["id"], lynn_id))["participant"]["id"]

    hidden = await errors_of(api, "unlinkParticipant", UNLINK, {"id": participant_id}, outsider)
    missing = await errors_of(
        api, "unlinkParticipant", UNLINK, {"id": MISSING_PARTICIPANT}, outsider
    )
    assert [e["code"] for e in hidden] == ["NOT_FOUND"]
    assert hidden == missing, "the error tells an existing hidden participant from a missing one"
    participants = await api.ok(
        "query($id: ID!) { opportunity(id: $id) { participants { id } } }",
        {"id": secret["id"]},
        admin_token,
    )
    assert participants["opportunity"]["participants"] == [{"id": participant_id}]


async def test_subscribing_to_a_hidden_opportunity_fails_like_a_missing_one(
    api: Api, admin_token: str
) -> None:
    _, outsider = await api.create_user(admin_token, "otto@example.com")
    secret = await create(api, admin_token, "Secret deal")
    query = "subscription($id: ID) { opportunityEvents(opportunityId: $id) { kind } }"
    replies = []
    async with api.subscriber(outsider) as subscriber:
        for target in (secret["id"], MISSING_OPPORTUNITY):
            op_id = await subscriber.subscribe(query, {"id": target})
            message = await subscriber.receive()
            while message["type"] == "complete":  # the end of the previous operation
                message = await subscriber.receive()
            assert message["id"] == op_id, message
            # A failure before the first event arrives as `error` or as `next` with errors.
            payload = message["payload"]
            errors = payload if message["type"] == "error" else payload["errors"]
            assert errors and (message["type"] == "error" or payload["data"] is None), message
            replies.append([{k: v for k, v in e.items() if k != "locations"} for e in errors])
    assert replies[0] == replies[1], replies


async def test_deleted_opportunity_looks_missing_even_to_admins(api: Api, admin_token: str) -> None:
    gone = await create(api, admin_token, "Gone", visibility="PUBLIC")
    await api.mutate(
        "deleteOpportunity",
        DELETE,
        {"input": {"id": gone["id"], "expectedVersion": gone["version"]}},
        admin_token,
    )
    assert await api.gql(OPPORTUNITY, {"id": gone["id"]}, admin_token) == await api.gql(
        OPPORTUNITY, {"id": MISSING_OPPORTUNITY}, admin_token
    )
    assert (await api.ok(LIST, {}, admin_token))["opportunities"]["totalCount"] == 0


async def test_linked_user_may_edit_but_only_the_owner_or_an_admin_may_delete(
    api: Api, admin_token: str
) -> None:
    lynn_id, lynn = await api.create_user(admin_token, "lynn@example.com")
    secret = await create(api, admin_token, "Secret deal")
    version = (await link(api, admin_token, secret["id"], lynn_id))["opportunity"]["version"]
    edited = await api.mutate(
        "updateOpportunity",
        UPDATE,
        {"input": {"id": secret["id"], "expectedVersion": version, "nextStep": "Call Tuesday"}},
        lynn,
    )
    refused = await errors_of(
        api,
        "deleteOpportunity",
        DELETE,
        {"id": secret["id"], "expectedVersion": edited["opportunity"]["version"]},
        lynn,
    )
    assert [e["code"] for e in refused] == ["FORBIDDEN"]
