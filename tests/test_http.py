"""The HTTP surface: whatever a client sends, it gets a clear 4xx or a GraphQL error, never a 500.

Covers issue 2 point 10 (malformed JSON and non-GraphQL requests get 400) and the API's conventions
(nothing a client sends may produce a stack trace), plus /health and /metrics.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.client import Api, without_cost

ME = "{ me { id } }"
SUBSCRIPTION = "subscription { opportunityEvents { kind } }"
# 13 levels of selection: one more than the server's depth limit of 12.
TOO_DEEP = "{ me { " + "teams { members { " * 6 + "id" + " } }" * 6 + " } }"
TOO_DEEP_VIA_FRAGMENT = (
    "fragment Deep on User { " + "teams { members { " * 6 + "id" + " } }" * 6 + " } "
    "{ me { ...Deep } }"
)
MANY_ALIASES = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(101)) + " }"


def json_headers(token: str | None = None) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def assert_no_traceback(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert "Traceback" not in response.text, response.text
    assert 'File "' not in response.text, response.text


async def post_raw(api: Api, content: bytes, headers: dict[str, str]) -> httpx.Response:
    response = await api.http.post("/graphql", content=content, headers=headers)
    assert_no_traceback(response)
    return response


def error_messages(body: dict[str, Any]) -> list[str]:
    return [error["message"] for error in body.get("errors") or []]


def error_codes(body: dict[str, Any]) -> list[str | None]:
    return [(error.get("extensions") or {}).get("code") for error in body.get("errors") or []]


async def test_malformed_json_is_400(api: Api, admin_token: str) -> None:
    response = await post_raw(api, b'{"query": "{ me { id } }"', json_headers(admin_token))
    assert response.status_code == 400


async def test_empty_body_is_400(api: Api, admin_token: str) -> None:
    response = await post_raw(api, b"", json_headers(admin_token))
    assert response.status_code == 400


async def test_json_object_without_a_query_is_400(api: Api, admin_token: str) -> None:
    response = await post_raw(api, b"{}", json_headers(admin_token))
    assert response.status_code == 400


async def test_json_body_that_is_not_an_object_is_400_not_500(api: Api, admin_token: str) -> None:
    for body in (b'"{ me { id } }"', b"5", b"null", b"true"):
        response = await post_raw(api, body, json_headers(admin_token))
        assert response.status_code == 400, (body, response.text)


async def test_body_that_is_not_utf8_is_400_not_500(api: Api, admin_token: str) -> None:
    response = await post_raw(api, b'{"query": "\xff\xfe"}', json_headers(admin_token))
    assert response.status_code == 400


async def test_absurdly_nested_json_is_400_not_500(api: Api, admin_token: str) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    body = b'{"query": "{ me { id } }", "variables": {"a": ' + nested + b"}}"
    response = await post_raw(api, body, json_headers(admin_token))
    assert response.status_code == 400


async def test_non_json_content_types_are_refused_with_4xx(api: Api, admin_token: str) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    for content_type in ("text/plain", "application/graphql", "application/x-www-form-urlencoded"):
        response = await post_raw(api, ME.encode(), {**auth, "content-type": content_type})
        assert 400 <= response.status_code < 500, (content_type, response.text)
    response = await post_raw(api, b'{"query": "{ me { id } }"}', auth)
    assert 400 <= response.status_code < 500


async def test_a_batch_runs_each_operation_and_answers_in_order(api: Api, admin_token: str) -> None:
    # Apollo's BatchHttpLink sends a JSON array and expects an array of results back.
    body = json.dumps(
        [{"query": "{ me { email } }"}, {"query": "{ stages { name } }"}, {"query": "{ me { "}]
    ).encode()
    response = await post_raw(api, body, json_headers(admin_token))
    assert response.status_code == 200, response.text
    first, second, third = response.json()
    assert without_cost(first) == {"data": {"me": {"email": "admin@example.com"}}}
    assert second["data"]["stages"] and "errors" not in second
    assert third["data"] is None
    assert third["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_batches_that_cannot_run_are_400_with_a_code(api: Api, admin_token: str) -> None:
    too_many = json.dumps([{"query": "{ me { id } }"}] * 11).encode()
    for body, code in (
        (too_many, "BATCH_TOO_LARGE"),
        (b"[]", "BAD_REQUEST"),
        (b'[{"query": "{ me { id } }"}, 5]', "BAD_REQUEST"),
        (b'[[{"query": "{ me { id } }"}]]', "BAD_REQUEST"),
    ):
        response = await post_raw(api, body, json_headers(admin_token))
        assert response.status_code == 400, (body, response.text)
        assert_graphql_refusal(response, code)


def assert_graphql_refusal(response: httpx.Response, code: str) -> None:
    """A 4xx a GraphQL client can read: JSON with an `errors` list carrying a code."""
    assert response.headers["content-type"].startswith("application/json"), response.headers
    errors = response.json()["errors"]
    assert errors[0]["message"], errors
    assert errors[0]["extensions"]["code"] == code, errors


async def test_every_refused_request_is_graphql_json_with_a_code(
    api: Api, admin_token: str
) -> None:
    auth = json_headers(admin_token)
    for body, code in (
        (b'{"query": "{ me { id } }"', "INVALID_JSON"),
        (b"", "INVALID_JSON"),
        (b'{"query": "\xff\xfe"}', "INVALID_JSON"),
        (b"{}", "MISSING_QUERY"),
        (b"5", "BAD_REQUEST"),
        (b'{"query": 5}', "BAD_REQUEST"),
        (b'{"query": "query A { me { id } }", "operationName": "B"}', "UNKNOWN_OPERATION"),
        (json.dumps({"query": SUBSCRIPTION}).encode(), "OPERATION_NOT_ALLOWED"),
    ):
        response = await post_raw(api, body, auth)
        assert response.status_code == 400, (body, response.text)
        assert_graphql_refusal(response, code)
    response = await post_raw(api, ME.encode(), {**auth, "content-type": "text/plain"})
    assert response.status_code == 400
    assert_graphql_refusal(response, "BAD_REQUEST")
    response = await api.http.put("/graphql", json={"query": ME})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert_graphql_refusal(response, "METHOD_NOT_ALLOWED")


async def test_wrongly_typed_request_members_are_400(api: Api, admin_token: str) -> None:
    for body in (
        b'{"query": 5}',
        b'{"query": "{ me { id } }", "variables": "x"}',
        b'{"query": "{ me { id } }", "extensions": "x"}',
    ):
        response = await post_raw(api, body, json_headers(admin_token))
        assert response.status_code == 400, (body, response.text)


async def test_wrongly_typed_members_of_batched_operations_are_400(
    api: Api, admin_token: str
) -> None:
    for item in (
        {"query": 5},
        {"query": ME, "variables": "x"},
        {"query": ME, "extensions": 5},
        {"query": ME, "operationName": 5},
    ):
        for body in ([{"query": ME}, item], item):
            response = await post_raw(api, json.dumps(body).encode(), json_headers(admin_token))
            assert response.status_code == 400, (body, response.text)
            assert_graphql_refusal(response, "BAD_REQUEST")


async def test_queries_via_get_are_refused_without_500(api: Api, admin_token: str) -> None:
    response = await api.http.get(
        "/graphql", params={"query": ME}, headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert_no_traceback(response)
    assert 400 <= response.status_code < 500
    assert "VXNlcj" not in response.text  # no user ID leaked: the query did not run


async def test_mutations_via_get_are_refused_without_500(api: Api) -> None:
    mutation = 'mutation { login(input: {email: "a@b.cd", password: "x"}) { token } }'
    response = await api.http.get("/graphql", params={"query": mutation})
    assert_no_traceback(response)
    assert 400 <= response.status_code < 500


async def test_other_http_methods_are_refused(api: Api) -> None:
    response = await api.http.put("/graphql", json={"query": ME})
    assert_no_traceback(response)
    assert response.status_code == 405


async def test_syntax_error_is_a_graphql_error_without_stack_trace(
    api: Api, admin_token: str
) -> None:
    body = await api.gql("{ me { id ", token=admin_token)
    assert body["data"] is None
    assert any("Syntax Error" in message for message in error_messages(body)), body
    assert error_codes(body) == ["GRAPHQL_PARSE_FAILED"], body
    assert "Traceback" not in str(body) and "stack" not in str(body).lower()


async def test_unknown_field_is_a_validation_error(api: Api, admin_token: str) -> None:
    body = await api.gql("{ me { id shoeSize } }", token=admin_token)
    assert body["data"] is None
    assert any("shoeSize" in message for message in error_messages(body)), body
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body


async def test_variable_of_the_wrong_type_is_a_graphql_error(api: Api, admin_token: str) -> None:
    query = "query($n: Int) { opportunities(first: $n) { totalCount } }"
    body = await api.gql(query, {"n": "many"}, token=admin_token)
    assert body["data"] is None
    assert any("$n" in message for message in error_messages(body)), body


async def test_unknown_operation_name_is_400(api: Api, admin_token: str) -> None:
    body = b'{"query": "query A { me { id } }", "operationName": "B"}'
    response = await post_raw(api, body, json_headers(admin_token))
    assert response.status_code == 400


async def test_too_deep_query_is_rejected_by_the_depth_limiter(api: Api, admin_token: str) -> None:
    body = await api.gql(TOO_DEEP, token=admin_token)
    assert body["data"] is None
    assert any("depth" in message for message in error_messages(body)), body
    assert error_codes(body) == ["QUERY_TOO_DEEP"], body


async def test_depth_limit_cannot_be_bypassed_through_a_fragment(
    api: Api, admin_token: str
) -> None:
    body = await api.gql(TOO_DEEP_VIA_FRAGMENT, token=admin_token)
    assert body["data"] is None
    assert any("depth" in message for message in error_messages(body)), body


async def test_many_aliases_are_rejected_by_the_alias_limiter(api: Api, admin_token: str) -> None:
    body = await api.gql(MANY_ALIASES, token=admin_token)
    assert body["data"] is None
    assert any("aliases" in message for message in error_messages(body)), body
    assert error_codes(body) == ["TOO_MANY_ALIASES"], body


async def test_a_document_long_because_of_its_aliases_is_refused_for_its_aliases(
    api: Api, admin_token: str
) -> None:
    # 1,000 aliases make 6,000 tokens: the alias limit is the one to name, not the token count.
    many = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(1000)) + " }"
    body = await api.gql(many, token=admin_token)
    assert body["data"] is None
    assert error_codes(body) == ["TOO_MANY_ALIASES"], body
    assert "1000 aliases" in body["errors"][0]["message"], body


async def test_aliases_hidden_in_fragments_count_once_per_spread_without_blowing_up(
    api: Api, admin_token: str
) -> None:
    # Each fragment spreads the next twice: 2^25 aliases through 26 small fragments. Counting
    # them must be quick (each fragment measured once) and refuse the document.
    fragments = " ".join(f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(25))
    query = "{ me { ...F0 } } " + fragments + " fragment F25 on User { x: id }"
    body = await api.gql(query, token=admin_token)
    assert body["data"] is None
    assert "TOO_MANY_ALIASES" in error_codes(body), body


async def test_aliases_in_arguments_and_input_objects_are_not_counted(
    api: Api, admin_token: str
) -> None:
    # Sixty aliases are allowed (a hundred are); `filter: {status: ...}` holds sixty more names
    # and colons that are not aliases.
    fields = " ".join(
        f"a{i}: opportunities(first: 1, filter: {{status: [OPEN]}}) {{ totalCount }}"
        for i in range(60)
    )
    body = await api.gql("{ " + fields + " }", token=admin_token)
    assert "errors" not in body, body


async def test_huge_document_is_rejected_by_the_token_limiter(api: Api, admin_token: str) -> None:
    huge = "{ me { " + "id " * 6000 + "} }"
    body = await api.gql(huge, token=admin_token)
    assert body["data"] is None
    assert any("more than 5000 tokens" in message for message in error_messages(body)), body
    assert error_codes(body) == ["TOO_MANY_TOKENS"], body


async def test_page_size_beyond_the_maximum_is_a_bad_user_input_error(
    api: Api, admin_token: str
) -> None:
    body = await api.gql("{ opportunities(first: 1000) { totalCount } }", token=admin_token)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_health_reports_ok(api: Api) -> None:
    response = await api.http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"


async def test_metrics_are_prometheus_text(api: Api, admin_token: str) -> None:
    await api.ok(ME, token=admin_token)
    response = await api.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split(" ")
            samples[name] = float(value)
    assert "# TYPE tandem_subscriptions gauge" in response.text
    assert samples["tandem_subscriptions"] == 0
    assert "tandem_events_dispatched_total" in samples


async def test_subscription_over_plain_http_is_refused_with_400(api: Api, admin_token: str) -> None:
    # Subscriptions live on the WebSocket; over HTTP Strawberry would run the resolver as a
    # query field and fail with an internal error (strawberry#3392).
    response = await api.post({"query": SUBSCRIPTION}, admin_token)
    assert_no_traceback(response)
    assert response.status_code == 400, response.text
    assert "subscriptions" in response.text


async def test_nul_characters_in_arguments_are_bad_user_input_not_internal_errors(
    api: Api, admin_token: str
) -> None:
    query = "query($s: String) { opportunities(filter: {search: $s}) { totalCount } }"
    body = await api.gql(query, {"s": "deal\x00"}, token=admin_token)
    assert body["data"] is None, body
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body


async def test_websocket_message_that_is_not_a_json_object_closes_with_4400(
    api: Api, admin_token: str
) -> None:
    for message in ("[1]", "5", '"x"', "{not json"):
        async with connect(api.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"token": admin_token}})
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(message)
            try:
                reply = await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4400, (message, closed)
            else:
                raise AssertionError(f"{message!r}: expected a 4400 close, got {reply!r}")
