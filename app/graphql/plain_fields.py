"""Completing plain leaf fields without graphql-core's per-field machinery.

Most fields of a page are plain attributes holding a scalar or enum (`name`, `probability`,
`amount`...). For each, graphql-core builds a resolve info, calls Strawberry's wrapper, which
reads the attribute, then walks `complete_value` to coerce it: about 600 times for a page of
50 opportunities, most of the server's time for that page (DESIGN.md §3).

Here such a field is read and coerced directly. The result is the same by construction: the
same attribute read Strawberry's basic-field resolver does, the same `coerce_output_value`
graphql-core calls. Anything off the common path (a null, a value the scalar refuses, a
schema extension that wraps resolvers) takes graphql-core's own path, which raises the
field error it always did.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import AwaitableOrValue, Path, UndefinedType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# (attribute name, leaf type) for a plain leaf field, None for any other field; the schema
# is built once, so a field's answer never changes.
_plan: dict[int, tuple[GraphQLField, tuple[str, GraphQLLeafType] | None]] = {}


def _plain_leaf(field: GraphQLField) -> tuple[str, GraphQLLeafType] | None:
    cached = _plan.get(id(field))
    if cached is not None and cached[0] is field:
        return cached[1]
    plan: tuple[str, GraphQLLeafType] | None = None
    definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
    output = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if (
        isinstance(definition, StrawberryField)
        and definition.is_basic_field
        and getattr(field.resolve, "_is_default", False)
        and not field.args
        and is_leaf_type(output)
    ):
        plan = (definition.python_name, output)
    _plan[id(field)] = (field, plan)  # keeps `field` alive, so its id is never reused
    return plan


class PlainFieldsExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A schema extension that wraps resolvers must see every field: then none is plain.
        manager = self.middleware_manager
        self._plain = manager is None or manager._middleware_resolvers is None

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> AwaitableOrValue[Any] | UndefinedType:
        node = field_details_list[0].node
        field = parent_type.fields.get(node.name.value)
        if self._plain and field is not None and not node.arguments:
            plain = _plain_leaf(field)
            if plain is not None:
                value = getattr(source, plain[0], None)
                if value is not None:
                    try:
                        coerced = plain[1].coerce_output_value(value)
                    except Exception:
                        coerced = None
                    if coerced is not None and coerced is not Undefined:
                        return coerced
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
