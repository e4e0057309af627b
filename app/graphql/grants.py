"""What the token a request came with lets it run, beyond what its user may.

A read-only token runs queries and subscriptions; of the mutations only `logout`, which ends
the token itself. A personal token acts for an integration, not a person at a keyboard: it
cannot make more tokens or change its user's password, so a leaked one never widens its own
reach or takes the account over.
"""

from __future__ import annotations

from graphql import GraphQLError

from app.crm.actor import Grant
from app.graphql.cost import Formula

_READ_ONLY_MAY = frozenset({"logout", "__typename"})
_PEOPLE_ONLY = frozenset({"createAccessToken", "changePassword"})


def beyond_grant(formula: Formula, grant: Grant | None) -> GraphQLError | None:
    """Why the operation is beyond the token's grant, if it is."""
    if grant is None or formula.kind != "mutation":
        return None
    if grant.read_only and not formula.roots <= _READ_ONLY_MAY:
        return _forbidden("this token is read-only: it runs queries and subscriptions only")
    if grant.kind == "PERSONAL" and formula.roots & _PEOPLE_ONLY:
        names = ", ".join(sorted(formula.roots & _PEOPLE_ONLY))
        return _forbidden(f"{names} needs a login session, not a personal token")
    return None


def _forbidden(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})
