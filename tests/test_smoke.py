from __future__ import annotations

from tests.client import Api


async def test_me_answers_the_logged_in_user(api: Api, admin_token: str) -> None:
    data = await api.ok("{ me { email role } }", token=admin_token)
    assert data["me"] == {"email": "admin@example.com", "role": "ADMIN"}


async def test_subscription_receives_a_teammates_change(api: Api, admin_token: str) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    async with api.subscriber(member) as sub:
        await sub.subscribe(
            "subscription { opportunityEvents { kind opportunity { name } actor { email } } }"
        )
        await api.mutate(
            "createOpportunity",
            """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
                 opportunity { id } userErrors { code message } } }""",
            {"i": {"name": "Deal", "expectedValue": {"amount": "10.00", "currency": "EUR"}}},
            admin_token,
        )
        event = (await sub.next())["opportunityEvents"]
    assert event == {
        "kind": "CREATED",
        "opportunity": {"name": "Deal"},
        "actor": {"email": "admin@example.com"},
    }
