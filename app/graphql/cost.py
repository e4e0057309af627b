"""What an operation costs, known before it runs, and each user's budget of it.

The cost is the number of objects an operation may ask for: every field that takes a page
(`first`) asks for up to that many objects for each object above it, so page sizes multiply
through nesting, and `opportunities(first: 100) { nodes { timeline(first: 20) { ... } } }`
costs 1 + 100 + 100 * 20 = 2,101. Plain lists (a deal's participants) count as one each; a
field under @skip or @include counts as if asked. An operation over TANDEM_MAX_QUERY_COST is
refused before it runs (`QUERY_TOO_COSTLY`); each user (each client address, before logging
in) has TANDEM_COST_BUDGET_PER_MINUTE to spend, refilled evenly over the minute, and an
operation that would overdraw it is refused (`RATE_LIMITED`, with when to retry). Every
answer says what it cost and what is left (`extensions.cost`), as GitHub's API does.

The shape of the computation is found once per document and operation (`Formula`); what a
request adds is its variables' page sizes and a walk over the few paged fields.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.language import DocumentNode

_PAGE_ARGUMENTS = ("first", "last")


@dataclass(frozen=True, slots=True)
class Paged:
    """A field that asks for a page: its size (a constant, or the variable that holds it,
    with the size to take when the variable is not given), and the paged fields below it."""

    size: int
    variable: str | None
    below: tuple[Paged, ...]

    def objects(self, variables: dict[str, Any], times: int) -> int:
        size = self.size
        if self.variable is not None:
            given = variables.get(self.variable)
            if isinstance(given, int) and not isinstance(given, bool) and given >= 0:
                size = given
        asked = times * size
        return asked + sum(paged.objects(variables, asked) for paged in self.below)


@dataclass(frozen=True, slots=True)
class Formula:
    """The paged fields of one operation, found once; and its kind ("query", "mutation",
    "subscription"), which the request's other limits ask too."""

    kind: str
    paged: tuple[Paged, ...]
    roots: frozenset[str] = frozenset()
    """The root fields it asks for (fragments followed)."""
    fixed: int | None = None
    """The cost, when no page size comes from a variable (known once, then)."""

    def cost(self, variables: dict[str, Any] | None) -> int:
        if self.fixed is not None:
            return self.fixed
        given = variables or {}
        return 1 + sum(paged.objects(given, 1) for paged in self.paged)


def formula(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> Formula:
    """The formula of a valid operation of `document`."""
    root = schema.get_root_type(operation.operation)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    defaults: dict[str, int] = {}
    for definition in operation.variable_definitions or ():
        value = definition.default_value
        if isinstance(value, IntValueNode):
            defaults[definition.variable.name.value] = int(value.value)
    finder = _Finder(schema, fragments, defaults)
    paged = finder.paged(root, operation.selection_set) if root is not None else ()
    roots = frozenset(_root_fields(operation.selection_set, fragments))
    found = Formula(operation.operation.value, paged, roots)
    if not any(_variable_sized(p) for p in paged):
        found = Formula(found.kind, paged, roots, found.cost(None))
    return found


def _root_fields(
    selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> list[str]:
    names: list[str] = []
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            names.append(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            names.extend(_root_fields(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                names.extend(_root_fields(fragment.selection_set, fragments))
    return names


def _variable_sized(paged: Paged) -> bool:
    return paged.variable is not None or any(_variable_sized(p) for p in paged.below)


class _Finder:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        defaults: dict[str, int],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._defaults = defaults

    def paged(self, parent: Any, selections: SelectionSetNode | None) -> tuple[Paged, ...]:
        found: list[Paged] = []
        for selection in selections.selections if selections is not None else ():
            if isinstance(selection, FieldNode):
                found.extend(self._field(parent, selection))
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._schema.get_type(condition.name.value) if condition else parent
                found.extend(self.paged(inner, selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self._fragments.get(selection.name.value)
                if fragment is not None:
                    inner = self._schema.get_type(fragment.type_condition.name.value)
                    found.extend(self.paged(inner, fragment.selection_set))
        return tuple(found)

    def _field(self, parent: Any, node: FieldNode) -> tuple[Paged, ...]:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return ()  # a union's own fields: only __typename
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return ()  # __typename and the like
        below_type = get_named_type(definition.type)
        if isinstance(below_type, GraphQLUnionType | GraphQLInterfaceType | GraphQLObjectType):
            below = self.paged(below_type, node.selection_set)
        else:
            below = ()
        for name in _PAGE_ARGUMENTS:
            argument = definition.args.get(name)
            if argument is None:
                continue
            size, variable = self._size(node, name, argument.default_value)
            return (Paged(size, variable, below),)
        return below

    def _size(self, node: FieldNode, name: str, default: Any) -> tuple[int, str | None]:
        fallback = default if isinstance(default, int) else 0
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value), None
            if isinstance(value, VariableNode):
                variable = value.name.value
                return self._defaults.get(variable, fallback), variable
            return fallback, None  # null: the field's own default
        return fallback, None


class Budgets:
    """Each spender's budget, refilled evenly: `per_minute` over a minute, never above it."""

    def __init__(self, per_minute: int, *, keep: int = 100_000) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._keep = keep
        self._left: dict[object, tuple[float, float]] = {}  # spender -> (left, when)

    def spend(self, spender: object, cost: int) -> tuple[bool, int, float]:
        """(whether it could be spent, what is left now, seconds until it could be)."""
        now = time.monotonic()
        full = self.per_minute
        known = self._left.get(spender)
        if known is None:
            left: float = full
        else:
            left = known[0] + (now - known[1]) * self._rate
            if left > full:
                left = full
        spent = cost <= left
        if spent:
            left -= cost
        self._left[spender] = (left, now)
        if known is None and len(self._left) > self._keep:
            self._forget()
        return spent, int(left), 0.0 if spent else (cost - left) / self._rate

    def _forget(self) -> None:
        if len(self._left) > self._keep:
            # The oldest (insertion order) go first: full again by now, most of them.
            for stale in list(self._left)[: self._keep // 10]:
                del self._left[stale]


def too_costly(cost: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"the operation may ask for {cost} objects (page sizes multiplied through nesting); "
        f"at most {limit} are allowed: ask for smaller pages or fewer nested connections",
        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "limit": limit},
    )


def rate_limited(cost: int, per_minute: int, wait: float) -> GraphQLError:
    seconds = max(1, math.ceil(wait))
    return GraphQLError(
        f"this operation costs {cost} and the budget of {per_minute} a minute is spent for "
        f"now; retry in {seconds} s",
        extensions={"code": "RATE_LIMITED", "cost": cost, "retryAfterSeconds": seconds},
    )
