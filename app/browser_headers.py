"""What every HTTP answer tells browsers: which other origins' pages may read it (CORS) and
what a page may do with it (security headers).

Tokens travel in the `Authorization` header, never in cookies, so a browser never sends a
user's credentials on its own: CORS decides only which pages may call the API and read its
answers, and no answer says `Access-Control-Allow-Credentials`. WebSockets are not CORS's:
Strawberry checks their `Origin` against the same list (app/graphql/endpoint.py).

The server's HTML is GraphiQL's page on GET /graphql; its policy is read off the page itself
(its inline scripts' hashes, the origins it loads from), so it allows that page and no other.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Iterable
from html.parser import HTMLParser
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.graphql.refusals import RequestRefused, refusal

Header = tuple[bytes, bytes]

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "x-request-id",
    # Apollo Client: apollo-upload-client and Apollo Router's CSRF check, client awareness.
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "apollographql-client-name",
    "apollographql-client-version",
)
EXPOSED_HEADERS = "X-Request-Id, Retry-After"
PREFLIGHT_MAX_AGE = 600
"""How long a browser may keep a preflight's answer, in seconds."""
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""The Content-Security-Policy of everything but the page: JSON and text run nothing."""


class _PageParts(HTMLParser):
    """The script and stylesheet origins and the inline scripts of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.script_sources: set[str] = set()
        self.style_sources: set[str] = set()
        self.inline_scripts: list[str] = []
        self._inline: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        given = dict(attrs)
        if tag == "script":
            source = given.get("src")
            if source:
                self.script_sources.add(_source(source))
            else:
                self._inline = []
        elif tag == "link" and (given.get("rel") or "").lower() == "stylesheet":
            self.style_sources.add(_source(given.get("href") or ""))

    def handle_data(self, data: str) -> None:
        if self._inline is not None:
            self._inline.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._inline is not None:
            self.inline_scripts.append("".join(self._inline))
            self._inline = None


def _source(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else "'self'"


def page_policy(html: str) -> str:
    """A Content-Security-Policy that lets `html` run (scripts from where it loads them and
    its own inline ones, by hash) and nothing else. Styles may be inline: GraphiQL's dialogs
    add style elements as they open."""
    parts = _PageParts()
    parts.feed(html)
    parts.close()
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in parts.inline_scripts
    ]
    styles = sorted(parts.style_sources)
    directives = [
        ["default-src", "'none'"],
        ["script-src", *sorted(parts.script_sources), *sorted(set(hashes))],
        ["style-src", *styles, "'unsafe-inline'"],
        ["font-src", *styles, "data:"],
        ["img-src", "'self'", "data:"],
        ["connect-src", "'self'"],  # the API, by fetch and (subscriptions) WebSocket
        ["base-uri", "'none'"],
        ["form-action", "'none'"],
        ["frame-ancestors", "'none'"],
    ]
    return "; ".join(" ".join(directive) for directive in directives)


def _headers(*pairs: tuple[str, str]) -> list[Header]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


class BrowserHeaders:
    """ASGI middleware: answers CORS preflights and completes every HTTP answer's headers.

    Headers an answer sets itself (a download's own Content-Security-Policy) are kept. A
    request without an `Origin` pays for no CORS work unless origins are listed, and then only
    a look through its headers; WebSockets pass untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: Collection[str] = (),
        security_headers: bool = True,
        hsts_seconds: int = 0,
        page: str | None = None,
    ) -> None:
        self.app = app
        self._any_origin = "*" in origins
        self._origins = frozenset(o.encode("latin-1") for o in origins if o != "*")
        defaults = [("cache-control", "no-store")]  # answers hold customer data
        if security_headers:
            defaults += [
                ("x-content-type-options", "nosniff"),
                ("referrer-policy", "no-referrer"),
                ("x-frame-options", "DENY"),
            ]
        if hsts_seconds:
            defaults.append(("strict-transport-security", f"max-age={hsts_seconds}"))
        api_defaults = page_defaults = defaults
        if security_headers:
            api_defaults = [*defaults, ("content-security-policy", API_POLICY)]
            policy = page_policy(page) if page else API_POLICY
            page_defaults = [*defaults, ("content-security-policy", policy)]
        self._api_defaults = _headers(*api_defaults)
        self._page_defaults = _headers(*page_defaults)
        self._watched = frozenset(name for name, _ in self._api_defaults) | {b"content-type"}
        # Answers differ by Origin only when origins are listed: caches must tell them apart.
        self._vary = _headers(("vary", "Origin")) if self._origins else []
        self._exposed = _headers(("access-control-expose-headers", EXPOSED_HEADERS))
        self._preflight = _headers(
            ("access-control-allow-methods", ALLOWED_METHODS),
            ("access-control-allow-headers", ", ".join(ALLOWED_HEADERS)),
            ("access-control-max-age", str(PREFLIGHT_MAX_AGE)),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = None
        preflight = False
        if self._origins or scope["method"] == "OPTIONS":
            for name, value in scope["headers"]:
                if name == b"origin":
                    origin = value
                elif name == b"access-control-request-method":
                    preflight = scope["method"] == "OPTIONS"
        allowed = self._allowed(origin)
        if preflight and origin is not None:
            await self._answer_preflight(allowed, scope, receive, send)
            return
        cors = [*allowed, *self._exposed] if allowed is not None else None

        async def send_completed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._completed(message.get("headers", ()), cors)
            await send(message)

        await self.app(scope, receive, send_completed)

    def _allowed(self, origin: bytes | None) -> list[Header] | None:
        """`Access-Control-Allow-Origin` for `origin`; None: it may not read the answer."""
        if self._any_origin:
            return [(b"access-control-allow-origin", b"*")]
        if origin is not None and origin in self._origins:
            return [(b"access-control-allow-origin", origin)]
        return None

    async def _answer_preflight(
        self, allowed: list[Header] | None, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """204 with what the origin may send; an origin that may not call gets a 403 that
        says why (a browser fails the preflight either way; a person reading the network tab
        learns what to change)."""
        if allowed is None:
            response = refusal(
                RequestRefused(
                    403,
                    "pages on this origin may not call this server "
                    "(TANDEM_CORS_ORIGINS lists the origins that may)",
                    "ORIGIN_NOT_ALLOWED",
                )
            )
            response.raw_headers = self._completed(response.raw_headers, None)
            await response(scope, receive, send)
            return
        headers = self._completed([], [*allowed, *self._preflight])
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def _completed(self, headers: Iterable[Header], cors: list[Header] | None) -> list[Header]:
        completed = list(headers)
        page = own = False
        for name, value in completed:  # ASGI header names are lower case
            if name in self._watched:
                if name == b"content-type":
                    page = value.startswith(b"text/html")
                else:
                    own = True
        defaults = self._page_defaults if page else self._api_defaults
        if own:  # the answer set some itself (a download): those stay as they are
            named = {name for name, _ in completed}
            defaults = [header for header in defaults if header[0] not in named]
        completed += defaults
        completed += self._vary
        if cors is not None:
            completed += cors
        return completed
