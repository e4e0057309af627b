"""The Strawberry schema with its safety and caching extensions."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from app.graphql.documents import ParsedDocuments
from app.graphql.execution import EventExecutionContext
from app.graphql.executor.operation import PlanExecutor
from app.graphql.executor.types import TypeNames
from app.graphql.limits import MAX_BATCH_OPERATIONS, DocumentLimits
from app.graphql.masking import MaskUnexpectedErrors, as_client_sees, log_unexpected
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
    """Queries and mutations run through their compiled plans (app/graphql/executor/); the
    standard executor serves what the planner declines, and everything when
    TANDEM_EXECUTOR=standard."""

    plans: PlanExecutor

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)

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
        if _planned(context_value):
            fresh = getattr(context_value, "fresh_loaders", None)
            if fresh is not None:
                fresh()
            result = await self.plans.execute(
                query, variable_values, context_value, root_value, operation_name, allowed
            )
            if result is not None:
                if result.errors:
                    result.errors = as_client_sees(result.errors)
                return result
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )


def _planned(context: Any) -> bool:
    runtime = getattr(context, "runtime", None)
    return runtime is None or runtime.settings.executor == "plan"


def build_schema() -> TandemSchema:
    built = TandemSchema(
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
    built.plans = PlanExecutor(TypeNames(built))
    return built


schema = build_schema()
