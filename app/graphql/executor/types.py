"""The schema as the plan executor reads it: graphql-core's types, built by Strawberry, and
which Python class is which object type (for interfaces and unions)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLAbstractType, GraphQLObjectType, GraphQLSchema, specified_directives
from strawberry import Schema
from strawberry.schema.schema_converter import GraphQLCoreConverter


def origin_of(object_type: GraphQLObjectType) -> type | None:
    """The Python class Strawberry made an object type from."""
    definition = (object_type.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    origin = getattr(definition, "origin", None)
    return origin if isinstance(origin, type) else None


class TypeNames:
    def __init__(self, schema: Schema) -> None:
        converter = schema.schema_converter
        implementations = {
            name: concrete.implementation for name, concrete in converter.type_map.items()
        }
        self.graphql = GraphQLSchema(
            query=implementations.get("Query"),  # type: ignore[arg-type]
            mutation=implementations.get("Mutation"),  # type: ignore[arg-type]
            subscription=implementations.get("Subscription"),  # type: ignore[arg-type]
            types=list(implementations.values()),  # type: ignore[arg-type]
            directives=specified_directives,
        )
        self.scalar_registry = converter.scalar_registry
        self.config = schema.config
        self._by_class: dict[type, str | None] = {}
        for name, implementation in implementations.items():
            if isinstance(implementation, GraphQLObjectType):
                origin = origin_of(implementation)
                if origin is not None:
                    self._by_class[origin] = name
        self._possible: dict[tuple[str, str], bool] = {}

    def name_of(self, value: Any) -> str | None:
        """The object type of a resolved value (its class's, or its nearest base's)."""
        cls = type(value)
        try:
            return self._by_class[cls]
        except KeyError:
            found = next(
                (self._by_class[base] for base in cls.__mro__ if base in self._by_class), None
            )
            self._by_class[cls] = found
            return found

    def is_possible(self, abstract: GraphQLAbstractType, name: str) -> bool:
        key = (abstract.name, name)
        known = self._possible.get(key)
        if known is None:
            object_type = self.graphql.get_type(name)
            known = isinstance(object_type, GraphQLObjectType) and self.graphql.is_sub_type(
                abstract, object_type
            )
            self._possible[key] = known
        return known
