"""Compiling an operation into a plan: for every object type it meets, which fields to produce,
in which order, how to get each and how to complete its value.

The plan depends on the document, the operation and the values of the variables that
`@skip`/`@include` read (usually none), never on the other variables: arguments are coerced
per request. Fragments (named and inline) are merged the way GraphQL collects fields; a field
of an interface or union type gets one selection per possible object type, made when a value
of that type first shows up.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    is_abstract_type,
    is_leaf_type,
    is_object_type,
)

from app.graphql.executor.fields import CannotPlan, FieldSource, field_source
from app.graphql.executor.leaves import leaf_serializer
from app.memo import Memo

LEAF = 0
OBJECT = 1
ABSTRACT = 2
LIST = 3


@dataclass(eq=False, slots=True)
class Completion:
    """How a value of one output type becomes its place in the result."""

    kind: int
    nullable: bool
    serialize: Callable[[Any], Any] | None = None
    selection: Selection | None = None
    item: Completion | None = None
    abstract: GraphQLAbstractType | None = None
    by_type: dict[str, Selection] = field(default_factory=dict)
    nodes: list[FieldNode] = field(default_factory=list)
    """For an abstract type: the field nodes, to collect a possible type's selection."""


@dataclass(eq=False, slots=True)
class FieldPlan:
    key: str
    name: str
    nodes: list[FieldNode]
    parent_type: GraphQLObjectType
    definition: GraphQLField | None
    """None for __typename."""
    source: FieldSource | None
    complete: Completion
    variables: tuple[str, ...] = ()
    """The variables its arguments hold, by name."""
    converted: dict[str, Any] | None = None
    converted_by: Memo[tuple[Any, ...], dict[str, Any]] = field(default_factory=lambda: Memo(256))
    """Its arguments converted, by the values of those variables (when they are plain
    scalars): the same page cursors and ids come again and again."""
    columns: dict[Any, Any] = field(default_factory=dict)
    """What its value is read for (columns.py: columns of row-backed types, fields shown),
    once known."""

    @property
    def static_arguments(self) -> bool:
        """The arguments hold no variables: converted once, on first use."""
        return not self.variables


@dataclass(eq=False, slots=True)
class Selection:
    type: GraphQLObjectType
    fields: list[FieldPlan]
    compiled: Any = None
    """Its generated fill (compiled.py), made on first use."""


@dataclass(eq=False, slots=True)
class OperationPlan:
    operation: OperationDefinitionNode
    kind: OperationType
    root: Selection
    asks_actor: bool = False
    """A subscription's: its events' results depend on who receives them (a field read what
    the actor may see), so they are shared only between subscribers who see the same."""


def condition_variables(document: DocumentNode) -> tuple[str, ...]:
    """The variables that @skip/@include read anywhere in the document, in a fixed order."""
    names: set[str] = set()

    def visit(selection_set: SelectionSetNode | None) -> None:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            for directive in selection.directives or ():
                if directive.name.value in ("skip", "include"):
                    for argument in directive.arguments or ():
                        if isinstance(argument.value, VariableNode):
                            names.add(argument.value.name.value)
            visit(getattr(selection, "selection_set", None))

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            for directive in definition.directives or ():
                if directive.name.value in ("skip", "include"):
                    raise CannotPlan("conditional_definition", "@skip/@include on a definition")
            visit(definition.selection_set)
    return tuple(sorted(names))


class Planner:
    """Compiles the operations of one document for one set of condition values."""

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, conditions: dict[str, bool]
    ) -> None:
        self._schema = schema
        self._conditions = conditions
        self._fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }

    def operation(self, operation: OperationDefinitionNode) -> OperationPlan:
        kind = operation.operation
        root_type = {
            OperationType.QUERY: self._schema.query_type,
            OperationType.MUTATION: self._schema.mutation_type,
            OperationType.SUBSCRIPTION: self._schema.subscription_type,
        }[kind]
        if root_type is None:
            raise CannotPlan("no_root_type", kind.value)
        root = self.selection(
            root_type,
            [operation.selection_set],
            subscription=kind is OperationType.SUBSCRIPTION,
        )
        return OperationPlan(operation, kind, root)

    def selection(
        self,
        object_type: GraphQLObjectType,
        selection_sets: list[SelectionSetNode],
        *,
        subscription: bool = False,
    ) -> Selection:
        collected: dict[str, list[FieldNode]] = {}
        # One set for all: a fragment spread in two merged fields is collected once.
        visited: set[str] = set()
        for selection_set in selection_sets:
            self._collect(object_type, selection_set, collected, visited)
        fields = [
            self._field(object_type, key, nodes, subscription) for key, nodes in collected.items()
        ]
        return Selection(object_type, fields)

    def possible(self, completion: Completion, type_name: str) -> Selection:
        """The selection of an abstract field's value of the object type `type_name`."""
        found = completion.by_type.get(type_name)
        if found is None:
            object_type = self._schema.get_type(type_name)
            assert isinstance(object_type, GraphQLObjectType)
            found = self.selection(
                object_type, [n.selection_set for n in completion.nodes if n.selection_set]
            )
            completion.by_type[type_name] = found
        return found

    def possible_types(self, completion: Completion) -> Sequence[GraphQLObjectType]:
        """The object types an abstract field's value may be."""
        assert completion.abstract is not None
        return self._schema.get_possible_types(completion.abstract)

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            value = directive.arguments[0].value
            if isinstance(value, BooleanValueNode):
                condition = value.value
            elif isinstance(value, VariableNode):
                condition = self._conditions.get(value.name.value) is True
            else:  # pragma: no cover - validation allows only these
                raise CannotPlan("non_boolean_condition")
            if (name == "skip") == condition:
                return False
        return True

    def _matches(self, object_type: GraphQLObjectType, condition: Any) -> bool:
        if condition is None:
            return True
        conditional = self._schema.get_type(condition.name.value)
        if conditional is object_type:
            return True
        return is_abstract_type(conditional) and self._schema.is_sub_type(conditional, object_type)

    def _collect(
        self,
        object_type: GraphQLObjectType,
        selection_set: SelectionSetNode,
        collected: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                collected.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if self._matches(object_type, selection.type_condition):
                    self._collect(object_type, selection.selection_set, collected, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if self._matches(object_type, fragment.type_condition):
                    self._collect(object_type, fragment.selection_set, collected, visited)

    def _field(
        self, parent: GraphQLObjectType, key: str, nodes: list[FieldNode], subscription: bool
    ) -> FieldPlan:
        name = nodes[0].name.value
        if name == "__typename":
            typename = Completion(LEAF, False, serialize=lambda _: parent.name)
            return FieldPlan(key, name, nodes, parent, None, None, typename)
        if name.startswith("__"):
            raise CannotPlan("introspection", name)
        definition = parent.fields[name]
        source = field_source(definition, subscription=subscription)
        complete = self._completion(definition.type, nodes)
        variables: set[str] = set()
        for argument in nodes[0].arguments or ():
            _variables_in(argument.value, variables)
        return FieldPlan(
            key,
            name,
            nodes,
            parent,
            definition,
            source,
            complete,
            tuple(sorted(variables)),
        )

    def _completion(self, output: GraphQLOutputType, nodes: list[FieldNode]) -> Completion:
        nullable = True
        if isinstance(output, GraphQLNonNull):
            nullable = False
            output = output.of_type
        if isinstance(output, GraphQLList):
            return Completion(LIST, nullable, item=self._completion(output.of_type, nodes))
        if is_leaf_type(output):
            return Completion(LEAF, nullable, serialize=leaf_serializer(output))
        sub_selections = [n.selection_set for n in nodes if n.selection_set is not None]
        if is_object_type(output):
            assert isinstance(output, GraphQLObjectType)
            return Completion(OBJECT, nullable, selection=self.selection(output, sub_selections))
        assert is_abstract_type(output)
        return Completion(ABSTRACT, nullable, abstract=output, nodes=nodes)


def _variables_in(value: Any, found: set[str]) -> None:
    """Add the names of the variables an argument's value holds to `found`."""
    if isinstance(value, VariableNode):
        found.add(value.name.value)
        return
    for attribute in ("values", "fields"):
        for inner in getattr(value, attribute, None) or ():
            _variables_in(getattr(inner, "value", inner), found)
