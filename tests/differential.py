"""Differential checking: the plan executor must answer exactly as graphql-core's does.

With TANDEM_TEST_DIFFERENTIAL=1 the `server` fixture (conftest.py) also runs a twin of the
server under test, on the same database with `executor="standard"`, and the test client's HTTP
transport is a `Mirror`: every request whose operation is a query goes to the server under
test and then, with the same headers and bytes, to the twin; the two answers must be the same
(status, `data` exactly, `errors` as a multiset: the plan executor fills the result level by
level, so the order of errors may differ). A difference fails the test with both bodies.

Mutations, subscriptions, batches, uploads and documents that do not parse are not sent twice.
A query that overlapped such a request on the same client is not compared either: the data may
have changed between the two answers.
"""

from __future__ import annotations

import difflib
import json
import os
from collections import Counter
from typing import Any

import httpx
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

ENABLED_BY = "TANDEM_TEST_DIFFERENTIAL"

TOTALS: Counter[str] = Counter()
"""Over the session: queries compared, and left uncompared because they overlapped a write."""


def enabled() -> bool:
    return os.environ.get(ENABLED_BY, "").strip().lower() in ("1", "true", "yes", "on")


class ExecutorsDiffer(Exception):
    """The two executors answered the same request differently.

    Not an AssertionError: a test expecting one (pytest.raises(AssertionError)) must not
    swallow it.
    """


def is_query(body: object) -> bool:
    """Whether a request body runs a query operation: the operation it names (or its only
    one) is a query, or, where the server cannot tell which one runs, every operation is."""
    if not isinstance(body, dict):
        return False
    query = body.get("query")
    if not isinstance(query, str):
        return False
    try:
        document = parse(query)
    except (GraphQLError, RecursionError):
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        return False
    name = body.get("operationName")
    chosen: OperationDefinitionNode | None = None
    if isinstance(name, str):
        chosen = next((o for o in operations if o.name and o.name.value == name), None)
    elif name is None and len(operations) == 1:
        chosen = operations[0]
    if chosen is not None:
        return chosen.operation is OperationType.QUERY
    return all(o.operation is OperationType.QUERY for o in operations)


def request_body(request: httpx.Request) -> object | None:
    """The GraphQL request a POST or GET to /graphql carries, as far as it is one."""
    if request.url.path != "/graphql":
        return None
    if request.method == "GET":
        params = request.url.params
        if "query" not in params:
            return None
        return {"query": params["query"], "operationName": params.get("operationName")}
    if request.method != "POST":
        return None
    if request.headers.get("content-type", "").startswith("multipart/"):
        return None  # an upload
    try:
        body: object = json.loads(request.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return body


def comparable(status: int, content: bytes) -> dict[str, Any]:
    """An answer as the comparison sees it: errors sorted, so that they compare as a multiset."""
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {"status": status, "text": content.decode(errors="replace")}
    if isinstance(body, list):  # a batch
        return {"status": status, "body": [_comparable_result(item) for item in body]}
    return {"status": status, "body": _comparable_result(body)}


def _comparable_result(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        body = {**body, "errors": sorted((_unnumbered(e) for e in body["errors"]), key=canonical)}
    if isinstance(body, dict) and isinstance(body.get("extensions"), dict):
        # What the request cost, and what its spender has left: the request's, not the
        # executor's (each server keeps its own budget).
        extensions = {k: v for k, v in body["extensions"].items() if k != "cost"}
        body = {k: v for k, v in body.items() if k != "extensions"}
        if extensions:
            body["extensions"] = extensions
    return body


def _unnumbered(error: Any) -> Any:
    """An error without the id of the request it answered (each server numbers its own)."""
    if not isinstance(error, dict) or not isinstance(error.get("extensions"), dict):
        return error
    extensions = {k: v for k, v in error["extensions"].items() if k != "requestId"}
    return {**error, "extensions": extensions}


def agree(plan: dict[str, Any], standard: dict[str, Any]) -> bool:
    """Whether two answers (as `comparable` has them) are the same.

    Exactly the same, but for one thing the standard executor leaves to chance: when two
    sibling fields fail and a null climbs above both, graphql-core reports the error of the
    one that failed first in time and cancels the other, so which field's path and location
    an error names varies between runs. Answers whose data agree and whose errors agree in
    everything but path and locations are the same.
    """
    if plan == standard:
        return True
    ours, theirs = plan.get("body"), standard.get("body")
    if plan["status"] != standard["status"] or not (
        isinstance(ours, dict) and isinstance(theirs, dict)
    ):
        return False
    if {k: v for k, v in ours.items() if k != "errors"} != {
        k: v for k, v in theirs.items() if k != "errors"
    }:
        return False

    def said(body: dict[str, Any]) -> Counter[str]:
        return Counter(
            canonical({k: v for k, v in error.items() if k not in ("path", "locations")})
            for error in body.get("errors") or []
            if isinstance(error, dict)
        )

    return said(ours) == said(theirs)


EXTRA_ERRORS = (
    "the same data; the plan executor reports every error the standard one does, and more"
)
FEWER_ERRORS = "the same data; the plan executor reports only some of the standard one's errors"
OTHER = "other differences"


def kind_of(plan: dict[str, Any], standard: dict[str, Any]) -> str:
    """What sort of difference there is between two answers (as `comparable` has them)."""
    ours, theirs = plan.get("body"), standard.get("body")
    if plan["status"] != standard["status"] or not (
        isinstance(ours, dict) and isinstance(theirs, dict)
    ):
        return OTHER
    if {k: v for k, v in ours.items() if k != "errors"} != {
        k: v for k, v in theirs.items() if k != "errors"
    }:
        return OTHER
    mine = Counter(canonical(e) for e in ours.get("errors") or [])
    other = Counter(canonical(e) for e in theirs.get("errors") or [])
    if other < mine:
        return EXTRA_ERRORS
    if mine < other:
        return FEWER_ERRORS
    return OTHER


def report(found: list[tuple[str, str]], shown: int = 5) -> str:
    """Differences (kind, description) grouped by kind: the first `shown` of each in full."""
    kinds: dict[str, list[str]] = {}
    for kind, description in found:
        kinds.setdefault(kind, []).append(description)
    parts = []
    for kind, descriptions in kinds.items():
        parts.append(f"=== {len(descriptions)} answered differently: {kind}")
        parts += descriptions[:shown]
        if len(descriptions) > shown:
            parts.append(f"(and {len(descriptions) - shown} more of this kind)")
    return "\n\n".join(parts)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def describe(request: object, plan: dict[str, Any], standard: dict[str, Any], who: str = "") -> str:
    """A difference, readable: the request, a unified diff, both answers."""
    diff = "\n".join(
        difflib.unified_diff(
            pretty(plan).splitlines(),
            pretty(standard).splitlines(),
            "plan executor",
            "standard executor",
            lineterm="",
        )
    )
    shown = pretty(request)
    if len(shown) > 3000:
        shown = shown[:3000] + "\n…"
    both = f"plan:\n{pretty(plan)}\nstandard:\n{pretty(standard)}"
    if len(both) > 20000:
        both = both[:20000] + "\n…"
    heading = f"the executors answer differently{f' ({who})' if who else ''}"
    return f"{heading}\nrequest:\n{shown}\ndiff:\n{diff}\n{both}"


class Mirror(httpx.AsyncBaseTransport):
    """The test client's transport: queries go to the server under test, then to the twin."""

    def __init__(self, twin: httpx.AsyncClient) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._twin = twin
        self._writing = 0
        """Requests in flight that may change data (anything but a mirrored query)."""
        self._writes = 0
        """Changes of `_writing`: a query that saw it move may have seen two states."""
        self.compared = 0
        self.overlapped = 0
        self.differences: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request_body(request)
        if not is_query(body):
            if request.url.path != "/graphql":
                return await self._inner.handle_async_request(request)
            self._writing += 1
            self._writes += 1
            try:
                return await self._inner.handle_async_request(request)
            finally:
                self._writing -= 1
                self._writes += 1
        quiet = self._writing == 0
        writes = self._writes
        response = await self._inner.handle_async_request(request)
        try:
            content = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        twin = await self._twin.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            headers=[
                (key, value)
                for key, value in request.headers.multi_items()
                if key.lower() not in ("host", "content-length")
            ],
            content=request.content,
        )
        answer = httpx.Response(response.status_code, headers=response.headers, content=content)
        if not quiet or writes != self._writes:
            self.overlapped += 1
            TOTALS["overlapped a write"] += 1
        else:
            self.compared += 1
            TOTALS["compared"] += 1
            plan = comparable(answer.status_code, answer.content)
            standard = comparable(twin.status_code, twin.content)
            if not agree(plan, standard):
                message = describe(body, plan, standard)
                self.differences.append(message)
                raise ExecutorsDiffer(message)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(content),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
