"""What browsers are told: which other origins' pages may call the API (TANDEM_CORS_ORIGINS:
none by default), and on every answer what a page may do with it (the security headers), on
/graphql, the other routes, errors and GraphiQL's page alike.

No browser runs here, so the tests read the headers a browser acts on, as a browser's CORS
check does: a preflight's answer, and the answer a page's script may then read.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from app.settings import Settings, SettingsError, load_settings
from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, serve
from tests.test_documents import PDF, create, download, upload

APP = "https://app.example.com"
LOCAL = "http://localhost:3000"
ME = "{ me { email } }"
PAGE = "{ opportunities(first: 10) { nodes { id timeline(first: 5) { nodes { kind } } } } }"
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
# What the clients of tests/js send (Apollo Client with its client awareness, urql) and
# apollo-upload-client's CSRF header.
CLIENT_HEADERS = (
    "content-type, authorization, apollographql-client-name, "
    "apollographql-client-version, apollo-require-preflight"
)


def cors_of(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def secured(response: httpx.Response, policy: str = API_POLICY) -> None:
    """The answer tells a browser to run nothing in it, frame it nowhere, keep it nowhere."""
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, (name, response.headers)
    assert response.headers.get("content-security-policy") == policy, response.headers
    assert "strict-transport-security" not in response.headers


async def preflight(
    api: Api, origin: str, path: str = "/graphql", method: str = "POST"
) -> httpx.Response:
    return await api.http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": CLIENT_HEADERS,
        },
    )


async def post(
    api: Api, query: str, token: str | None = None, origin: str | None = None
) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await api.http.post("/graphql", json={"query": query}, headers=headers)


async def socket_opens(api: Api, origin: str | None) -> bool:
    try:
        async with connect(
            api.ws_url,
            origin=origin,  # type: ignore[arg-type]
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        ):
            return True
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


async def test_by_default_no_other_origin_may_call_and_every_answer_is_secured(
    api: Api, admin_token: str
) -> None:
    answers = {
        "a query": await post(api, ME, admin_token),
        "a query from another origin": await post(api, ME, admin_token, origin=APP),
        "not JSON": await api.http.post(
            "/graphql", content=b"{", headers={"Content-Type": "application/json"}
        ),
        "too large": await api.http.post(
            "/graphql",
            content=b" " * (1024 * 1024 + 1),
            headers={"Content-Type": "application/json"},
        ),
        "a wrong method": await api.http.put("/graphql", json={"query": ME}),
        "health": await api.http.get("/health", headers={"Origin": APP}),
        "a download without a token": await api.http.get("/documents/1"),
        "no such route": await api.http.get("/nowhere"),
    }
    statuses = {what: response.status_code for what, response in answers.items()}
    assert statuses == {
        "a query": 200,
        "a query from another origin": 200,
        "not JSON": 400,
        "too large": 413,
        "a wrong method": 405,
        "health": 200,
        "a download without a token": 401,
        "no such route": 404,
    }
    for what, response in answers.items():
        secured(response)
        assert cors_of(response) == {}, what
        assert "vary" not in response.headers, what  # the same answer for every origin
    # A download keeps the policy it sets itself (a sandbox), and gets the others.
    deal = await create(api, admin_token)
    uploaded = await upload(api, admin_token, deal, PDF)
    downloaded = await download(api, uploaded["activity"]["downloadUrl"], admin_token)
    assert downloaded.content == PDF
    assert downloaded.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert downloaded.headers["cache-control"] == "private, no-store"
    assert downloaded.headers["x-content-type-options"] == "nosniff"
    assert downloaded.headers["x-frame-options"] == "DENY"
    assert downloaded.headers["referrer-policy"] == "no-referrer"
    # A page on another origin cannot read the answer: its browser finds no
    # Access-Control-Allow-Origin. Its preflight is refused, saying why.
    refused = await preflight(api, APP)
    assert refused.status_code == 403
    assert cors_of(refused) == {}
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert "TANDEM_CORS_ORIGINS" in error["message"]
    secured(refused)
    # OPTIONS that is no preflight (no Origin) is the method /graphql does not take.
    plain = await api.http.options("/graphql")
    assert plain.status_code == 405 and plain.json()["errors"][0]["extensions"]["code"]
    # WebSockets: a page of the server's own origin may open one, a program (no Origin)
    # may, a page on another origin may not.
    assert await socket_opens(api, api.base_url)
    assert await socket_opens(api, None)
    assert not await socket_opens(api, APP)


async def test_listed_origins_may_call_from_a_browser_and_no_other(
    settings: Settings, database_url: str
) -> None:
    await create_admin(database_url)
    listed = replace(settings, cors_origins=(APP, LOCAL), cost_budget_per_minute=100)
    async with serve(listed, database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        for origin in (APP, LOCAL):
            allowed = await preflight(api, origin)
            assert allowed.status_code == 204, allowed.text
            assert cors_of(allowed) == {
                "access-control-allow-origin": origin,
                "access-control-allow-methods": "GET, POST, OPTIONS",
                "access-control-allow-headers": (
                    "authorization, content-type, accept, x-request-id, "
                    "apollo-require-preflight, x-apollo-operation-name, "
                    "apollographql-client-name, apollographql-client-version"
                ),
                "access-control-max-age": "600",
            }
            assert allowed.headers["vary"] == "Origin"
            asked = {h.strip() for h in CLIENT_HEADERS.split(",")}
            offered = allowed.headers["access-control-allow-headers"].split(", ")
            assert asked <= set(offered)
            answered = await post(api, ME, token, origin=origin)
            assert answered.json()["data"] == {"me": {"email": ADMIN_EMAIL}}
            assert cors_of(answered) == {
                "access-control-allow-origin": origin,
                "access-control-expose-headers": "X-Request-Id, Retry-After",
            }
            assert answered.headers["vary"] == "Origin"
            assert answered.headers["x-request-id"]
            secured(answered)
        # Downloads and the health check answer a listed origin too (a download's preflight
        # is for its Authorization header); a download keeps its own sandboxing policy.
        assert (await preflight(api, APP, "/documents/1", "GET")).status_code == 204
        download = await api.http.get("/documents/1", headers={"Origin": APP})
        assert download.status_code == 401
        assert download.headers["access-control-allow-origin"] == APP
        health = await api.http.get("/health", headers={"Origin": APP})
        assert health.headers["access-control-allow-origin"] == APP
        secured(health)
        # A refusal a page must be able to read: the budget spent (429), with Retry-After.
        assert (await post(api, PAGE, token, origin=APP)).status_code == 200
        spent = await post(api, PAGE, token, origin=APP)
        assert spent.status_code == 429
        assert spent.headers["access-control-allow-origin"] == APP
        assert "Retry-After" in spent.headers["access-control-expose-headers"]
        assert spent.headers["retry-after"]
        secured(spent)
        # Exactly those origins: not another scheme, port or host, nor one that merely
        # starts like a listed one. No credentials mode: tokens are headers, not cookies.
        for other in (
            "http://app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com.evil.example",
            "http://localhost:3001",
            "null",
        ):
            assert (await preflight(api, other)).status_code == 403, other
            answered = await post(api, ME, token, origin=other)
            assert answered.status_code == 200
            assert "access-control-allow-origin" not in answered.headers, other
            assert answered.headers["vary"] == "Origin"  # a cache must not mix the two
        without_origin = await post(api, ME, token)
        assert cors_of(without_origin) == {}
        assert without_origin.headers["vary"] == "Origin"
        for response in (allowed, answered, without_origin):
            assert "access-control-allow-credentials" not in response.headers
        # The same origins may open a WebSocket; others may not.
        assert await socket_opens(api, APP)
        assert await socket_opens(api, LOCAL)
        assert not await socket_opens(api, "https://evil.example")


async def test_every_origin_when_asked_for(settings: Settings, database_url: str) -> None:
    await create_admin(database_url)
    async with serve(replace(settings, cors_origins=("*",)), database_url) as (api, _):
        allowed = await preflight(api, "https://anyone.example")
        assert allowed.status_code == 204
        assert allowed.headers["access-control-allow-origin"] == "*"
        for origin in ("https://anyone.example", None):
            answered = await post(api, "{ __typename }", origin=origin)
            assert answered.headers["access-control-allow-origin"] == "*"
            assert "vary" not in answered.headers  # the same answer for every origin
            secured(answered)
        assert await socket_opens(api, "https://anyone.example")


def _inline_scripts(page: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", page, re.DOTALL)


async def test_graphiql_runs_its_own_scripts_and_nothing_else(api: Api) -> None:
    page = await api.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = dict(
        (directive.split()[0], directive.split()[1:])
        for directive in page.headers["content-security-policy"].split("; ")
    )
    # Its scripts: those it loads (each from an origin the policy names), and its inline
    # ones, each allowed by its hash: another script injected into the page would not run.
    inline = _inline_scripts(page.text)
    assert inline
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"]
    for source in re.findall(r'<script[^>]*\ssrc="([^"]+)"', page.text):
        parts = urlsplit(source)
        assert f"{parts.scheme}://{parts.netloc}" in policy["script-src"], source
    for sheet in re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', page.text):
        parts = urlsplit(sheet)
        assert f"{parts.scheme}://{parts.netloc}" in policy["style-src"], sheet
    # It talks to this server only (queries by fetch, subscriptions by WebSocket), and is
    # framed nowhere.
    assert policy["connect-src"] == ["'self'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for name, value in SECURITY.items():
        assert page.headers[name] == value
    # The API's answers keep the strict policy.
    secured(await api.http.post("/graphql", json={"query": "{ __typename }"}))


async def test_hsts_only_when_asked_for_and_security_headers_can_be_left_to_a_proxy(
    settings: Settings, database_url: str
) -> None:
    await create_admin(database_url)
    plain = replace(settings, security_headers=False, hsts_seconds=31_536_000)
    async with serve(plain, database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        for response in (
            await post(api, ME, token),
            await api.http.get("/health"),
            await api.http.get("/graphql", headers={"Accept": "text/html"}),
        ):
            assert response.status_code == 200
            assert response.headers["strict-transport-security"] == "max-age=31536000"
            for name in ("x-content-type-options", "referrer-policy", "x-frame-options"):
                assert name not in response.headers
            assert "content-security-policy" not in response.headers
            # Answers hold customer data whatever a proxy adds: never stored.
            assert response.headers["cache-control"] == "no-store"


def test_the_settings_are_checked_and_origins_written_as_browsers_send_them(
    settings: Settings,
) -> None:
    base = {"TANDEM_DATA_DIR": str(settings.data_dir), "TANDEM_SECRET_KEY": "x" * 32}
    defaults = load_settings(base)
    assert (defaults.cors_origins, defaults.security_headers, defaults.hsts_seconds) == (
        (),
        True,
        0,
    )
    given = " HTTPS://App.Example.com:443/ ,http://localhost:3000, http://[::1]:80,"
    origins = load_settings({**base, "TANDEM_CORS_ORIGINS": given}).cors_origins
    assert origins == ("https://app.example.com", "http://localhost:3000", "http://[::1]")
    assert load_settings({**base, "TANDEM_CORS_ORIGINS": "*"}).cors_origins == ("*",)
    for wrong in (
        "app.example.com",
        "https://app.example.com/graphql",
        "ftp://app.example.com",
        "null",
        "https://user@app.example.com",
        "https://app.example.com:99999",
        f"*,{APP}",
    ):
        with pytest.raises(SettingsError, match="TANDEM_CORS_ORIGINS"):
            load_settings({**base, "TANDEM_CORS_ORIGINS": wrong})
    with pytest.raises(SettingsError, match="TANDEM_HSTS_SECONDS"):
        load_settings({**base, "TANDEM_HSTS_SECONDS": "-1"})
    with pytest.raises(SettingsError, match="TANDEM_SECURITY_HEADERS"):
        load_settings({**base, "TANDEM_SECURITY_HEADERS": "sometimes"})
