"""How the plan gets each field of the schema: read from Strawberry's definitions, once.

A field is one of:

- an attribute of the object (a Strawberry field without a resolver): read it;
- a batched relation (declared with `app.graphql.batch.batched`): one call for every parent
  of one level of the result, which reads the rows for all of them at once;
- a resolver: called with the converted arguments, the object and `info`, as Strawberry
  would call it;
- a subscription's root field: its resolver makes the stream of events, and for each event
  the field's value is the event itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

from graphql import GraphQLField
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from app.graphql.batch import BATCH

ATTRIBUTE = "attribute"
BATCHED = "batched"
RESOLVER = "resolver"
SUBSCRIPTION = "subscription"


class CannotPlan(Exception):
    """Something the plan executor does not serve; the standard executor will.

    `reason` is a short code (the label of /metrics' fallback counter, so it stays one of a
    few values); `detail` names what, for the log."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FieldSource:
    kind: str
    python_name: str
    field: StrawberryField
    batch: Callable[..., Any] | None
    takes_source: bool
    """The resolver wants the object: as `self` (first) or as `root`/`parent` (by name)."""
    source_keyword: str | None
    info_keyword: str | None
    is_async: bool
    has_arguments: bool

    def arguments(
        self,
        raw: dict[str, Any],
        scalar_registry: Mapping[object, Any],
        config: Any,
    ) -> dict[str, Any]:
        """The resolver's keyword arguments for graphql-core's coerced argument values."""
        if not self.has_arguments:
            return {}
        return convert_arguments(raw, self.field.arguments, scalar_registry, config)


def awaitable(value: Any) -> bool:
    """Whether a resolver's value must be awaited: inspect.isawaitable, without its slow
    check through an abstract base class for the plain values resolvers return nearly
    always."""
    cls = value.__class__
    return cls is CoroutineType or (hasattr(cls, "__await__") and inspect.isawaitable(value))


def field_source(graphql_field: GraphQLField, *, subscription: bool = False) -> FieldSource:
    definition = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(definition, StrawberryField):
        raise CannotPlan("not_strawberry_field", graphql_field.description)
    if definition.extensions:
        raise CannotPlan("field_extensions", definition.python_name)
    metadata: Any = definition.metadata or {}
    batch = metadata.get(BATCH)
    resolver = definition.base_resolver
    if batch is not None:
        return FieldSource(
            BATCHED,
            definition.python_name,
            definition,
            batch,
            False,
            None,
            None,
            True,
            bool(definition.arguments),
        )
    if resolver is None:
        return FieldSource(
            ATTRIBUTE, definition.python_name, definition, None, False, None, None, False, False
        )
    if resolver.is_graphql_generic or (
        inspect.isasyncgenfunction(resolver.wrapped_func) is not subscription
    ):
        raise CannotPlan("unsupported_resolver", definition.python_name)
    source_parameter = resolver.root_parameter or resolver.parent_parameter
    info = resolver.info_parameter
    return FieldSource(
        SUBSCRIPTION if subscription else RESOLVER,
        definition.python_name,
        definition,
        None,
        resolver.self_parameter is not None,
        source_parameter.name if source_parameter is not None else None,
        info.name if info is not None else None,
        resolver.is_async,
        bool(definition.arguments),
    )
