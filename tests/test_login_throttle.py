"""The login throttle: failed logins are slowed per account and per client address.

Five wrong passwords for one account, or twenty from one address, block the next attempt for
30 s with TOO_MANY_ATTEMPTS, a retryAfterSeconds and an HTTP Retry-After header; while blocked
even the right password is refused without being checked. A successful login clears the counts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

LOGIN = """
mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    token retryAfterSeconds userErrors { field code message }
  }
}"""


async def attempt(api: Api, email: str, password: str) -> tuple[dict[str, Any], httpx.Response]:
    response = await api.post({"query": LOGIN, "variables": {"email": email, "password": password}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["login"]
    return payload, response


def code(payload: dict[str, Any]) -> str | None:
    errors = payload["userErrors"]
    return errors[0]["code"] if errors else None


async def test_five_wrong_passwords_block_the_account_and_say_for_how_long(api: Api) -> None:
    for _ in range(5):
        payload, response = await attempt(api, ADMIN_EMAIL, "wrong password")
        assert code(payload) == "INVALID_CREDENTIALS"
        assert "retry-after" not in response.headers
    blocked, response = await attempt(api, ADMIN_EMAIL, ADMIN_PASSWORD)  # even the right one
    assert code(blocked) == "TOO_MANY_ATTEMPTS"
    assert blocked["token"] is None
    assert 25 <= blocked["retryAfterSeconds"] <= 30
    assert response.headers["retry-after"] == str(blocked["retryAfterSeconds"])
    assert "try again in" in blocked["userErrors"][0]["message"]


async def test_a_successful_login_clears_the_count(api: Api) -> None:
    for _ in range(4):
        assert code((await attempt(api, ADMIN_EMAIL, "wrong password"))[0]) == "INVALID_CREDENTIALS"
    ok, _ = await attempt(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert ok["token"] and ok["userErrors"] == []
    for _ in range(4):
        assert code((await attempt(api, ADMIN_EMAIL, "wrong password"))[0]) == "INVALID_CREDENTIALS"
    again, _ = await attempt(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert again["token"], again


async def test_a_blocked_account_does_not_block_another(api: Api, admin_token: str) -> None:
    await api.create_user(admin_token, "mia@example.com")
    for _ in range(5):
        await attempt(api, ADMIN_EMAIL, "wrong password")
    assert code((await attempt(api, ADMIN_EMAIL, ADMIN_PASSWORD))[0]) == "TOO_MANY_ATTEMPTS"
    mia, _ = await attempt(api, "mia@example.com", "correct horse battery")
    assert mia["token"], mia


async def test_unknown_accounts_are_counted_like_known_ones(api: Api) -> None:
    # Otherwise the throttle would tell which e-mail addresses have accounts.
    for _ in range(5):
        assert code((await attempt(api, "nobody@example.com", "guess"))[0]) == "INVALID_CREDENTIALS"
    assert code((await attempt(api, "NOBODY@example.com", "guess"))[0]) == "TOO_MANY_ATTEMPTS"


async def test_twenty_failures_from_one_address_block_it_for_every_account(
    api: Api, admin_token: str
) -> None:
    for i in range(20):
        payload, _ = await attempt(api, f"guess{i}@example.com", "guess")
        assert code(payload) == "INVALID_CREDENTIALS", (i, payload)
    blocked, response = await attempt(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert code(blocked) == "TOO_MANY_ATTEMPTS"
    assert int(response.headers["retry-after"]) > 0
    # Tokens already issued go on working: only logging in is throttled.
    me = await api.ok("{ me { email } }", token=admin_token)
    assert me["me"]["email"] == ADMIN_EMAIL


async def test_a_burst_of_guesses_gets_no_more_tries_than_one_at_a_time(api: Api) -> None:
    # Each attempt is counted before its password is checked, so twenty at once cannot all
    # slip in before the first failure is recorded.
    results = await asyncio.gather(*(attempt(api, ADMIN_EMAIL, f"guess {i}") for i in range(20)))
    codes = sorted(str(code(payload)) for payload, _ in results)
    assert codes.count("INVALID_CREDENTIALS") == 5, codes
    assert codes.count("TOO_MANY_ATTEMPTS") == 15, codes


async def test_hostile_e_mails_are_failed_logins_not_errors(api: Api) -> None:
    for email in ("a\x00b@example.com", "x" * 5000, "", "  "):
        payload, _ = await attempt(api, email, "whatever")
        assert code(payload) == "INVALID_CREDENTIALS", (email[:20], payload)
