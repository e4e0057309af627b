"""Folders and stages (issue 2 point 6).

Folders form a tree: create, rename, move with the whole subtree (never into itself), delete
only when empty; listing a folder may include its subtree, and each folder's opportunity count
is what the asking user may see. Stages: a seeded default pipeline that only admins edit.
"""

from __future__ import annotations

from typing import Any

from tests.client import Api

CREATE_FOLDER = """
mutation($name: String!, $parentId: ID) {
  createFolder(input: {name: $name, parentId: $parentId}) {
    folder { id name depth } userErrors { field code message }
  }
}
"""
RENAME_FOLDER = """
mutation($id: ID!, $name: String!) {
  renameFolder(input: {id: $id, name: $name}) {
    folder { id name } userErrors { field code message }
  }
}
"""
MOVE_FOLDER = """
mutation($id: ID!, $parentId: ID) {
  moveFolder(input: {id: $id, parentId: $parentId}) {
    folder { id depth parent { id } } userErrors { field code message }
  }
}
"""
DELETE_FOLDER = """
mutation($id: ID!) {
  deleteFolder(input: {id: $id}) { deletedId userErrors { field code message } }
}
"""
FOLDER = """
query($id: ID!) {
  node(id: $id) {
    ... on Folder {
      id name depth parent { name } ancestors { name } children { name depth }
      opportunityCount all: opportunityCount(includeSubfolders: true)
    }
  }
}
"""
FOLDERS = "{ folders { id name depth parent { name } } }"
OPPORTUNITIES = """
query($filter: OpportunityFilterInput) {
  opportunities(filter: $filter) { totalCount nodes { name } }
}
"""
CREATE_OPPORTUNITY = """
mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) {
    opportunity { id version stage { id } } userErrors { code message }
  }
}
"""
DELETE_OPPORTUNITY = """
mutation($id: ID!, $v: Int!) {
  deleteOpportunity(input: {id: $id, expectedVersion: $v}) { userErrors { code message } }
}
"""
MARK_WON = """
mutation($id: ID!, $v: Int!) {
  markOpportunityWon(input: {id: $id, expectedVersion: $v}) {
    opportunity { probability stage { kind } } userErrors { code message }
  }
}
"""
STAGES = "{ stages { id name position kind defaultProbability forecastCategory } }"
CREATE_STAGE = """
mutation($input: CreateStageInput!) {
  createStage(input: $input) {
    stage { id name position kind defaultProbability forecastCategory }
    userErrors { field code message }
  }
}
"""
UPDATE_STAGE = """
mutation($input: UpdateStageInput!) {
  updateStage(input: $input) {
    stage { id name position kind defaultProbability forecastCategory }
    userErrors { field code message }
  }
}
"""
DELETE_STAGE = """
mutation($id: ID!) { deleteStage(input: {id: $id}) { deletedId userErrors { field code message } } }
"""


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


async def call(api: Api, name: str, query: str, variables: dict[str, Any], token: str) -> Any:
    """The mutation's payload, user errors and all."""
    return (await api.ok(query, variables, token))[name]


async def create_folder(api: Api, token: str, name: str, parent: str | None = None) -> str:
    payload = await api.mutate(
        "createFolder", CREATE_FOLDER, {"name": name, "parentId": parent}, token
    )
    folder_id: str = payload["folder"]["id"]
    return folder_id


async def folder(api: Api, token: str, folder_id: str) -> dict[str, Any]:
    node: dict[str, Any] = (await api.ok(FOLDER, {"id": folder_id}, token))["node"]
    return node


async def create_opportunity(
    api: Api, token: str, name: str, folder_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    variables = {
        "input": {
            "name": name,
            "expectedValue": {"amount": "1000", "currency": "EUR"},
            "folderId": folder_id,
            **fields,
        }
    }
    opportunity: dict[str, Any] = (
        await api.mutate("createOpportunity", CREATE_OPPORTUNITY, variables, token)
    )["opportunity"]
    return opportunity


async def tree(api: Api, token: str) -> tuple[str, str, str]:
    """Sales > Europe > Germany."""
    root = await create_folder(api, token, "Sales")
    child = await create_folder(api, token, "Europe", root)
    grandchild = await create_folder(api, token, "Germany", child)
    return root, child, grandchild


async def names_in(api: Api, token: str, folder_id: str, include_subfolders: bool) -> list[str]:
    data = await api.ok(
        OPPORTUNITIES,
        {"filter": {"folderId": folder_id, "includeSubfolders": include_subfolders}},
        token,
    )
    names = sorted(n["name"] for n in data["opportunities"]["nodes"])
    assert data["opportunities"]["totalCount"] == len(names)
    return names


# --- the tree --------------------------------------------------------------------------------


async def test_folder_tree_shows_depth_parent_ancestors_and_children(
    api: Api, admin_token: str
) -> None:
    root, child, grandchild = await tree(api, admin_token)

    assert await folder(api, admin_token, grandchild) == {
        "id": grandchild,
        "name": "Germany",
        "depth": 2,
        "parent": {"name": "Europe"},
        "ancestors": [{"name": "Sales"}, {"name": "Europe"}],
        "children": [],
        "opportunityCount": 0,
        "all": 0,
    }
    top = await folder(api, admin_token, root)
    assert (top["depth"], top["parent"], top["ancestors"]) == (0, None, [])
    assert top["children"] == [{"name": "Europe", "depth": 1}]
    listed = (await api.ok(FOLDERS, token=admin_token))["folders"]
    assert [f["id"] for f in listed] == [root, child, grandchild]  # parents before children


async def test_folders_can_be_listed_by_parent_and_roots_only(api: Api, admin_token: str) -> None:
    root, child, _ = await tree(api, admin_token)
    other = await create_folder(api, admin_token, "Marketing")
    roots = await api.ok("{ folders(rootsOnly: true) { id } }", token=admin_token)
    assert sorted(f["id"] for f in roots["folders"]) == sorted([root, other])
    children = await api.ok(
        "query($p: ID) { folders(parentId: $p) { id } }", {"p": root}, admin_token
    )
    assert children["folders"] == [{"id": child}]


async def test_creating_in_an_unknown_parent_is_not_found(api: Api, admin_token: str) -> None:
    payload = await call(
        api,
        "createFolder",
        CREATE_FOLDER,
        {"name": "X", "parentId": "Rm9sZGVyOjk5OTk="},
        admin_token,
    )
    assert codes(payload) == ["NOT_FOUND"]
    assert (await api.ok(FOLDERS, token=admin_token))["folders"] == []


async def test_blank_and_oversized_folder_names_are_refused(api: Api, admin_token: str) -> None:
    blank = await call(api, "createFolder", CREATE_FOLDER, {"name": "  "}, admin_token)
    huge = await call(api, "createFolder", CREATE_FOLDER, {"name": "x" * 201}, admin_token)
    assert codes(blank) == ["REQUIRED"]
    assert codes(huge) == ["TOO_LONG"]


async def test_folders_nest_at_most_twenty_levels(api: Api, admin_token: str) -> None:
    parent = None
    for level in range(20):  # depths 0 to 19
        parent = await create_folder(api, admin_token, f"Level {level}", parent)
    payload = await call(
        api, "createFolder", CREATE_FOLDER, {"name": "Too deep", "parentId": parent}, admin_token
    )
    assert codes(payload) == ["INVALID"]
    assert (await folder(api, admin_token, str(parent)))["depth"] == 19


async def test_moving_a_subtree_beyond_the_depth_limit_is_refused(
    api: Api, admin_token: str
) -> None:
    parent = None
    for level in range(18):  # depths 0 to 17
        parent = await create_folder(api, admin_token, f"Level {level}", parent)
    root, _, grandchild = await tree(api, admin_token)  # three levels: would reach depth 20
    payload = await call(
        api, "moveFolder", MOVE_FOLDER, {"id": root, "parentId": parent}, admin_token
    )
    assert codes(payload) == ["INVALID"]
    assert (await folder(api, admin_token, grandchild))["depth"] == 2


async def test_rename_folder(api: Api, admin_token: str) -> None:
    root, _, grandchild = await tree(api, admin_token)
    payload = await api.mutate(
        "renameFolder", RENAME_FOLDER, {"id": root, "name": "Global Sales"}, admin_token
    )
    assert payload["folder"] == {"id": root, "name": "Global Sales"}
    ancestors = (await folder(api, admin_token, grandchild))["ancestors"]
    assert ancestors[0] == {"name": "Global Sales"}


async def test_duplicate_sibling_names_are_refused_case_insensitively(
    api: Api, admin_token: str
) -> None:
    root, child, _ = await tree(api, admin_token)
    await create_folder(api, admin_token, "Asia", root)
    duplicates = [
        await call(
            api, "createFolder", CREATE_FOLDER, {"name": "EUROPE", "parentId": root}, admin_token
        ),
        await call(api, "createFolder", CREATE_FOLDER, {"name": "sales"}, admin_token),  # roots
        await call(api, "renameFolder", RENAME_FOLDER, {"id": child, "name": "asia"}, admin_token),
    ]
    for payload in duplicates:
        assert codes(payload) == ["DUPLICATE"], payload
    assert len((await api.ok(FOLDERS, token=admin_token))["folders"]) == 4
    assert (await folder(api, admin_token, child))["name"] == "Europe"
    # The same name under another parent is fine.
    await create_folder(api, admin_token, "Europe")


async def test_move_folder_moves_its_whole_subtree(api: Api, admin_token: str) -> None:
    root, child, grandchild = await tree(api, admin_token)
    archive = await create_folder(api, admin_token, "Archive")
    old = await create_folder(api, admin_token, "Old", archive)

    payload = await api.mutate(
        "moveFolder", MOVE_FOLDER, {"id": child, "parentId": old}, admin_token
    )
    assert payload["folder"] == {"id": child, "depth": 2, "parent": {"id": old}}

    moved = await folder(api, admin_token, grandchild)
    assert moved["depth"] == 3
    assert moved["ancestors"] == [{"name": "Archive"}, {"name": "Old"}, {"name": "Europe"}]
    assert (await folder(api, admin_token, root))["children"] == []
    assert (await folder(api, admin_token, old))["children"] == [{"name": "Europe", "depth": 2}]


async def test_move_folder_to_the_top_level(api: Api, admin_token: str) -> None:
    _, child, grandchild = await tree(api, admin_token)
    payload = await api.mutate(
        "moveFolder", MOVE_FOLDER, {"id": child, "parentId": None}, admin_token
    )
    assert payload["folder"] == {"id": child, "depth": 0, "parent": None}
    moved = await folder(api, admin_token, grandchild)
    assert (moved["depth"], moved["ancestors"]) == (1, [{"name": "Europe"}])


async def test_moving_subtree_carries_its_opportunities_in_subtree_listings(
    api: Api, admin_token: str
) -> None:
    root, child, grandchild = await tree(api, admin_token)
    archive = await create_folder(api, admin_token, "Archive")
    await create_opportunity(api, admin_token, "Berlin deal", grandchild)
    await api.mutate("moveFolder", MOVE_FOLDER, {"id": child, "parentId": archive}, admin_token)
    assert await names_in(api, admin_token, root, include_subfolders=True) == []
    assert await names_in(api, admin_token, archive, include_subfolders=True) == ["Berlin deal"]
    assert (await folder(api, admin_token, archive))["all"] == 1


async def test_moving_a_folder_into_itself_or_its_subtree_is_invalid(
    api: Api, admin_token: str
) -> None:
    root, child, grandchild = await tree(api, admin_token)
    for target in (root, child, grandchild):
        payload = await call(
            api, "moveFolder", MOVE_FOLDER, {"id": root, "parentId": target}, admin_token
        )
        assert codes(payload) == ["INVALID_MOVE"], (target, payload)
        assert payload["folder"] is None
    payload = await call(
        api, "moveFolder", MOVE_FOLDER, {"id": child, "parentId": grandchild}, admin_token
    )
    assert codes(payload) == ["INVALID_MOVE"]

    listed = (await api.ok(FOLDERS, token=admin_token))["folders"]
    assert [(f["name"], f["depth"], f["parent"]) for f in listed] == [
        ("Sales", 0, None),
        ("Europe", 1, {"name": "Sales"}),
        ("Germany", 2, {"name": "Europe"}),
    ]


async def test_moving_next_to_a_sibling_with_the_same_name_is_duplicate(
    api: Api, admin_token: str
) -> None:
    root, _, _ = await tree(api, admin_token)
    other = await create_folder(api, admin_token, "Europe")  # a root with the child's name
    payload = await call(
        api, "moveFolder", MOVE_FOLDER, {"id": other, "parentId": root}, admin_token
    )
    assert codes(payload) == ["DUPLICATE"]
    assert (await folder(api, admin_token, other))["parent"] is None
    assert [c["name"] for c in (await folder(api, admin_token, root))["children"]] == ["Europe"]


async def test_moving_to_an_unknown_parent_is_not_found(api: Api, admin_token: str) -> None:
    root, _, _ = await tree(api, admin_token)
    payload = await call(
        api, "moveFolder", MOVE_FOLDER, {"id": root, "parentId": "Rm9sZGVyOjk5OTk="}, admin_token
    )
    assert codes(payload) == ["NOT_FOUND"]


# --- deleting --------------------------------------------------------------------------------


async def test_empty_folder_can_be_deleted(api: Api, admin_token: str) -> None:
    _, child, grandchild = await tree(api, admin_token)
    payload = await api.mutate("deleteFolder", DELETE_FOLDER, {"id": grandchild}, admin_token)
    assert payload["deletedId"] == grandchild
    assert (await api.ok(FOLDER, {"id": grandchild}, admin_token))["node"] is None
    assert (await folder(api, admin_token, child))["children"] == []


async def test_folder_with_subfolders_cannot_be_deleted(api: Api, admin_token: str) -> None:
    root, _, _ = await tree(api, admin_token)
    payload = await call(api, "deleteFolder", DELETE_FOLDER, {"id": root}, admin_token)
    assert codes(payload) == ["NOT_EMPTY"] and payload["deletedId"] is None
    assert len((await api.ok(FOLDERS, token=admin_token))["folders"]) == 3


async def test_folder_with_opportunities_cannot_be_deleted(api: Api, admin_token: str) -> None:
    folder_id = await create_folder(api, admin_token, "Leads")
    await create_opportunity(api, admin_token, "Deal", folder_id)
    payload = await call(api, "deleteFolder", DELETE_FOLDER, {"id": folder_id}, admin_token)
    assert codes(payload) == ["NOT_EMPTY"]
    assert await names_in(api, admin_token, folder_id, include_subfolders=False) == ["Deal"]


async def test_folder_holding_only_a_private_opportunity_the_deleter_cannot_see_is_not_empty(
    api: Api, admin_token: str
) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    folder_id = await create_folder(api, admin_token, "Leads")
    await create_opportunity(api, admin_token, "Secret", folder_id, visibility="PRIVATE")

    assert (await folder(api, member, folder_id))["opportunityCount"] == 0
    payload = await call(api, "deleteFolder", DELETE_FOLDER, {"id": folder_id}, member)
    assert codes(payload) == ["NOT_EMPTY"]
    assert await names_in(api, admin_token, folder_id, include_subfolders=False) == ["Secret"]


async def test_folder_whose_opportunities_were_deleted_can_be_deleted(
    api: Api, admin_token: str
) -> None:
    folder_id = await create_folder(api, admin_token, "Leads")
    opportunity = await create_opportunity(api, admin_token, "Gone", folder_id)
    await api.mutate(
        "deleteOpportunity",
        DELETE_OPPORTUNITY,
        {"id": opportunity["id"], "v": opportunity["version"]},
        admin_token,
    )
    payload = await api.mutate("deleteFolder", DELETE_FOLDER, {"id": folder_id}, admin_token)
    assert payload["deletedId"] == folder_id


# --- listing and counting --------------------------------------------------------------------


async def test_opportunities_filter_by_folder_with_and_without_subfolders(
    api: Api, admin_token: str
) -> None:
    root, child, grandchild = await tree(api, admin_token)
    other = await create_folder(api, admin_token, "Elsewhere")
    await create_opportunity(api, admin_token, "Top", root)
    await create_opportunity(api, admin_token, "Middle", child)
    await create_opportunity(api, admin_token, "Bottom", grandchild)
    await create_opportunity(api, admin_token, "Outside", other)
    await create_opportunity(api, admin_token, "Unfiled")

    assert await names_in(api, admin_token, root, include_subfolders=False) == ["Top"]
    assert await names_in(api, admin_token, root, include_subfolders=True) == [
        "Bottom",
        "Middle",
        "Top",
    ]
    assert await names_in(api, admin_token, child, include_subfolders=True) == ["Bottom", "Middle"]


async def test_folder_counts_follow_what_the_asking_user_may_see(
    api: Api, admin_token: str
) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    root, child, grandchild = await tree(api, admin_token)
    await create_opportunity(api, admin_token, "Public top", root)
    await create_opportunity(api, admin_token, "Private top", root, visibility="PRIVATE")
    await create_opportunity(api, admin_token, "Public bottom", grandchild)
    await create_opportunity(api, admin_token, "Private bottom", grandchild, visibility="PRIVATE")
    await create_opportunity(api, member, "Mia's own", grandchild, visibility="PRIVATE")

    as_admin = await folder(api, admin_token, root)
    as_member = await folder(api, member, root)
    assert (as_admin["opportunityCount"], as_admin["all"]) == (2, 5)
    assert (as_member["opportunityCount"], as_member["all"]) == (1, 3)
    assert (await folder(api, member, child))["all"] == 2
    assert await names_in(api, member, root, include_subfolders=True) == [
        "Mia's own",
        "Public bottom",
        "Public top",
    ]


async def test_folder_counts_leave_out_deleted_opportunities(api: Api, admin_token: str) -> None:
    folder_id = await create_folder(api, admin_token, "Leads")
    await create_opportunity(api, admin_token, "Kept", folder_id)
    gone = await create_opportunity(api, admin_token, "Gone", folder_id)
    await api.mutate(
        "deleteOpportunity",
        DELETE_OPPORTUNITY,
        {"id": gone["id"], "v": gone["version"]},
        admin_token,
    )
    counted = await folder(api, admin_token, folder_id)
    assert (counted["opportunityCount"], counted["all"]) == (1, 1)


# --- stages ----------------------------------------------------------------------------------


async def test_default_pipeline_is_seeded(api: Api, admin_token: str) -> None:
    stages = (await api.ok(STAGES, token=admin_token))["stages"]
    assert len(stages) == 7
    kinds = [s["kind"] for s in stages]
    assert kinds.count("WON") == 1 and kinds.count("LOST") == 1
    assert [s["position"] for s in stages] == sorted(s["position"] for s in stages)
    won = next(s for s in stages if s["kind"] == "WON")
    lost = next(s for s in stages if s["kind"] == "LOST")
    assert (won["defaultProbability"], lost["defaultProbability"]) == (100, 0)
    assert all(0 <= s["defaultProbability"] <= 100 for s in stages)


async def test_admin_creates_updates_and_deletes_a_stage(api: Api, admin_token: str) -> None:
    created = await api.mutate(
        "createStage",
        CREATE_STAGE,
        {"input": {"name": "Legal review", "defaultProbability": 85, "forecastCategory": "COMMIT"}},
        admin_token,
    )
    stage = created["stage"]
    assert (stage["kind"], stage["defaultProbability"], stage["forecastCategory"]) == (
        "OPEN",
        85,
        "COMMIT",
    )
    stages = (await api.ok(STAGES, token=admin_token))["stages"]
    assert stages[-1]["id"] == stage["id"]  # at the end by default

    updated = await api.mutate(
        "updateStage",
        UPDATE_STAGE,
        {"input": {"id": stage["id"], "name": "Legal", "defaultProbability": 90, "position": 0}},
        admin_token,
    )
    assert (updated["stage"]["name"], updated["stage"]["defaultProbability"]) == ("Legal", 90)
    assert (await api.ok(STAGES, token=admin_token))["stages"][0]["id"] == stage["id"]

    deleted = await api.mutate("deleteStage", DELETE_STAGE, {"id": stage["id"]}, admin_token)
    assert deleted["deletedId"] == stage["id"]
    assert len((await api.ok(STAGES, token=admin_token))["stages"]) == 7


async def test_member_cannot_change_stages(api: Api, admin_token: str) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    before = (await api.ok(STAGES, token=admin_token))["stages"]
    first = before[0]["id"]
    created = await call(
        api,
        "createStage",
        CREATE_STAGE,
        {"input": {"name": "Mine", "defaultProbability": 5}},
        member,
    )
    updated = await call(
        api, "updateStage", UPDATE_STAGE, {"input": {"id": first, "defaultProbability": 99}}, member
    )
    deleted = await call(api, "deleteStage", DELETE_STAGE, {"id": first}, member)
    assert codes(created) == codes(updated) == codes(deleted) == ["FORBIDDEN"]
    assert (await api.ok(STAGES, token=admin_token))["stages"] == before


async def test_stage_with_opportunities_cannot_be_deleted(api: Api, admin_token: str) -> None:
    opportunity = await create_opportunity(api, admin_token, "Deal")
    stage_id = opportunity["stage"]["id"]
    payload = await call(api, "deleteStage", DELETE_STAGE, {"id": stage_id}, admin_token)
    assert codes(payload) == ["IN_USE"] and payload["deletedId"] is None
    stages = (await api.ok(STAGES, token=admin_token))["stages"]
    assert stage_id in [s["id"] for s in stages]


async def test_stage_a_closed_opportunity_was_last_in_can_be_deleted(
    api: Api, admin_token: str
) -> None:
    extra = (
        await api.mutate(
            "createStage",
            CREATE_STAGE,
            {"input": {"name": "Pilot", "defaultProbability": 70}},
            admin_token,
        )
    )["stage"]
    opportunity = await create_opportunity(api, admin_token, "Deal", stageId=extra["id"])
    await api.mutate(
        "markOpportunityWon",
        MARK_WON,
        {"id": opportunity["id"], "v": opportunity["version"]},
        admin_token,
    )
    payload = await call(api, "deleteStage", DELETE_STAGE, {"id": extra["id"]}, admin_token)
    assert payload["userErrors"] == [], payload


async def test_won_stage_probability_is_fixed_at_100(api: Api, admin_token: str) -> None:
    won = next(s for s in (await api.ok(STAGES, token=admin_token))["stages"] if s["kind"] == "WON")
    changed = await call(
        api,
        "updateStage",
        UPDATE_STAGE,
        {"input": {"id": won["id"], "defaultProbability": 90}},
        admin_token,
    )
    assert codes(changed) == ["INVALID"]
    created = await call(
        api,
        "createStage",
        CREATE_STAGE,
        {"input": {"name": "Won again", "kind": "WON", "defaultProbability": 80}},
        admin_token,
    )
    assert codes(created) == ["INVALID"]
    defaulted = await api.mutate(
        "createStage", CREATE_STAGE, {"input": {"name": "Signed", "kind": "WON"}}, admin_token
    )
    assert defaulted["stage"]["defaultProbability"] == 100
    still = next(
        s for s in (await api.ok(STAGES, token=admin_token))["stages"] if s["id"] == won["id"]
    )
    assert still["defaultProbability"] == 100


async def test_the_only_won_or_lost_stage_cannot_be_deleted(api: Api, admin_token: str) -> None:
    stages = (await api.ok(STAGES, token=admin_token))["stages"]
    for kind in ("WON", "LOST"):
        stage = next(s for s in stages if s["kind"] == kind)
        payload = await call(api, "deleteStage", DELETE_STAGE, {"id": stage["id"]}, admin_token)
        assert codes(payload) == ["INVALID"], (kind, payload)
    assert len((await api.ok(STAGES, token=admin_token))["stages"]) == 7


async def test_stage_probability_out_of_range_and_duplicate_names_are_refused(
    api: Api, admin_token: str
) -> None:
    stages = (await api.ok(STAGES, token=admin_token))["stages"]
    out_of_range = await call(
        api,
        "createStage",
        CREATE_STAGE,
        {"input": {"name": "Odd", "defaultProbability": 101}},
        admin_token,
    )
    missing = await call(api, "createStage", CREATE_STAGE, {"input": {"name": "Odd"}}, admin_token)
    duplicate = await call(
        api,
        "createStage",
        CREATE_STAGE,
        {"input": {"name": stages[0]["name"], "defaultProbability": 10}},
        admin_token,
    )
    assert codes(out_of_range) == ["OUT_OF_RANGE"]
    assert codes(missing) == ["REQUIRED"]
    assert codes(duplicate) == ["DUPLICATE"]
    assert len((await api.ok(STAGES, token=admin_token))["stages"]) == 7
