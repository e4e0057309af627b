"""Running a plan: the result is built level by level, each field once for all its objects.

All the objects of one level that share a selection are filled together: an attribute is
read from each, a batched relation is one call for all of them, a resolver is called for each
(awaitables together). Their object values make the next level. So a page of 50 with owners
costs one owner batch, not 50 resolver calls, and no per-field futures.

Nulls and errors follow GraphQL: an error is recorded once where it happened, and the null it
leaves climbs to the nearest position that may be null, as the standard executor does. Each
object and list of the result knows where it sits (a Slot) so that a null found a level
later can still climb.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from graphql import GraphQLError, located_error
from graphql.execution.values import VariableValues, get_argument_values

from app.graphql.executor.compiled import Compiled
from app.graphql.executor.fields import ATTRIBUTE, BATCHED, SUBSCRIPTION, FieldSource, awaitable
from app.graphql.executor.plan import (
    ABSTRACT,
    LEAF,
    LIST,
    OBJECT,
    Completion,
    FieldPlan,
    OperationPlan,
    Planner,
    Selection,
)
from app.graphql.executor.types import TypeNames


class Slot:
    """Where an object or list of the result sits: `container[key]`, and whether a null may
    sit there; `up` is the slot of the container itself (None: the result's `data`)."""

    __slots__ = ("container", "key", "nullable", "up")

    def __init__(self, container: Any, key: Any, nullable: bool, up: Slot | None) -> None:
        self.container = container
        self.key = key
        self.nullable = nullable
        self.up = up


class Pending:
    """An object of the result whose fields the next level fills."""

    __slots__ = ("result", "selection", "slot", "source")

    def __init__(self, selection: Selection, source: Any, result: dict[str, Any], slot: Slot):
        self.selection = selection
        self.source = source
        self.result = result
        self.slot = slot


def path_of(slot: Slot | None, key: Any = None) -> list[Any]:
    """The response path of `slot`'s value's entry `key` (the root slot is not in paths)."""
    path: list[Any] = [] if key is None else [key]
    while slot is not None and slot.up is not None:
        path.append(slot.key)
        slot = slot.up
    path.reverse()
    return path


def alive(pending: Pending) -> bool:
    """Whether the object still stands in the result: no null has replaced it or any of the
    objects and lists it sits in."""
    value: Any = pending.result
    slot: Slot | None = pending.slot
    while slot is not None:
        if slot.container[slot.key] is not value:
            return False
        value = slot.container
        slot = slot.up
    return True


def nullify(slot: Slot) -> None:
    """A null must stand where `slot`'s value is: there, or as far up as it must climb."""
    current: Slot | None = slot
    while current is not None:
        if current.nullable or current.up is None:
            current.container[current.key] = None
            return
        current = current.up


class _Absent:
    """A variable's value in a key of converted arguments when the request gives none."""


_ABSENT = _Absent()
_PLAIN = frozenset((str, int, float, bool, type(None), _Absent))
"""Variable values whose arguments, converted once, may serve every request that sends
them: the resolvers get them as they are (and, like arguments written in the document,
shared)."""


class PlanInfo:
    """What resolvers see of the execution (`info.context` is what they use)."""

    __slots__ = (
        "arguments",
        "context",
        "field",
        "live_delivery",
        "operation",
        "planner",
        "prepare_event",
        "root_value",
        "variable_values",
    )

    def __init__(
        self,
        context: Any,
        root_value: Any,
        variable_values: dict[str, Any],
        operation: Any,
        planner: Planner,
    ):
        self.context = context
        self.planner = planner
        """The plan's planner (columns.py asks it for the selections of abstract fields)."""
        self.root_value = root_value
        self.variable_values = variable_values
        self.operation = operation
        self.field: FieldPlan | None = None
        """The field whose resolver is being called (columns.py reads it)."""
        self.arguments: Callable[[FieldPlan], dict[str, Any]] = _unset
        """A field's converted arguments, for a resolver that looks ahead to a field below
        its own (executor/columns.py's At.below) to read both at once."""
        self.live_delivery: Any = None
        """A subscription's: how to write the result of an event's payload to the socket at
        once, when it is made already (events.py), as (the shared end of its message, from
        the payload: bytes or None; the write of those bytes to this socket: bool)."""
        self.prepare_event: Any = None
        """A subscription's: how to make the result of an event's payload before its
        subscribers are woken (events.py), as (key, function) for the hub."""


def _unset(field: FieldPlan) -> dict[str, Any]:
    raise RuntimeError("not yet executing")


class Arguments:
    """The converted arguments of the plan's fields for one execution. Apart from the
    Execution, so that its `info` (which resolvers keep) can hold it without making a
    reference cycle: an execution in a cycle lives, with its whole result, until the cycle
    collector runs, and the collector's pace is set for refcounted garbage (app/cli.py)."""

    __slots__ = ("_known", "_types", "_values", "_variables")

    def __init__(self, types: TypeNames, variables: VariableValues) -> None:
        self._types = types
        self._variables = variables
        self._values = variables.coerced
        self._known: dict[int, dict[str, Any]] = {}

    def of(self, field: FieldPlan) -> dict[str, Any]:
        source = field.source
        if source is None or not source.has_arguments:
            return {}
        if field.static_arguments and field.converted is not None:
            return field.converted
        known = self._known.get(id(field))
        if known is not None:
            return known
        by_values: tuple[Any, ...] | None = None
        if not field.static_arguments:
            values = self._values
            # A variable not given and one given as null are not the same arguments.
            by_values = tuple(values.get(name, _ABSENT) for name in field.variables)
            if all(value.__class__ in _PLAIN for value in by_values):
                known = field.converted_by.get(by_values)
                if known is not None:
                    return known
            else:
                by_values = None  # a list or an input object: converted each time
        assert field.definition is not None
        raw = get_argument_values(field.definition, field.nodes[0], self._variables)
        converted = source.arguments(raw, self._types.scalar_registry, self._types.config)
        if field.static_arguments:
            field.converted = converted
        elif by_values is not None:
            field.converted_by.keep(by_values, converted)
        self._known[id(field)] = converted
        return converted


class Execution:
    def __init__(
        self,
        plan: OperationPlan,
        planner: Planner,
        types: TypeNames,
        context: Any,
        variables: VariableValues,
        root_value: Any = None,
        event: Any = None,
    ) -> None:
        self.plan = plan
        self._event = event
        """A subscription's event: its root field's value."""
        self.planner = planner
        self.types = types
        self.context = context
        self.info = PlanInfo(context, root_value, variables.coerced, plan.operation, planner)
        self.arguments = self.info.arguments = Arguments(types, variables).of
        self.errors: list[GraphQLError] = []
        self._nulls = False
        """Whether a null has climbed past a field: then objects may have left the result."""

    # --- the root -----------------------------------------------------------------------

    async def run(self, root: Pending, *, serially: bool) -> None:
        """Fill the result from the root object: its fields resolved here, their values
        completed through the generated fills (compiled.py), and through the exact path
        below when those meet a null or an error. `serially`: a mutation's fields, each
        with everything below it before the next one runs."""
        fast = Compiled(self, self._event)
        fields = root.selection.fields
        if serially:
            for field in fields:
                if self._nulls and not alive(root):
                    return  # a null climbed to `data`: the other fields do not run
                value = (await self.resolve(field, [root]))[0]
                await self._complete_root(fast, root, [field], [value])
            return
        values = [(await self.resolve(field, [root]))[0] for field in fields]
        await self._complete_root(fast, root, fields, values)

    async def _complete_root(
        self, fast: Compiled, root: Pending, fields: list[FieldPlan], values: list[Any]
    ) -> None:
        try:
            for value in values:
                if isinstance(value, Exception):
                    raise value
            done = [
                (await fast.complete(field.complete, [value]))[0]
                for field, value in zip(fields, values, strict=True)
            ]
        except Exception:
            # The exact path, from the same root values (nothing of the above is kept).
            below: list[Pending] = []
            for field, value in zip(fields, values, strict=True):
                if self._nulls and not alive(root):
                    break
                self.store(field, root, value, below)
            await self.fill(below)
            return
        for field, value in zip(fields, done, strict=True):
            root.result[field.key] = value

    # --- the levels ---------------------------------------------------------------------

    async def fill(self, level: list[Pending]) -> None:
        """Fill `level` and every level below it."""
        while level:
            below: list[Pending] = []
            groups: dict[int, tuple[Selection, list[Pending]]] = {}
            for pending in level:
                group = groups.get(id(pending.selection))
                if group is None:
                    groups[id(pending.selection)] = (pending.selection, [pending])
                else:
                    group[1].append(pending)
            for selection, objects in groups.values():
                fields = selection.fields
                for field in fields:
                    if self._nulls:
                        # As the standard executor, which stops completing an object once a
                        # null has replaced it: its other fields are not run, nor their
                        # errors reported.
                        objects = [o for o in objects if alive(o)]
                        if not objects:
                            break
                    values = await self.resolve(field, objects)
                    for pending, value in zip(objects, values, strict=True):
                        if self._nulls and not alive(pending):
                            continue  # a sibling's null took its place meanwhile
                        self.store(field, pending, value, below)
            if self._nulls:
                below = [o for o in below if alive(o)]
            level = below

    async def resolve(self, field: FieldPlan, objects: list[Pending]) -> list[Any]:
        """The field's raw value for each object (an exception where it failed)."""
        source = field.source
        if source is None:  # __typename
            return [field.parent_type.name] * len(objects)
        if source.kind is SUBSCRIPTION:
            return [self._event] * len(objects)
        if source.kind is ATTRIBUTE:
            name = source.python_name
            try:
                return [getattr(o.source, name) for o in objects]
            except AttributeError:
                return [_attribute(o.source, name) for o in objects]
        try:
            arguments = self.arguments(field)
        except Exception as error:
            return [error] * len(objects)
        info = self.info
        if source.kind is BATCHED:
            assert source.batch is not None
            try:
                values = await source.batch([o.source for o in objects], info, **arguments)
            except Exception as error:
                return [error] * len(objects)
            if len(values) != len(objects):
                broken = RuntimeError(f"{field.name}: the batch returned the wrong count")
                return [broken] * len(objects)
            return list(values)
        return await self._call(field, source, objects, arguments)

    async def _call(
        self,
        field: FieldPlan,
        source: FieldSource,
        objects: list[Pending],
        arguments: dict[str, Any],
    ) -> list[Any]:
        resolver = source.field.base_resolver
        assert resolver is not None
        function = resolver.wrapped_func
        keywords = dict(arguments)
        if source.info_keyword is not None:
            keywords[source.info_keyword] = self.info
        self.info.field = field
        values: list[Any] = []
        waiting: list[tuple[int, Awaitable[Any]]] = []
        for index, pending in enumerate(objects):
            try:
                value = _invoke(source, function, keywords, pending.source)
            except Exception as error:
                value = error
            if awaitable(value):
                waiting.append((index, value))
            values.append(value)
        if len(waiting) == 1:  # a root field: awaited as it is, not as a task of its own
            index, only = waiting[0]
            try:
                values[index] = await only
            except Exception as error:
                values[index] = error
        elif waiting:
            done = await asyncio.gather(*(w for _, w in waiting), return_exceptions=True)
            for (index, _), value in zip(waiting, done, strict=True):
                if isinstance(value, BaseException) and not isinstance(value, Exception):
                    raise value
                values[index] = value
        return values

    def source_stream(self, field: FieldPlan) -> Any:
        """What a subscription's root field returns: its resolver's stream of events."""
        source = field.source
        assert source is not None and source.kind is SUBSCRIPTION
        resolver = source.field.base_resolver
        assert resolver is not None
        keywords = dict(self.arguments(field))
        if source.info_keyword is not None:
            keywords[source.info_keyword] = self.info
        return _invoke(source, resolver.wrapped_func, keywords, self.info.root_value)

    # --- completing values --------------------------------------------------------------

    def store(self, field: FieldPlan, pending: Pending, value: Any, below: list[Pending]) -> None:
        result = pending.result
        key = field.key
        complete = field.complete
        if complete.kind is LEAF and value is not None and not isinstance(value, Exception):
            try:
                result[key] = complete.serialize(value)  # type: ignore[misc]
                return
            except Exception as error:
                value = error
        try:
            result[key] = self.complete(complete, value, result, key, pending.slot, field, below)
        except GraphQLError as error:
            self.errors.append(error)
            result[key] = None
            if not complete.nullable:
                nullify(pending.slot)
                self._nulls = True

    def _error(self, error: Exception, field: FieldPlan, up: Slot, key: Any) -> GraphQLError:
        return located_error(error, field.nodes, path_of(up, key))

    def complete(
        self,
        completion: Completion,
        value: Any,
        container: Any,
        key: Any,
        up: Slot,
        field: FieldPlan,
        below: list[Pending],
    ) -> Any:
        """The completed value for `container[key]`; raises a located GraphQLError when the
        value cannot stand there (the caller records it and climbs with the null)."""
        if isinstance(value, Exception):
            raise self._error(value, field, up, key)
        if value is None:
            if completion.nullable:
                return None
            raise self._error(
                TypeError(
                    f"Cannot return null for non-nullable field "
                    f"{field.parent_type.name}.{field.name}."
                ),
                field,
                up,
                key,
            )
        kind = completion.kind
        if kind is LEAF:
            try:
                return completion.serialize(value)  # type: ignore[misc]
            except Exception as error:
                raise self._error(error, field, up, key) from None
        if kind is LIST:
            return self._list(completion, value, container, key, up, field, below)
        if kind is OBJECT:
            selection = completion.selection
            assert selection is not None
        else:
            assert kind is ABSTRACT
            selection = self._possible(completion, value, field, up, key)
        result: dict[str, Any] = {}
        below.append(
            Pending(selection, value, result, Slot(container, key, completion.nullable, up))
        )
        return result

    def _list(
        self,
        completion: Completion,
        value: Any,
        container: Any,
        key: Any,
        up: Slot,
        field: FieldPlan,
        below: list[Pending],
    ) -> list[Any]:
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            raise self._error(
                GraphQLError(
                    f"Expected Iterable, but did not find one for field"
                    f" '{field.parent_type.name}.{field.name}'."
                ),
                field,
                up,
                key,
            )
        item = completion.item
        assert item is not None
        items: list[Any] = []
        slot = Slot(container, key, completion.nullable, up)
        if item.kind is LEAF:
            serialize = item.serialize
            assert serialize is not None
            for value_item in value:
                if value_item is not None and not isinstance(value_item, Exception):
                    try:
                        items.append(serialize(value_item))
                        continue
                    except Exception as error:
                        value_item = error
                items.append(self._item(item, value_item, items, slot, field, below))
            return items
        for value_item in value:
            items.append(self._item(item, value_item, items, slot, field, below))
        return items

    def _item(
        self,
        item: Completion,
        value: Any,
        items: list[Any],
        slot: Slot,
        field: FieldPlan,
        below: list[Pending],
    ) -> Any:
        try:
            return self.complete(item, value, items, len(items), slot, field, below)
        except GraphQLError as error:
            if not item.nullable:
                raise
            self.errors.append(error)
            return None

    def _possible(
        self, completion: Completion, value: Any, field: FieldPlan, up: Slot, key: Any
    ) -> Selection:
        abstract = completion.abstract
        assert abstract is not None
        name = self.types.name_of(value)
        if name is None:
            raise self._error(
                GraphQLError(
                    f"Abstract type '{abstract.name}' must resolve to an Object type at runtime"
                    f" for field '{field.parent_type.name}.{field.name}'. Either the"
                    f" '{abstract.name}' type should provide a 'resolve_type' function or each"
                    " possible type should provide an 'is_type_of' function."
                ),
                field,
                up,
                key,
            )
        if not self.types.is_possible(abstract, name):
            raise self._error(
                GraphQLError(
                    f"Runtime Object type '{name}' is not a possible type for '{abstract.name}'."
                ),
                field,
                up,
                key,
            )
        return self.planner.possible(completion, name)


def _invoke(source: FieldSource, function: Any, keywords: dict[str, Any], parent: Any) -> Any:
    if source.takes_source:
        return function(parent, **keywords)
    if source.source_keyword is not None:
        return function(**{**keywords, source.source_keyword: parent})
    return function(**keywords)


def _attribute(source: Any, name: str) -> Any:
    try:
        return getattr(source, name)
    except AttributeError as error:
        return error
