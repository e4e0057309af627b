"""Following (issue 15 point 2): a deal's owner and linked users follow it by default, anyone
who may see it can follow it or leave it (which overrides the default), and `following` lists
the deals one follows, of those one may see now."""

from __future__ import annotations

from typing import Any

from tests.client import Api
from tests.inbox_client import FOLLOW, FOLLOWING, Team, make_team

DEAL = "query($id: ID!) { opportunity(id: $id) { following } }"


async def following(team: Team, token: str) -> tuple[int, list[str]]:
    found = (await team.api.ok(FOLLOWING, token=token))["following"]
    return found["totalCount"], [n["name"] for n in found["nodes"]]


async def follows(team: Team, token: str, deal: dict[str, Any]) -> bool:
    found = (await team.api.ok(DEAL, {"id": deal["id"]}, token))["opportunity"]
    assert found is not None
    return bool(found["following"])


async def test_owners_and_linked_users_follow_by_default_others_opt_in_and_out(
    api: Api, admin_token: str
) -> None:
    team = await make_team(api, admin_token)
    deal = await team.create(name="ACME rollout")
    await team.link(team.bob, deal, team.carl_id)

    assert await follows(team, team.bob, deal)  # the owner
    assert await follows(team, team.carl, deal)  # linked
    assert not await follows(team, team.mia, deal)  # sees it (public), does not follow it
    assert await following(team, team.mia) == (0, [])

    payload = await team.follow(team.mia, deal)
    assert payload["following"] is True and payload["opportunity"]["following"] is True
    assert await following(team, team.mia) == (1, ["ACME rollout"])
    await team.follow(team.mia, deal)  # again: no change, no error
    assert await following(team, team.mia) == (1, ["ACME rollout"])

    # Unfollowing overrides the default, and stays when the owner changes.
    payload = await team.unfollow(team.bob, deal)
    assert payload["following"] is False and payload["opportunity"]["following"] is False
    assert await following(team, team.bob) == (0, [])
    await team.update(team.bob, deal, ownerId=team.mia_id)
    await team.update(team.mia, deal, ownerId=team.bob_id)
    assert not await follows(team, team.bob, deal)
    await team.follow(team.bob, deal)
    assert await follows(team, team.bob, deal)

    await team.unfollow(team.mia, deal)
    assert await following(team, team.mia) == (0, [])


async def test_following_lists_the_most_recently_changed_first_by_page(
    api: Api, admin_token: str
) -> None:
    team = await make_team(api, admin_token)
    deals = [await team.create(name=f"Deal {i}") for i in range(3)]
    await team.create(token=team.carl, name="Carl's own")
    await team.update(team.bob, deals[0], nextStep="Call back")  # now the latest change
    assert await following(team, team.bob) == (3, ["Deal 0", "Deal 2", "Deal 1"])

    first = (await api.ok(FOLLOWING, {"first": 2}, team.bob))["following"]
    assert [n["name"] for n in first["nodes"]] == ["Deal 0", "Deal 2"]
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    rest = (await api.ok(FOLLOWING, {"first": 2, "after": after}, team.bob))["following"]
    assert [n["name"] for n in rest["nodes"]] == ["Deal 1"]
    assert rest["pageInfo"]["hasNextPage"] is False

    bad = await api.gql(FOLLOWING, {"after": "not a cursor"}, team.bob)
    assert bad["data"] is None and bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_hidden_deal_cannot_be_followed_and_leaves_the_list_once_hidden(
    api: Api, admin_token: str
) -> None:
    team = await make_team(api, admin_token)
    secret = await team.create(name="Secret", visibility="PRIVATE")
    body = await api.ok(FOLLOW, {"id": secret["id"]}, team.zoe)
    assert body["followOpportunity"]["opportunity"] is None
    assert [e["code"] for e in body["followOpportunity"]["userErrors"]] == ["NOT_FOUND"]
    assert await following(team, team.zoe) == (0, [])

    # Followed while public, then made private: gone from the list, back when visible again.
    deal = await team.create(name="Open deal")
    await team.follow(team.zoe, deal)
    assert await following(team, team.zoe) == (1, ["Open deal"])
    await team.update(team.bob, deal, visibility="PRIVATE")
    assert await following(team, team.zoe) == (0, [])
    await team.link(team.bob, deal, team.zoe_id)
    assert await following(team, team.zoe) == (1, ["Open deal"])


async def test_bad_ids_are_refused_and_change_nothing(api: Api, admin_token: str) -> None:
    team = await make_team(api, admin_token)
    body = await api.ok(FOLLOW, {"id": team.bob_id}, team.mia)  # a User's ID
    errors = body["followOpportunity"]["userErrors"]
    assert body["followOpportunity"]["opportunity"] is None
    assert [e["field"] for e in errors] == [["opportunityId"]]
    assert await following(team, team.mia) == (0, [])


LIVE = "subscription { opportunityEvents { opportunity { name following } } }"


async def test_live_events_say_whether_each_subscriber_follows_the_deal(
    api: Api, admin_token: str
) -> None:
    team = await make_team(api, admin_token)
    _, other_admin = await api.create_user(admin_token, "ada@example.com", role="ADMIN")
    deal = await team.create(token=admin_token, name="Followed by the admin")
    await team.follow(team.mia, deal)
    async with api.subscribed(LIVE, admin_token, other_admin, team.mia, team.zoe) as sockets:
        for round_ in range(2):  # the first event tells that results depend on the viewer
            await team.update(team.bob if round_ else admin_token, deal, nextStep=f"Step {round_}")
            seen = [(await s.next())["opportunityEvents"]["opportunity"] for s in sockets]
            assert [s["following"] for s in seen] == [True, False, True, False]
