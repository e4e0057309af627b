"""Counting operations into /metrics (app/metrics.py): by name and type, with their time."""

from __future__ import annotations

from typing import Any

from graphql import OperationDefinitionNode
from strawberry.types.execution import ExecutionResult

from app.graphql.executor.operation import PlanExecutor
from app.log_format import operation

UNKNOWN = "unknown"
"""The type of an operation that cannot run (its document in error, or not found)."""


def named(
    plans: PlanExecutor, query: str | None, operation_name: str | None
) -> tuple[str | None, str]:
    """The operation's name (None: anonymous) and type, from its document (parsed and
    validated once: the executor's cache)."""
    if query is None:
        return operation_name, UNKNOWN
    node = plans.document(query).node
    if node is None:
        return operation_name, UNKNOWN
    operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        chosen = operations[0] if len(operations) == 1 else None
    else:
        chosen = next((o for o in operations if o.name and o.name.value == operation_name), None)
    if chosen is None:
        return operation_name, UNKNOWN
    return (chosen.name.value if chosen.name else None), chosen.operation.value


def answered(
    plans: PlanExecutor,
    context: Any,
    query: str | None,
    operation_name: str | None,
    result: ExecutionResult,
    seconds: float,
) -> None:
    """A query or mutation answered (over HTTP, or once over a WebSocket)."""
    runtime = getattr(context, "runtime", None)
    if runtime is None:
        return
    name, kind = named(plans, query, operation_name)
    operation.set(name or "anonymous")  # for the request's access line (app/log_format.py)
    runtime.hub.metrics.answered(name, kind, "error" if result.errors else "ok", seconds)


def subscribed(
    plans: PlanExecutor, context: Any, query: str | None, operation_name: str | None, ok: bool
) -> None:
    """A subscription started (ok) or refused; a stream's time is not an answer's."""
    runtime = getattr(context, "runtime", None)
    if runtime is None:
        return
    name, kind = named(plans, query, operation_name)
    runtime.hub.metrics.started(name, kind, "ok" if ok else "error")
