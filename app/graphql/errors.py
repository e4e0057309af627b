"""Errors as the API shows them.

Expected failures are `UserError`s in a mutation's payload; unauthenticated requests and bad
arguments to queries are top-level GraphQL errors with `extensions.code`.
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from app.crm.errors import DomainError, ErrorCode

UserErrorCode = strawberry.enum(
    ErrorCode, name="UserErrorCode", description="Why a mutation did not change anything."
)


@strawberry.type(description="An expected failure: nothing was changed.")
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, when there is one."
    )
    code: ErrorCode
    message: str

    @classmethod
    def of(cls, error: DomainError) -> UserError:
        return cls(field=error.field, code=error.code, message=error.message)


def unauthenticated() -> GraphQLError:
    return GraphQLError(
        "authentication required: log in and send the token as 'Authorization: Bearer <token>'",
        extensions={"code": "UNAUTHENTICATED"},
    )


def admins_only() -> GraphQLError:
    return GraphQLError("only admins may read this", extensions={"code": "FORBIDDEN"})


def bad_input(error: DomainError) -> GraphQLError:
    extensions: dict[str, object] = {"code": "BAD_USER_INPUT", "reason": error.code.value}
    if error.field:
        extensions["field"] = error.field
    return GraphQLError(error.message, extensions=extensions)
