"""The team board: a page served from the package itself at `/`, its scripts and styles under
`/board/` (plain ES modules, no build step, nothing loaded from elsewhere at run time).

The page runs under a Content-Security-Policy read off the page (app/browser_headers.py):
scripts from this server only, no inline script; it talks to `/graphql` like any client.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.browser_headers import page_policy

STATIC = Path(__file__).parent / "static"


@cache
def _page() -> tuple[str, str]:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    return html, page_policy(html)


async def _index(request: Request) -> Response:
    html, policy = _page()
    # Set here, not by the middleware's default: that one is GraphiQL's page's policy.
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


def board_routes() -> list[BaseRoute]:
    """`/` (the page) and `/board/…` (its modules and stylesheet)."""
    return [
        Route("/", _index),
        Mount("/board", StaticFiles(directory=STATIC), name="board"),
    ]
