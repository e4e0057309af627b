"""The Strawberry schema with its safety and caching extensions."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from app.graphql.documents import ParsedDocuments
from app.graphql.execution import EventExecutionContext
from app.graphql.limits import MAX_BATCH_OPERATIONS, DocumentLimits
from app.graphql.mutations.activities import ActivityMutations
from app.graphql.mutations.opportunities import OpportunityMutations
from app.graphql.mutations.orders import OrderMutations
from app.graphql.mutations.parties import PartyMutations
from app.graphql.mutations.people import PeopleMutations
from app.graphql.mutations.pipeline import PipelineMutations
from app.graphql.mutations.views import ViewMutations
from app.graphql.order_queries import OrderQueries
from app.graphql.queries import Query
from app.graphql.scalars import SCALAR_MAP
from app.graphql.subscriptions import Subscription
from app.graphql.types.activities import ACTIVITY_TYPES
from app.graphql.types.opportunities import Opportunity, Participant
from app.graphql.types.parties import Company, Contact
from app.graphql.types.people import Team, User
from app.graphql.types.pipeline import Folder, LostReason, Stage
from app.graphql.view_queries import ViewQueries

log = logging.getLogger(__name__)

Queries = merge_types("Query", (Query, OrderQueries, ViewQueries))
Mutation = merge_types(
    "Mutation",
    (
        PeopleMutations,
        OpportunityMutations,
        PipelineMutations,
        PartyMutations,
        ActivityMutations,
        OrderMutations,
        ViewMutations,
    ),
)


# Strawberry's refusals of an operation it will not run (a query on a subscription-only
# transport, an operation name the document lacks): the client's mistake, said as such.
_REFUSALS: dict[type[Exception], str] = {
    InvalidOperationTypeError: "OPERATION_NOT_ALLOWED",
    CannotGetOperationTypeError: "UNKNOWN_OPERATION",
    MissingQueryError: "MISSING_QUERY",
}


def _refusal_code(error: GraphQLError) -> str | None:
    return _REFUSALS.get(type(error.original_error)) if error.original_error else None


def _is_unexpected(error: GraphQLError) -> bool:
    # Errors we raise on purpose are GraphQLErrors with a code; anything else escaping a
    # resolver is a bug whose details (SQL, paths, stack) must never reach the client.
    original = error.original_error
    return (
        original is not None
        and not isinstance(original, GraphQLError)
        and _refusal_code(error) is None
    )


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(
            should_mask_error=lambda error: _is_unexpected(error) or bool(_refusal_code(error)),
            error_message="Internal error.",
        )

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        code = _refusal_code(error)
        if code is not None:
            return GraphQLError(error.message, extensions={"code": code})
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )


class QueryLimits(AddValidationRules):
    """Depth and alias limits (limits.py); a fresh extension per operation, one rule class,
    so the validation cache, which keys on the rules, hits."""

    def __init__(self) -> None:
        super().__init__([DocumentLimits])


class FreshLoaders(SchemaExtension):
    """A WebSocket connection shares one context across operations; each gets its own cache."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if hasattr(context, "fresh_loaders"):
            context.fresh_loaders()
        yield


class TandemSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Client mistakes (bad token, bad ID, syntax) are answered, not logged as failures;
        # only errors that escaped a resolver are the server's, with their traceback.
        for error in errors:
            if _is_unexpected(error):
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        # execute() serves plain HTTP, where a subscription would run its resolver as a
        # query field and fail as an internal error (strawberry#3392). Refusing it here makes
        # the view answer 400; WebSockets subscribe through subscribe() and stream().
        allowed = set(allowed_operation_types or OperationType) - {OperationType.SUBSCRIPTION}
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )


def build_schema() -> strawberry.Schema:
    return TandemSchema(
        query=Queries,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            Opportunity,
            Participant,
            Company,
            Contact,
            User,
            Team,
            Folder,
            Stage,
            LostReason,
            *ACTIVITY_TYPES,
        ],
        config=StrawberryConfig(
            auto_camel_case=True,
            scalar_map=SCALAR_MAP,
            batching_config={"max_operations": MAX_BATCH_OPERATIONS},
        ),
        execution_context_class=EventExecutionContext,
        # Classes or factories, never shared instances: extension state is per operation.
        extensions=[
            ParsedDocuments,
            lambda: ValidationCache(maxsize=512),
            QueryLimits,
            MaskUnexpectedErrors,
            FreshLoaders,
        ],
    )


schema = build_schema()
