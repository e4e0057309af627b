"""The team board page (`/`), in a real browser: Debian's chromium through Playwright.

Two browser contexts are two teammates; every change goes through the page or the public
API, and the other page must show it within the issue's 2 seconds (waited for, not timed).
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.async_api import Browser, expect

from app.demo import DEMO_PASSWORD, USERS, seed_demo
from tests.board_browser import (
    LIVE_MS,
    BoardPage,
    Gate,
    Member,
    Team,
    browser,
    open_board,
    screenshot,
    seed_team,
)
from tests.conftest import RunningServer

__all__ = ["browser"]  # the fixture, used by name

OPEN_COUNT = "{ opportunities(filter: {status: [OPEN]}, first: 1) { totalCount } }"


def no_page_errors(*pages: BoardPage) -> None:
    for board in pages:
        bad = [e for e in board.console_errors if "Content Security Policy" in e or "Error" in e]
        assert bad == [], bad


async def team_with_deals(server: RunningServer) -> Team:
    team = await seed_team(server)
    await team.create(team.mia, "ACME rollout", estimatedCloseDate="2099-03-31")
    await team.create(
        team.mia,
        "Globex renewal",
        expectedValue={"amount": "52000.00", "currency": "USD"},
        estimatedCloseDate="2020-01-15",  # long past: overdue
    )
    await team.create(team.ben, "Initech seats", stageId=team.stage(1)["id"])
    await team.create(team.mia, "Hooli secret", visibility="PRIVATE")
    return team


async def test_the_page_is_served_from_the_package_under_a_strict_policy(
    server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=server.api.base_url) as http:
        page = await http.get("/")
        script = await http.get("/board/main.js")
        style = await http.get("/board/board.css")
        missing = await http.get("/board/nope.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, nothing from elsewhere
    assert directives["connect-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert 'src="board/main.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert style.status_code == 200 and "text/css" in style.headers["content-type"]
    assert missing.status_code == 404


async def test_a_move_reaches_the_teammate_board_live_with_the_movers_name(
    server: RunningServer, browser: Browser
) -> None:
    team = await team_with_deals(server)
    mia = await open_board(browser, server, team.mia)
    ben = await open_board(browser, server, team.ben)
    first, second, third = (team.stage(i)["id"] for i in range(3))

    # The board as loaded: columns per open stage, cards with their facts, totals.
    card = ben.card("ACME rollout")
    await expect(ben.card_in(first, "ACME rollout")).to_be_visible()
    await expect(card).to_contain_text("Mia Keller")
    await expect(card).to_contain_text("€10,000")
    await expect(ben.card("Globex renewal")).to_contain_text("Overdue")
    await expect(ben.card("Globex renewal")).to_have_class(re.compile(r"\boverdue\b"))
    await expect(ben.column(first).locator(".stage-count")).to_have_text("2")
    totals = ben.column(first).locator(".stage-totals")
    await expect(totals).to_contain_text("€10,000")
    await expect(totals).to_contain_text("$52,000")
    await expect(ben.column(first).locator(".stage-totals li")).to_have_count(2)

    # Drag and drop on Mia's board; Ben's board shows it within 2 s, naming Mia.
    await mia.card("ACME rollout").drag_to(mia.column(second).locator(".cards"))
    moved = ben.card_in(second, "ACME rollout")
    await expect(moved).to_be_visible(timeout=LIVE_MS)
    await expect(moved.locator(".by")).to_have_text("moved by Mia", timeout=LIVE_MS)
    await expect(ben.page.locator("#announcer")).to_contain_text(
        "Mia Keller moved ACME rollout to", timeout=LIVE_MS
    )
    assert (await team.read("ACME rollout"))["stage"]["id"] == second
    await expect(ben.column(first).locator(".stage-count")).to_have_text("1", timeout=LIVE_MS)
    await expect(ben.column(second).locator(".stage-count")).to_have_text("2", timeout=LIVE_MS)

    # The keyboard: focus a card, → moves it one stage on.
    await mia.card("Initech seats").focus()
    await mia.page.keyboard.press("ArrowRight")
    moved = ben.card_in(third, "Initech seats")
    await expect(moved).to_be_visible(timeout=LIVE_MS)
    await expect(moved.locator(".by")).to_have_text("moved by Mia", timeout=LIVE_MS)
    assert (await team.read("Initech seats"))["stage"]["id"] == third
    # Focus stays on the moved card, so ← takes it back.
    await expect(mia.card_in(third, "Initech seats")).to_be_focused()
    await mia.page.keyboard.press("ArrowLeft")
    await expect(ben.card_in(second, "Initech seats")).to_be_visible(timeout=LIVE_MS)

    # A card made by a teammate elsewhere appears; one marked won leaves.
    await team.create(team.ben, "Umbrella pilot")
    await expect(mia.card_in(first, "Umbrella pilot")).to_be_visible(timeout=LIVE_MS)
    await expect(mia.card("Umbrella pilot").locator(".by")).to_have_text(
        "added by Ben", timeout=LIVE_MS
    )

    no_page_errors(mia, ben)


async def test_a_private_deal_never_appears_for_an_outsider(
    server: RunningServer, browser: Browser
) -> None:
    team = await team_with_deals(server)
    olga = await open_board(browser, server, team.olga)
    await expect(olga.card("ACME rollout")).to_be_visible()
    await expect(olga.card("Hooli secret")).to_have_count(0)

    # Mia moves her private deal, then a public one: once the public move is on Olga's
    # board, the private one (earlier in the same stream) would have been too.
    second = team.stage(1)["id"]
    await team.update(team.mia, "Hooli secret", stageId=second, name="Hooli secret v2")
    await team.update(team.mia, "ACME rollout", stageId=second)
    await expect(olga.card_in(second, "ACME rollout")).to_be_visible(timeout=LIVE_MS)
    await expect(olga.page.locator(".card", has_text="Hooli")).to_have_count(0)
    assert "Hooli" not in await olga.page.content()
    no_page_errors(olga)


async def test_a_dropped_socket_resumes_without_missing_the_change_made_meanwhile(
    server: RunningServer, browser: Browser
) -> None:
    team = await team_with_deals(server)
    gate = Gate()
    ben = await open_board(browser, server, team.ben, gate=gate)
    offline = ben.page.locator("#offline")
    await expect(offline).to_be_hidden()
    assert gate.connections == 1

    await gate.cut()
    await expect(offline).to_be_visible(timeout=LIVE_MS)
    await expect(offline).to_have_text(re.compile("Offline"))
    second = team.stage(1)["id"]
    await team.update(team.mia, "ACME rollout", stageId=second)
    await team.update(team.mia, "Globex renewal", name="Globex renewal 2027")
    # Still down: nothing new on the page.
    await expect(ben.card_in(team.stage(0)["id"], "ACME rollout")).to_be_visible()
    await expect(offline).to_be_visible()

    gate.restore()
    await expect(offline).to_be_hidden(timeout=10_000)  # the backoff's longest wait is 8 s
    await expect(ben.card_in(second, "ACME rollout")).to_be_visible(timeout=LIVE_MS)
    await expect(ben.card("ACME rollout").locator(".by")).to_have_text("moved by Mia")
    await expect(ben.card("Globex renewal 2027")).to_be_visible(timeout=LIVE_MS)
    assert gate.connections >= 2
    no_page_errors(ben)


async def test_a_conflict_shows_what_the_teammate_changed_and_retry_moves_it(
    server: RunningServer, browser: Browser
) -> None:
    team = await team_with_deals(server)
    gate = Gate()
    ben = await open_board(browser, server, team.ben, gate=gate)
    first, second = team.stage(0)["id"], team.stage(1)["id"]
    await expect(ben.card_in(first, "ACME rollout")).to_be_visible()

    # Mia changes the deal while Ben's board has not heard of it yet.
    gate.holding = True
    await team.update(
        team.mia, "ACME rollout", expectedValue={"amount": "99000.00", "currency": "EUR"}
    )
    await ben.card("ACME rollout").drag_to(ben.column(second).locator(".cards"))

    dialog = ben.page.get_by_role("alertdialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Mia Keller changed “ACME rollout” meanwhile")
    value_row = dialog.locator("tr", has_text="Value")
    await expect(value_row).to_contain_text("€10,000")
    await expect(value_row).to_contain_text("€99,000")
    # Nothing was saved, and the card is back where it is for real, showing Mia's value.
    assert (await team.read("ACME rollout"))["stage"]["id"] == first
    await expect(ben.card_in(first, "ACME rollout")).to_contain_text("€99,000")

    await dialog.get_by_role("button", name=re.compile("anyway")).click()
    await expect(dialog).to_be_hidden()
    await expect(ben.card_in(second, "ACME rollout")).to_be_visible()
    await ben.saved()
    now = await team.read("ACME rollout")
    assert now["stage"]["id"] == second
    assert now["expectedValue"] == {"amount": "99000.00", "currency": "EUR"}

    gate.release()  # the held, older events change nothing
    await expect(ben.card_in(second, "ACME rollout")).to_contain_text("€99,000")
    no_page_errors(ben)


async def test_the_detail_panel_is_live_and_takes_a_journal_entry(
    server: RunningServer, browser: Browser
) -> None:
    team = await team_with_deals(server)
    mia = await open_board(browser, server, team.mia)
    ben = await open_board(browser, server, team.ben)

    card = ben.card("ACME rollout")
    await card.focus()
    await ben.page.keyboard.press("Enter")
    panel = ben.page.get_by_role("dialog")
    await expect(panel).to_be_visible()
    await expect(panel.locator("#detail-title")).to_contain_text("ACME rollout")
    await expect(panel.locator("#detail-facts")).to_contain_text("Mia Keller")
    await expect(panel.locator("#detail-close")).to_be_focused()

    await panel.get_by_label(re.compile("Add a journal entry")).fill("Called their CFO, budget ok")
    await panel.get_by_role("button", name="Add entry").click()
    timeline = panel.locator("#detail-timeline")
    await expect(timeline).to_contain_text("Called their CFO, budget ok")
    await expect(timeline.locator(".entry").first).to_contain_text("Ben Ortiz")

    # Mia's change to the same deal shows in Ben's open panel.
    await team.update(team.mia, "ACME rollout", nextStep="Send the contract")
    await expect(panel.locator("#detail-facts")).to_contain_text(
        "Send the contract", timeout=LIVE_MS
    )

    await ben.page.keyboard.press("Escape")
    await expect(panel).to_be_hidden()
    await expect(ben.card("ACME rollout")).to_be_focused()
    no_page_errors(mia, ben)


async def test_phone_width_and_wall_mode(server: RunningServer, browser: Browser) -> None:
    team = await team_with_deals(server)
    phone = await open_board(browser, server, team.ben, viewport={"width": 390, "height": 844})
    page = phone.page
    await expect(phone.card("ACME rollout")).to_be_visible()
    # Nothing sticks out sideways; the columns stack.
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    boxes = [await c.bounding_box() for c in await page.locator(".column").all()]
    assert all(b is not None for b in boxes)
    assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"]  # type: ignore[index]
    assert all(b["width"] <= 390 for b in boxes)  # type: ignore[index]

    wall = await open_board(browser, server, team.ben, query="?wall=1")
    size = await wall.page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 24
    # Every column on the screen at once, nothing to scroll sideways to.
    last = await wall.page.locator(".column").last.bounding_box()
    assert last is not None and last["x"] + last["width"] <= 1440
    await screenshot(wall.page, "wall.png")
    await expect(wall.page.get_by_role("button", name="Wall mode")).to_have_attribute(
        "aria-pressed", "true"
    )
    await wall.page.get_by_role("button", name="Wall mode").click()
    assert "wall" not in wall.page.url
    no_page_errors(phone, wall)


async def test_log_out_ends_the_token(server: RunningServer, browser: Browser) -> None:
    team = await team_with_deals(server)
    ben = await open_board(browser, server, team.ben)
    stored = await ben.page.evaluate("sessionStorage.getItem('tandem.token')")
    assert stored
    async with ben.page.expect_navigation():  # the page starts afresh, signed out
        await ben.page.get_by_role("button", name="Log out").click()
    await expect(ben.page.get_by_role("button", name="Log in")).to_be_visible()
    assert await ben.page.evaluate("sessionStorage.getItem('tandem.token')") is None
    body = await server.api.gql("{ me { id } }", token=stored)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_demo_team_on_the_board_with_its_pictures(
    server: RunningServer, browser: Browser
) -> None:
    """The demo team (`tandem seed --demo`) on the board, detail panel and phone: the
    pictures the README shows, and each view's essentials checked."""
    await seed_demo(server.database_url, opportunities=60)
    api = server.api
    members = []
    for who in (USERS[1], USERS[4]):  # Lukas Meyer, Emma Carter
        token = await api.login(who.email, DEMO_PASSWORD)
        me = (await api.ok("{ me { id } }", token=token))["me"]["id"]
        members.append(Member(me, who.email, who.name, token, DEMO_PASSWORD))
    lukas, emma = members
    emma_board = await open_board(browser, server, emma)
    board = await open_board(browser, server, lukas, viewport={"width": 1600, "height": 1000})
    open_deals = (await api.ok(OPEN_COUNT, token=lukas.token))["opportunities"]["totalCount"]
    await expect(board.page.locator(".card")).to_have_count(open_deals)
    await expect(board.page.locator("#board-presence .avatar")).to_have_count(2)
    # docs/board.png, the README's picture, is a copy of this one made by hand.
    await screenshot(board.page, "board.png")

    first = board.page.locator(".card").first
    name = await first.locator(".card-name").inner_text()
    await first.click()
    panel = board.page.get_by_role("dialog")
    await expect(panel.locator("#detail-title")).to_contain_text(name)
    await expect(panel.locator("#detail-timeline .entry").first).to_be_visible()
    await expect(panel.locator("#detail-participants li").first).to_be_visible()
    await screenshot(board.page, "detail.png")

    phone = await open_board(browser, server, lukas, viewport={"width": 390, "height": 844})
    await expect(phone.page.locator(".card")).to_have_count(open_deals)
    assert await phone.page.evaluate("document.documentElement.scrollWidth") <= 390
    await screenshot(phone.page, "phone.png")
    no_page_errors(board, phone, emma_board)


async def test_who_views_and_edits_shows_on_the_teammates_board(
    server: RunningServer, browser: Browser
) -> None:
    team = await team_with_deals(server)
    mia = await open_board(browser, server, team.mia)
    ben = await open_board(browser, server, team.ben)
    olga = await open_board(browser, server, team.olga)

    # Who is on the board, in every header.
    await expect(ben.page.get_by_label("Mia Keller, viewing")).to_have_count(1, timeout=LIVE_MS)
    await expect(mia.page.locator("#board-presence .avatar")).to_have_count(3, timeout=LIVE_MS)

    # Mia opens a deal: Ben's card shows her viewing, then editing while she writes.
    await mia.card("ACME rollout").click()
    avatar = ben.card("ACME rollout").locator(".avatar")
    await expect(avatar).to_have_attribute("aria-label", "Mia Keller, viewing", timeout=LIVE_MS)
    await mia.page.locator("#journal-body").focus()
    await expect(avatar).to_have_attribute("aria-label", "Mia Keller, editing", timeout=LIVE_MS)
    await expect(mia.page.locator("#detail-presence .avatar")).to_have_attribute(
        "aria-label", "Mia Keller (you), editing", timeout=LIVE_MS
    )
    # Ben opens it too: both see each other in the panel.
    await ben.card("ACME rollout").click()
    await expect(ben.page.locator("#detail-presence .avatar")).to_have_count(2, timeout=LIVE_MS)

    # Mia on her private deal: Olga's board shows no trace of it.
    await mia.page.keyboard.press("Escape")
    await expect(avatar.get_by_text("MK")).to_have_count(0, timeout=LIVE_MS)
    await expect(avatar).to_have_attribute("aria-label", "Ben Ortiz (you), viewing")
    await mia.card("Hooli secret").click()
    await expect(mia.page.locator("#detail-presence .avatar")).to_have_count(1, timeout=LIVE_MS)
    # Ben leaves ACME after that: once Olga's board shows it, it has had the snapshot that
    # came after Mia opened her private deal.
    await expect(olga.card("ACME rollout").locator(".avatar")).to_have_count(1)
    await ben.page.keyboard.press("Escape")
    await expect(olga.card("ACME rollout").locator(".avatar")).to_have_count(0, timeout=LIVE_MS)
    await expect(olga.page.locator(".card .avatar")).to_have_count(0)
    assert "Hooli" not in await olga.page.content()
    no_page_errors(mia, ben, olga)


async def test_a_mention_shows_in_the_teammates_inbox_count_live(
    server: RunningServer, browser: Browser
) -> None:
    team = await team_with_deals(server)
    mia = await open_board(browser, server, team.mia)
    ben = await open_board(browser, server, team.ben)
    count = ben.page.locator("#inbox-count")
    await expect(ben.page.locator("#inbox")).to_be_visible()
    before = int(await count.inner_text())

    await mia.card("ACME rollout").click()
    await mia.page.get_by_label(re.compile("Add a journal entry")).fill(
        "@ben can you call their CFO?"
    )
    await mia.page.get_by_role("button", name="Add entry").click()
    await expect(mia.page.locator("#detail-timeline")).to_contain_text("can you call their CFO")
    await expect(count).to_have_text(str(before + 1), timeout=LIVE_MS)
    await expect(ben.page.locator("#inbox")).to_have_attribute(
        "aria-label", f"Inbox: {before + 1} unread"
    )
    # The mention is shown as one, in the timeline of both.
    await expect(mia.page.locator("#detail-timeline .mention")).to_have_text("@ben")

    # A mention of someone who may not see the deal is refused, and says so on the page.
    await mia.card("Hooli secret").click()
    await mia.page.get_by_label(re.compile("Add a journal entry")).fill("@olga look at this")
    await mia.page.get_by_role("button", name="Add entry").click()
    await expect(mia.page.locator("#journal-error")).not_to_be_empty()
    await expect(olga_count(await open_board(browser, server, team.olga))).to_have_text("0")
    no_page_errors(mia, ben)


def olga_count(board: BoardPage) -> Any:
    return board.page.locator("#inbox-count")


async def test_the_pickers_narrow_the_board_and_its_live_changes(
    server: RunningServer, browser: Browser
) -> None:
    team = await team_with_deals(server)
    emea = await create_folder(team, "EMEA")
    dach = await create_folder(team, "DACH", parent=emea)
    await file_in(team, "Globex renewal", dach)
    ben = await open_board(browser, server, team.ben)
    page = ben.page
    await expect(ben.card("ACME rollout")).to_be_visible()

    # A folder: the deals filed in it and in its sub-folders, live as deals are filed there.
    await page.get_by_label("Folder", exact=True).select_option(value=emea)
    await expect(ben.card("Globex renewal")).to_be_visible()
    await expect(ben.card("ACME rollout")).to_have_count(0)
    await expect(ben.card("Initech seats")).to_have_count(0)
    await file_in(team, "Initech seats", emea)
    await expect(ben.card("Initech seats")).to_be_visible(timeout=LIVE_MS)
    await file_in(team, "Globex renewal", None)
    await expect(ben.card("Globex renewal")).to_have_count(0, timeout=LIVE_MS)
    await file_in(team, "Initech seats", None)
    await expect(ben.card("Initech seats")).to_have_count(0, timeout=LIVE_MS)
    await page.get_by_label("Folder", exact=True).select_option(value="")
    await expect(ben.card("Globex renewal")).to_be_visible()

    await page.get_by_label("Owner", exact=True).select_option(label="Mia Keller")
    await expect(ben.card("Initech seats")).to_have_count(0)  # Ben's own
    await expect(ben.card("ACME rollout")).to_be_visible()
    assert f"owner={team.mia.id}" in page.url.replace("%3D", "=")
    first = team.stage(0)["id"]
    await expect(ben.column(first).locator(".stage-count")).to_have_text("2")
    # Live, within the pick: a deal handed to Mia comes in, one taken from her goes.
    await team.update(team.ben, "Initech seats", ownerId=team.mia.id)
    await expect(ben.card("Initech seats")).to_be_visible(timeout=LIVE_MS)
    await team.update(team.mia, "ACME rollout", ownerId=team.ben.id)
    await expect(ben.card("ACME rollout")).to_have_count(0, timeout=LIVE_MS)

    # A saved view; and the URL keeps the picks across a reload.
    await page.get_by_label("Owner", exact=True).select_option(label="Anyone")
    await page.get_by_label("Saved view", exact=True).select_option(label="My open")
    await expect(ben.card("ACME rollout")).to_be_visible()  # Ben's now
    await expect(ben.card("Globex renewal")).to_have_count(0)
    await page.reload()
    await page.locator("body[data-state=ready]").wait_for()
    await expect(page.get_by_label("Saved view", exact=True)).to_have_value(re.compile(".+"))
    await expect(ben.card("Globex renewal")).to_have_count(0)
    await expect(ben.card("ACME rollout")).to_be_visible()
    no_page_errors(ben)


CREATE_FOLDER = """
mutation($input: CreateFolderInput!) {
  createFolder(input: $input) { folder { id } userErrors { code message } }
}
"""
MOVE = """
mutation($input: MoveOpportunityInput!) {
  moveOpportunity(input: $input) { opportunity { id } userErrors { code message } }
}
"""


async def create_folder(team: Team, name: str, parent: str | None = None) -> str:
    values = {"name": name, "parentId": parent}
    payload = await team.api.mutate(
        "createFolder", CREATE_FOLDER, {"input": values}, team.server.admin_token
    )
    folder_id: str = payload["folder"]["id"]
    return folder_id


async def file_in(team: Team, deal: str, folder: str | None) -> None:
    """File `deal` in `folder` (None: in no folder), as its owner would."""
    current = await team.read(deal)
    values = {"id": team.deals[deal], "expectedVersion": current["version"], "folderId": folder}
    await team.api.mutate("moveOpportunity", MOVE, {"input": values}, team.server.admin_token)
