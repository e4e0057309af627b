"""The Strawberry schema with its safety and caching extensions."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.datastructures import UploadFile
from strawberry.extensions import (
    AddValidationRules,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StreamResult
from strawberry.tools import merge_types
from strawberry.types.execution import ExecutionContext, ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType

from app.graphql import measured
from app.graphql.access import MEMBERS_REFUSED, SIGNED_OUT
from app.graphql.cost import Formula, rate_limited, too_costly
from app.graphql.deadlines import Deadlines
from app.graphql.documents import ParsedDocuments
from app.graphql.errors import admins_only, unauthenticated
from app.graphql.executor.operation import PlanExecutor
from app.graphql.executor.types import TypeNames
from app.graphql.grants import beyond_grant
from app.graphql.inbox import InboxSubscriptions
from app.graphql.limits import document_rules, too_slow
from app.graphql.masking import MaskUnexpectedErrors, as_client_sees, log_unexpected
from app.graphql.mutations.activities import ActivityMutations
from app.graphql.mutations.inbox import InboxMutations
from app.graphql.mutations.opportunities import OpportunityMutations
from app.graphql.mutations.orders import OrderMutations
from app.graphql.mutations.parties import PartyMutations
from app.graphql.mutations.people import PeopleMutations
from app.graphql.mutations.persisted import PersistedQueryMutations
from app.graphql.mutations.pipeline import PipelineMutations
from app.graphql.mutations.tokens import TokenMutations
from app.graphql.mutations.views import ViewMutations
from app.graphql.persisted.protocol import Refused
from app.graphql.presence import PresenceMutations, PresenceSubscriptions
from app.graphql.queries import Queries
from app.graphql.scalars import SCALAR_MAP
from app.graphql.subscriptions import EventSubscriptions
from app.graphql.types.activities import ACTIVITY_TYPES
from app.graphql.types.opportunities import Opportunity, Participant
from app.graphql.types.parties import Company, Contact
from app.graphql.types.people import Team, User
from app.graphql.types.pipeline import Folder, LostReason, Stage
from app.settings import MOST_BATCH_OPERATIONS

log = logging.getLogger(__name__)

Mutation = merge_types(
    "Mutation",
    (
        PeopleMutations,
        TokenMutations,
        OpportunityMutations,
        PipelineMutations,
        PartyMutations,
        ActivityMutations,
        OrderMutations,
        ViewMutations,
        PersistedQueryMutations,
        PresenceMutations,
        InboxMutations,
    ),
)

Subscription = merge_types(
    "Subscription", (EventSubscriptions, PresenceSubscriptions, InboxSubscriptions)
)


class QueryLimits(AddValidationRules):
    """Depth and alias limits (limits.py); a fresh extension per operation, one rule class
    per limits, so the validation cache, which keys on the rules, hits."""

    def __init__(self) -> None:
        super().__init__(list(document_rules()))


class TandemSchema(strawberry.Schema):
    """Queries, mutations and subscriptions run through their compiled plans
    (app/graphql/executor/); the standard executor serves what the planner declines (and
    answers documents in error), and everything when TANDEM_EXECUTOR=standard."""

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
        # the view answer 400; WebSockets subscribe through stream().
        allowed = set(allowed_operation_types or OperationType) - {OperationType.SUBSCRIPTION}
        started = time.perf_counter()
        try:
            query = _document(query, operation_extensions, context_value)
        except Refused as refused:
            _refused_status(context_value, refused.status)
            result = ExecutionResult(data=None, errors=[refused.error])
        else:
            result = await self._execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed,
                operation_extensions,
            )
        seconds = time.perf_counter() - started
        measured.answered(self.plans, context_value, query, operation_name, result, seconds)
        return result

    async def _execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None,
        context_value: Any,
        root_value: Any,
        operation_name: str | None,
        allowed: set[OperationType],
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        _fresh_reads(context_value, remember=True)
        formula = self.plans.formula(query, operation_name)  # None for an ambiguous one too
        if formula is None and self.plans.ambiguous(query, operation_name):
            message = "Must provide operation name if query contains multiple operations."
            return ExecutionResult(data=None, errors=[GraphQLError(message)])
        first = _access_first(formula, context_value)
        if first is not None:
            await _close_uploads(variable_values)
            return ExecutionResult(data=None, errors=[first])
        priced = self._price(formula, variable_values, context_value)
        if isinstance(priced, GraphQLError):
            await _close_uploads(variable_values)
            return ExecutionResult(data=None, errors=[priced])
        # Only queries are stopped past their time: a mutation cut off at its commit might
        # have committed or not, and its client could not know which.
        watch = _watch(context_value) if formula is not None and formula.kind == "query" else None
        if watch is not None:
            watch[0].watch(watch[1])
        try:
            result = None
            if _planned(context_value):
                result = await self.plans.execute(
                    query, variable_values, context_value, root_value, operation_name, allowed
                )
                if result is not None and result.errors:
                    result.errors = as_client_sees(result.errors)
            if result is None:
                result = await super().execute(
                    query,
                    variable_values,
                    context_value,
                    root_value,
                    operation_name,
                    allowed,
                    operation_extensions,
                )
        except asyncio.CancelledError:
            if watch is None or not watch[0].stopped(watch[1]):
                raise
            watch[1].uncancel()
            result = ExecutionResult(data=None, errors=[too_slow(watch[0].limit)])
        finally:
            if watch is not None:
                watch[0].done(watch[1])
        if priced is not None:
            result.extensions = {**(result.extensions or {}), "cost": priced}
        return result

    def _price(
        self, formula: Formula | None, variables: dict[str, Any] | None, context: Any
    ) -> dict[str, int] | GraphQLError | None:
        """What the operation costs and what its spender has left (app/graphql/cost.py), or
        why it may not run; None when it has no cost to tell (a document in error)."""
        runtime = getattr(context, "runtime", None)
        if runtime is None or formula is None:
            return None
        settings = runtime.settings
        cost = formula.cost(variables if isinstance(variables, dict) else None)
        if cost > settings.max_query_cost:
            return too_costly(cost, settings.max_query_cost)
        actor = context.actor
        spender = actor.user_id if actor is not None else ("address", context.client_address)
        spent, left, wait = runtime.budgets.spend(spender, cost)
        if not spent:
            error = rate_limited(cost, runtime.budgets.per_minute, wait)
            retry = str((error.extensions or {})["retryAfterSeconds"])
            _refused_status(context, 429, {"Retry-After": retry})
            return error
        return {
            "requested": cost,
            "limit": settings.max_query_cost,
            "remaining": left,
            "perMinute": runtime.budgets.per_minute,
        }

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        """What a WebSocket runs: any operation, a subscription as a stream of results."""
        allowed = set(allowed_operation_types or OperationType)
        try:
            query = _document(query, operation_extensions, context_value)
        except Refused as refused:
            return _refused_stream(refused.error)
        if self.plans.ambiguous(query, operation_name):
            return self._once(
                query, variable_values, context_value, root_value, operation_name, allowed
            )
        kind = self.plans.kind_of(query, operation_name)
        if kind is OperationType.SUBSCRIPTION:
            # Refused, and its cost paid, when it starts (the other operations' in execute()).
            formula = self.plans.formula(query, operation_name)
            first = _access_first(formula, context_value)
            if first is None:
                priced = self._price(formula, variable_values, context_value)
                if isinstance(priced, GraphQLError):
                    first = priced
            measured.subscribed(self.plans, context_value, query, operation_name, first is None)
            if first is not None:
                return _refused_stream(first)
        if _planned(context_value):
            if kind is OperationType.SUBSCRIPTION and kind in allowed:
                _fresh_reads(context_value, remember=True)
                events = self.plans.subscription(
                    query, variable_values, context_value, root_value, operation_name
                )
                if events is not None:
                    return events
            elif kind is not None and kind in allowed:
                return self._once(
                    query, variable_values, context_value, root_value, operation_name, allowed
                )
        # The standard executor runs every event of a subscription in this operation's
        # context: its reads must show each event's rows as they are then, not as first read.
        _fresh_reads(context_value, remember=False)
        return await super().stream(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed,
        )

    async def _once(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None,
        context_value: Any,
        root_value: Any,
        operation_name: str | None,
        allowed: set[OperationType],
    ) -> AsyncGenerator[ExecutionResult, None]:
        yield await self.execute(
            query, variable_values, context_value, root_value, operation_name, allowed
        )


def _document(query: str | None, extensions: Any, context: Any) -> str | None:
    """The document the request runs: its text, or the one its persisted-query hash names
    (app/graphql/persisted/resolution.py); raises Refused."""
    runtime = getattr(context, "runtime", None)
    if runtime is None:
        return query
    resolved: str | None = runtime.persisted.resolve(query, extensions, context.actor)
    return resolved


def _refused_status(context: Any, status: int, headers: dict[str, str] | None = None) -> None:
    # One operation refused is the request refused; in a batch the others' results stand.
    response = getattr(context, "response", None)
    if status != 200 and response is not None and not getattr(context, "batched", False):
        response.status_code = status
        response.headers.update(headers or {})


async def _refused_stream(error: GraphQLError) -> AsyncGenerator[ExecutionResult, None]:
    yield PreExecutionError(data=None, errors=[error])


def _fresh_reads(context: Any, *, remember: bool) -> None:
    """A WebSocket connection runs many operations over one context: each reads afresh."""
    fresh = getattr(context, "fresh_reads", None)
    if fresh is not None:
        fresh(remember=remember)


async def _close_uploads(variables: Any) -> None:
    """Closes the files sent with an operation refused before it runs: one that runs, its
    resolver closes (the form parser leaves them open)."""
    if isinstance(variables, UploadFile):
        await variables.close()
    elif isinstance(variables, dict | list):
        for value in variables.values() if isinstance(variables, dict) else variables:
            await _close_uploads(value)


def _access_first(formula: Formula | None, context: Any) -> GraphQLError | None:
    """Why the operation's root fields may not run for this caller, if they may not, by
    their declared rules (app/graphql/access.py): a set operation on what the formula,
    found once per document, names."""
    if formula is None:
        return None  # a document in error: its errors answer, and nothing runs
    actor = getattr(context, "actor", None)
    if actor is None:
        return None if formula.roots <= SIGNED_OUT[formula.kind] else unauthenticated()
    refused = _password_first(formula, context) or beyond_grant(formula, actor.grant)
    members_refused = MEMBERS_REFUSED[formula.kind]
    if refused is None and not actor.is_admin and not formula.roots.isdisjoint(members_refused):
        refused = admins_only()
    return refused


_WHILE_PASSWORD_CHANGES = frozenset({"changePassword", "me", "login", "__typename"})


def _password_first(formula: Formula | None, context: Any) -> GraphQLError | None:
    """Why the operation may not run for a user holding a one-time password, if it may not:
    such a user can only change it."""
    actor = getattr(context, "actor", None)
    if actor is None or not actor.must_change_password or formula is None:
        return None
    if formula.roots <= _WHILE_PASSWORD_CHANGES:
        return None
    return GraphQLError(
        "this account holds a one-time password: change it first (changePassword); until "
        "then only `me` and `changePassword` run",
        extensions={"code": "PASSWORD_CHANGE_REQUIRED"},
    )


def _watch(context: Any) -> tuple[Deadlines, asyncio.Task[Any]] | None:
    """The server's watch over running queries, and this one's task."""
    runtime = getattr(context, "runtime", None)
    task = asyncio.current_task()
    return (runtime.deadlines, task) if runtime is not None and task is not None else None


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
            # Strawberry's own check at the most that may be configured: ours (endpoint.py),
            # with its code and the configured limit, answers first.
            batching_config={"max_operations": MOST_BATCH_OPERATIONS},
        ),
        # Classes or factories, never shared instances: extension state is per operation.
        extensions=[
            ParsedDocuments,
            lambda: ValidationCache(maxsize=512),
            QueryLimits,
            MaskUnexpectedErrors,
        ],
    )
    built.plans = PlanExecutor(TypeNames(built))
    return built


schema = build_schema()
