"""Limits on a request's size, each refused with its own code, before anything runs.

A request body past TANDEM_MAX_BODY_BYTES is answered 413 (`REQUEST_TOO_LARGE`) without being
read whole: at once when its Content-Length says so, while it is read when it comes in chunks.
An upload's body has the upload's own limit.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, serve

BODY_LIMIT = 4096
UPLOAD_LIMIT = 64 * 1024

COMPANIES = "{ companies { totalCount } }"
CREATE_COMPANY = """mutation($i: CreateCompanyInput!) {
  createCompany(input: $i) { company { id } userErrors { code } } }"""
CREATE_DEAL = """mutation { createOpportunity(input: {name: "Deal",
  expectedValue: {amount: "10.00", currency: "EUR"}}) { opportunity { id } } }"""
UPLOAD = """mutation($i: UploadDocumentInput!) {
  uploadDocument(input: $i) { activity { id } userErrors { code } } }"""


@pytest.fixture
async def limited(settings: Settings, database_url: str) -> AsyncIterator[tuple[Api, str]]:
    await create_admin(database_url)
    small = replace(settings, max_body_bytes=BODY_LIMIT, max_upload_bytes=UPLOAD_LIMIT)
    async with serve(small, database_url) as (api, _):
        yield api, await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)


def refused_as_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/json")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert "at most" in error["message"]


async def company_count(api: Api, token: str) -> int:
    count: int = (await api.ok(COMPANIES, token=token))["companies"]["totalCount"]
    return count


def create_body(name: str) -> dict[str, Any]:
    return {"query": CREATE_COMPANY, "variables": {"i": {"name": name}}}


async def test_a_body_past_the_limit_is_refused_and_changes_nothing(
    limited: tuple[Api, str],
) -> None:
    api, token = limited
    headers = {"Authorization": f"Bearer {token}"}
    response = await api.http.post("/graphql", json=create_body("x" * BODY_LIMIT), headers=headers)
    refused_as_too_large(response)
    # A batch is held to the same limit, whatever its operations.
    batch = [create_body("y" * (BODY_LIMIT // 4)) for _ in range(5)]
    refused_as_too_large(await api.http.post("/graphql", json=batch, headers=headers))
    assert await company_count(api, token) == 0
    # Just under it, the same mutation runs.
    response = await api.http.post("/graphql", json=create_body("Acme"), headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["createCompany"]["userErrors"] == []
    assert await company_count(api, token) == 1


async def test_a_body_sent_in_chunks_is_refused_once_past_the_limit(
    limited: tuple[Api, str],
) -> None:
    api, token = limited

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the server learns the size only as it reads, and must stop.
        body = json.dumps(create_body("z" * (BODY_LIMIT * 64))).encode()
        for start in range(0, len(body), 1024):
            yield body[start : start + 1024]

    response = await api.http.post(
        "/graphql",
        content=chunks(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    refused_as_too_large(response)
    assert await company_count(api, token) == 0


async def test_an_upload_has_its_own_limit(limited: tuple[Api, str]) -> None:
    api, token = limited
    deal = (await api.ok(CREATE_DEAL, token=token))["createOpportunity"]["opportunity"]["id"]

    async def upload(size: int) -> httpx.Response:
        operations = {"query": UPLOAD, "variables": {"i": {"opportunityId": deal, "file": None}}}
        return await api.http.post(
            "/graphql",
            headers={"Authorization": f"Bearer {token}"},
            data={
                "operations": json.dumps(operations),
                "map": json.dumps({"0": ["variables.i.file"]}),
            },
            files={"0": ("offer.pdf", b"%PDF-" + b"x" * size, "application/pdf")},
        )

    # Larger than any other body may be, within the upload's limit: stored.
    response = await upload(BODY_LIMIT * 4)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["uploadDocument"]["userErrors"] == []
    # Past the upload's limit, but within the room left for the request's other parts: the
    # mutation says so, as it always has.
    response = await upload(UPLOAD_LIMIT)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["uploadDocument"]["userErrors"] == [{"code": "TOO_LARGE"}]
    # Far past it: not read.
    refused_as_too_large(await upload(UPLOAD_LIMIT + 2 * 1024 * 1024))


def aliases(count: int) -> str:
    return "{ " + " ".join(f"a{n}: me {{ id }}" for n in range(count)) + " }"


def nested(levels: int) -> str:
    """A document `levels` selections deep (a `me` whose team's members' teams ...)."""
    inner = "id"
    for _ in range(levels - 1):
        inner = f"teams {{ members {{ {inner} }} }}"
    return "{ me { " + inner + " } }"


def refusal(body: dict[str, Any]) -> tuple[str, int]:
    assert body.get("data") is None, body
    [error] = body["errors"]
    return error["extensions"]["code"], error["extensions"]["limit"]


async def test_each_document_limit_is_the_configured_one(
    settings: Settings, database_url: str
) -> None:
    await create_admin(database_url)
    tight = replace(
        settings,
        max_aliases=3,
        max_depth=4,
        max_tokens=200,
        max_batch_operations=2,
        max_page_size=7,
    )
    async with serve(tight, database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert "errors" not in await api.gql(aliases(3), token=token)
        assert refusal(await api.gql(aliases(4), token=token)) == ("TOO_MANY_ALIASES", 3)
        assert refusal(await api.gql(nested(5), token=token)) == ("QUERY_TOO_DEEP", 4)
        long = "{ me { " + "id " * 200 + "} }"
        assert refusal(await api.gql(long, token=token)) == ("TOO_MANY_TOKENS", 200)
        batch = [{"query": "{ me { id } }"}] * 3
        response = await api.http.post(
            "/graphql", json=batch, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 400, response.text
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "BATCH_TOO_LARGE"
        assert "at most 2 operations" in error["message"]
        assert "errors" not in await api.gql("{ companies(first: 7) { totalCount } }", token=token)
        page = await api.gql("{ companies(first: 8) { totalCount } }", token=token)
        [error] = page["errors"]
        assert error["extensions"]["reason"] == "OUT_OF_RANGE", error
        assert error["message"] == "first must be between 0 and 7"
    # The defaults again: what the tight limits refused is not remembered as refused.
    async with serve(settings, database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert "errors" not in await api.gql(aliases(4), token=token)
        assert "errors" not in await api.gql(nested(5), token=token)
        assert refusal(await api.gql(aliases(101), token=token)) == ("TOO_MANY_ALIASES", 100)
        assert "errors" not in await api.gql(
            "{ companies(first: 100) { totalCount } }", token=token
        )


PAGE = """{ opportunities(first: 100) { totalCount nodes { id name owner { name }
  stage { name } participants { role target { __typename ... on Company { name } } }
  timeline(first: 5) { nodes { __typename } } } } }"""


async def test_a_query_past_the_time_limit_is_stopped_and_mutations_run_to_their_end(
    settings: Settings, database_url: str
) -> None:
    await create_admin(database_url)
    hasty = replace(settings, operation_timeout_seconds=0.001)
    async with serve(hasty, database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        deals = " ".join(
            f'd{n}: createOpportunity(input: {{name: "Deal {n}", expectedValue: '
            f'{{amount: "{n}.00", currency: "EUR"}}}}) {{ opportunity {{ id }} }}'
            for n in range(40)
        )
        created = await api.ok(f"mutation {{ {deals} }}", token=token)  # not cut off
        assert len(created) == 40
        for _ in range(3):
            assert refusal(await api.gql(PAGE, token=token)) == ("OPERATION_TIMEOUT", 0.001)
        # Stopped queries leave nothing broken behind: the server goes on serving.
        made = await api.ok(CREATE_COMPANY, {"i": {"name": "After"}}, token)
        assert made["createCompany"]["userErrors"] == []
    async with serve(settings, database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        page = (await api.ok(PAGE, token=token))["opportunities"]
        assert page["totalCount"] == 40 and len(page["nodes"]) == 40
        assert await company_count(api, token) == 1
