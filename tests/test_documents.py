"""Documents: multipart upload, authenticated download, size limit, content-type checks."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from tests.client import Api
from tests.conftest import RunningServer

CREATE = """
mutation($i: CreateOpportunityInput!) {
  createOpportunity(input: $i) { opportunity { id } userErrors { code } }
}"""

UPLOAD = """
mutation($i: UploadDocumentInput!) {
  uploadDocument(input: $i) {
    activity { id kind ... on Document { name contentType size sha256 downloadUrl } }
    userErrors { field code message }
  }
}"""

TIMELINE = """
query($id: ID!) { opportunity(id: $id) { timeline(kinds: [DOCUMENT]) { nodes { kind } } } }"""

PDF = b"%PDF-1.7\n" + b"x" * 2000


async def create(api: Api, token: str, visibility: str = "PUBLIC") -> str:
    payload = await api.mutate(
        "createOpportunity",
        CREATE,
        {
            "i": {
                "name": "Deal",
                "visibility": visibility,
                "expectedValue": {"amount": "10.00", "currency": "EUR"},
            }
        },
        token,
    )
    opportunity_id: str = payload["opportunity"]["id"]
    return opportunity_id


async def upload(
    api: Api,
    token: str,
    opportunity_id: str,
    content: bytes,
    *,
    filename: str = "offer.pdf",
    content_type: str = "application/pdf",
) -> dict[str, Any]:
    operations = {
        "query": UPLOAD,
        "variables": {"i": {"opportunityId": opportunity_id, "file": None}},
    }
    response = await api.http.post(
        "/graphql",
        headers={"Authorization": f"Bearer {token}"},
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.i.file"]})},
        files={"0": (filename, content, content_type)},
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["data"]["uploadDocument"]
    return payload


async def download(api: Api, path: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await api.http.get(path, headers=headers)


async def test_upload_and_download_round_trip_with_its_hash(api: Api, admin_token: str) -> None:
    deal = await create(api, admin_token)
    payload = await upload(api, admin_token, deal, PDF)
    assert payload["userErrors"] == []
    document = payload["activity"]
    assert document["kind"] == "DOCUMENT"
    assert (document["name"], document["contentType"], document["size"]) == (
        "offer.pdf",
        "application/pdf",
        len(PDF),
    )
    assert document["sha256"] == hashlib.sha256(PDF).hexdigest()
    response = await download(api, document["downloadUrl"], admin_token)
    assert response.status_code == 200
    assert response.content == PDF
    assert hashlib.sha256(response.content).hexdigest() == document["sha256"]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"].startswith("attachment;")


async def test_an_oversized_upload_is_refused_and_nothing_is_stored(
    server: RunningServer, api: Api, admin_token: str
) -> None:
    limit = server.settings.max_upload_bytes
    deal = await create(api, admin_token)
    payload = await upload(api, admin_token, deal, b"%PDF-" + b"x" * limit)
    assert payload["activity"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("TOO_LARGE", ["file"])]
    timeline = await api.ok(TIMELINE, {"id": deal}, admin_token)
    assert timeline["opportunity"]["timeline"]["nodes"] == []


async def test_content_that_does_not_match_its_declared_type_is_refused(
    api: Api, admin_token: str
) -> None:
    deal = await create(api, admin_token)
    payload = await upload(api, admin_token, deal, b"MZ\x90\x00 not a pdf")
    assert [e["code"] for e in payload["userErrors"]] == ["INVALID"]


async def test_active_content_is_only_ever_served_as_a_download(api: Api, admin_token: str) -> None:
    deal = await create(api, admin_token)
    html = b"<html><script>alert(1)</script></html>"
    payload = await upload(
        api, admin_token, deal, html, filename="x.html", content_type="text/html"
    )
    response = await download(api, payload["activity"]["downloadUrl"], admin_token)
    assert response.content == html
    assert response.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in response.headers["content-security-policy"]


async def test_an_outsider_is_denied_a_private_opportunitys_document(
    api: Api, admin_token: str
) -> None:
    _, owner = await api.create_user(admin_token, "owner@example.com")
    _, outsider = await api.create_user(admin_token, "outsider@example.com")
    deal = await create(api, owner, visibility="PRIVATE")
    path = (await upload(api, owner, deal, PDF))["activity"]["downloadUrl"]
    assert (await download(api, path, owner)).status_code == 200
    denied = await download(api, path, outsider)
    missing = await download(api, "/documents/999999", outsider)
    assert denied.status_code == missing.status_code == 404
    assert denied.content == missing.content
    assert (await download(api, path, None)).status_code == 401
    assert (await download(api, "/documents/not-a-number", owner)).status_code == 404


async def test_a_string_in_place_of_the_file_is_a_user_error(api: Api, admin_token: str) -> None:
    deal = await create(api, admin_token)
    body = await api.gql(
        """mutation($id: ID!) { uploadDocument(input: {opportunityId: $id, file: "x"}) {
          activity { id } userErrors { field code message } } }""",
        {"id": deal},
        admin_token,
    )
    assert "errors" not in body, body
    payload = body["data"]["uploadDocument"]
    assert payload["activity"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("INVALID", ["file"])]
    assert "multipart" in payload["userErrors"][0]["message"]
    timeline = await api.ok(TIMELINE, {"id": deal}, admin_token)
    assert timeline["opportunity"]["timeline"]["nodes"] == []


async def test_an_upload_without_a_token_is_refused_and_stores_nothing(
    api: Api, admin_token: str
) -> None:
    deal = await create(api, admin_token)
    operations = {
        "query": UPLOAD,
        "variables": {"i": {"opportunityId": deal, "file": None}},
    }
    response = await api.http.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.i.file"]})},
        files={"0": ("offer.pdf", PDF, "application/pdf")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    timeline = await api.ok(TIMELINE, {"id": deal}, admin_token)
    assert timeline["opportunity"]["timeline"]["nodes"] == []
