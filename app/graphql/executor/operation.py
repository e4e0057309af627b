"""Serving one operation through its plan, from the query text to the result.

Each document is parsed and validated once (bounded caches), each (document, operation,
@skip/@include values) compiled once. What the planner cannot serve returns None, and the
caller runs the standard executor instead; that is logged once per document and counted by
reason (`/metrics`: tandem_plan_fallbacks_total).
"""

from __future__ import annotations

import json
import logging
from collections import Counter, OrderedDict
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    specified_rules,
)
from graphql import OperationType as GraphQLOperationType
from graphql.execution.values import get_variable_values
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import validate_document
from strawberry.types.execution import ExecutionResult
from strawberry.types.graphql import OperationType

from app.graphql.cost import Formula, formula
from app.graphql.documents import parse_errors, parsed, validation_errors, variable_errors
from app.graphql.executor.events import SharedResults, event_stream
from app.graphql.executor.fields import CannotPlan
from app.graphql.executor.plan import OperationPlan, Planner, condition_variables
from app.graphql.executor.run import Execution, Pending, Slot
from app.graphql.executor.types import TypeNames
from app.graphql.limits import document_rules
from app.metrics import plan_fallbacks, planned_operations

log = logging.getLogger(__name__)

MAX_COERCION_ERRORS = 50


class _Bounded(OrderedDict[Any, Any]):
    """A least-recently-used map of at most `size` entries."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size

    def get_recent(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def keep(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self._size:
            self.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Document:
    """A query text as parsed and validated: its errors, or what its plans need."""

    node: DocumentNode | None
    errors: list[GraphQLError] | None
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Compiled:
    plan: OperationPlan | None
    planner: Planner | None
    reason: str | None = None


class PlanExecutor:
    def __init__(self, types: TypeNames, *, documents: int = 512, plans: int = 1024) -> None:
        self.types = types
        self._documents = _Bounded(documents)
        self._plans = _Bounded(plans)
        self._formulas = _Bounded(documents)
        self.fallbacks: Counter[str] = Counter()
        self.planned = 0
        self.event_results = SharedResults()

    def document(self, query: str) -> Document:
        # Judged under the limits of the moment (limits.py: the rule holds them).
        rules = document_rules()
        key = (query, rules)
        known: Document | None = self._documents.get_recent(key)
        if known is not None:
            return known
        node = parsed(query)
        if isinstance(node, list):
            document = Document(None, parse_errors(node))
        else:
            errors = validate_document(self.types.graphql, node, (*specified_rules, *rules))
            if errors:
                document = Document(node, validation_errors(errors))
            else:
                try:
                    document = Document(node, None, condition_variables(node))
                except CannotPlan:
                    document = Document(node, None, ("*",))
        self._documents.keep(key, document)
        return document

    def compiled(
        self,
        query: str,
        document: Document,
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
    ) -> Compiled:
        if document.conditions == ("*",):
            return self._fell_back(query, "conditional_definition")
        if any(name in variables and variables[name] is None for name in document.conditions):
            # graphql-core reports a null condition as an error of the field it sits under.
            return self._fell_back(query, "null_condition")
        conditions = {name: variables.get(name) is True for name in document.conditions}
        key = (query, operation.name.value if operation.name else None, *conditions.values())
        known: Compiled | None = self._plans.get_recent(key)
        if known is None:
            assert document.node is not None
            planner = Planner(self.types.graphql, document.node, conditions)
            try:
                known = Compiled(planner.operation(operation), planner)
            except CannotPlan as refused:
                known = Compiled(None, None, refused.reason)
                # The operation's name, never its text: that may hold a password or a
                # customer's data as literals.
                log.info(
                    "plan executor: %s; the standard executor serves operation %s",
                    refused,
                    operation.name.value if operation.name else "(anonymous)",
                )
            self._plans.keep(key, known)
        if known.plan is None:
            assert known.reason is not None
            self.fallbacks[known.reason] += 1
            plan_fallbacks.labels(known.reason).inc()
        return known

    def _fell_back(self, query: str, reason: str) -> Compiled:
        self.fallbacks[reason] += 1
        plan_fallbacks.labels(reason).inc()
        return Compiled(None, None, reason)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None,
        context: Any,
        root_value: Any,
        operation_name: str | None,
        allowed: Iterable[OperationType],
    ) -> ExecutionResult | None:
        """The result, or None when the standard executor must serve this operation. Raises
        Strawberry's own exceptions where its view answers 400 (no query, unknown operation
        name, an operation type this transport does not run)."""
        if not query:
            raise MissingQueryError
        document = self.document(query)
        if document.node is None:
            return ExecutionResult(data=None, errors=document.errors)
        operations = _operations(document.node)
        operation = _chosen(operations, operation_name)
        if operation is None:
            raise CannotGetOperationTypeError(operation_name)
        kind = OperationType(operation.operation.value)
        if kind not in allowed:
            raise InvalidOperationTypeError(kind)
        if document.errors:
            return ExecutionResult(data=None, errors=document.errors)
        if operation_name is None and len(operations) > 1:
            message = "Must provide operation name if query contains multiple operations."
            return ExecutionResult(data=None, errors=[GraphQLError(message)])
        if kind is OperationType.SUBSCRIPTION:
            return None
        variables = self._variables(operation, variable_values)
        if isinstance(variables, list):
            return ExecutionResult(data=None, errors=variable_errors(variables))
        compiled = self.compiled(query, document, operation, variables.coerced)
        if compiled.plan is None:
            return None
        assert compiled.planner is not None
        self.planned += 1
        planned_operations.inc()
        return await run_plan(
            self.types, compiled.plan, compiled.planner, context, variables, root_value
        )

    def ambiguous(self, query: str | None, operation_name: str | None) -> bool:
        """A valid document of several operations, none named: GraphQL requires a name, where
        Strawberry would run the first one."""
        if not query or operation_name is not None:
            return False
        document = self.document(query)
        if document.node is None or document.errors:
            return False
        return len(_operations(document.node)) > 1

    def formula(self, query: str | None, operation_name: str | None) -> Formula | None:
        """What the operation a valid document runs costs, as a function of its variables
        (app/graphql/cost.py); None for a document in error."""
        if not query:
            return None
        key = (query, operation_name)
        known: Formula | None = self._formulas.get_recent(key)
        if known is not None:
            return known
        document = self.document(query)
        if document.node is None or document.errors:
            return None
        operations = _operations(document.node)
        if operation_name is None and len(operations) > 1:
            return None
        operation = _chosen(operations, operation_name)
        if operation is None:
            return None
        known = formula(self.types.graphql, document.node, operation)
        self._formulas.keep(key, known)
        return known

    def kind_of(self, query: str | None, operation_name: str | None) -> OperationType | None:
        """The type of the operation a valid document runs; None for a document in error."""
        found = self.formula(query, operation_name)
        return OperationType(found.kind) if found is not None else None

    def subscription(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None,
        context: Any,
        root_value: Any,
        operation_name: str | None,
    ) -> AsyncGenerator[ExecutionResult, None] | None:
        """A valid subscription's stream of results through its plan; None for anything else
        (another operation type, an error to answer, a plan declined): the standard path
        serves those."""
        if not query:
            return None
        document = self.document(query)
        if document.node is None or document.errors:
            return None
        operations = _operations(document.node)
        if operation_name is None and len(operations) > 1:
            return None
        operation = _chosen(operations, operation_name)
        if operation is None or operation.operation is not GraphQLOperationType.SUBSCRIPTION:
            return None
        variables = self._variables(operation, variable_values)
        if isinstance(variables, list):
            return None
        compiled = self.compiled(query, document, operation, variables.coerced)
        if compiled.plan is None:
            return None
        assert compiled.planner is not None
        self.planned += 1
        planned_operations.inc()
        return event_stream(
            self.types,
            compiled.plan,
            compiled.planner,
            context,
            variables,
            _variables_key(variable_values),
            root_value,
            self.event_results,
        )

    def _variables(self, operation: OperationDefinitionNode, given: dict[str, Any] | None) -> Any:
        return get_variable_values(
            self.types.graphql,
            operation.variable_definitions or (),
            given or {},
            max_errors=MAX_COERCION_ERRORS,
        )


def _variables_key(values: dict[str, Any] | None) -> bytes:
    """One byte string per distinct set of variables, whatever the order of their keys."""
    try:
        return orjson.dumps(values or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a number beyond 64 bits: slower, as exact
        return json.dumps(values or {}, sort_keys=True).encode()


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def _chosen(
    operations: list[OperationDefinitionNode], name: str | None
) -> OperationDefinitionNode | None:
    if name is None:
        return operations[0] if operations else None
    return next((o for o in operations if o.name and o.name.value == name), None)


async def run_plan(
    types: TypeNames,
    plan: OperationPlan,
    planner: Planner,
    context: Any,
    variables: Any,
    root_value: Any,
) -> ExecutionResult:
    execution = Execution(plan, planner, types, context, variables, root_value)
    data: dict[str, Any] = {}
    holder: dict[str, Any] = {"data": data}
    root = Pending(plan.root, root_value, data, Slot(holder, "data", True, None))
    reader = getattr(context, "reader", None)
    async with reader.holding() if reader is not None else _nothing():
        await execution.run(root, serially=plan.kind is GraphQLOperationType.MUTATION)
    return ExecutionResult(data=holder["data"], errors=execution.errors or None)


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None
