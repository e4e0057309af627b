"""Scalars and enums as the result shows them: the type's own `coerce_output_value`, which is
what the standard executor calls, with a shortcut for the values it would return unchanged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLInt,
    GraphQLLeafType,
    GraphQLString,
    Undefined,
)
from graphql.pyutils import inspect

_INT_RANGE = range(-(2**31), 2**31)


def _checked(type_: GraphQLLeafType) -> Callable[[Any], Any]:
    coerce = type_.coerce_output_value

    def serialize(value: Any) -> Any:
        coerced = coerce(value)
        if coerced is Undefined or coerced is None:
            raise TypeError(
                f"Expected `{inspect(type_)}.coerce_output_value({inspect(value)})` to return "
                f"non-nullable value, returned: {inspect(coerced)}"
            )
        return coerced

    return serialize


def leaf_serializer(type_: GraphQLLeafType) -> Callable[[Any], Any]:
    checked = _checked(type_)
    if type_ is GraphQLString or type_ is GraphQLID:
        return lambda value: value if type(value) is str else checked(value)
    if type_ is GraphQLInt:
        return lambda value: value if type(value) is int and value in _INT_RANGE else checked(value)
    if type_ is GraphQLBoolean:
        return lambda value: value if type(value) is bool else checked(value)
    if isinstance(type_, GraphQLEnumType):
        # An enum has few values: each is coerced once.
        names: dict[Any, Any] = {}

        def enum(value: Any) -> Any:
            try:
                return names[value]
            except KeyError:
                names[value] = name = checked(value)
                return name
            except TypeError:  # unhashable: never a valid value, let the type say so
                return checked(value)

        return enum
    return checked
