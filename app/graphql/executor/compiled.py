"""The compiled tier: each selection's fill written as a Python function, made once per plan.

For the objects of one selection, the generated function reads every field that is a plain
attribute straight from each object into its result (a leaf's serializer inlined where the
value passes unchanged), and gets every other field for all the objects at once: a batched
relation in one call (a `Related` one followed here, without its resolver: the distinct
keys, their rows, each filled once), a resolver called for each, a nested selection filled
once for all the values of the level (an object met twice, as a page's shared owner, is
filled once). So a page of 50 deals with owners and stages is three generated loops and two
lookups of rows its statement brought along, without a single per-field dispatch or
per-object bookkeeping object.

It serves what goes as expected: values of the declared types, no errors. Anything else (a
null where the type forbids one, a resolver or a batch raising, a value a serializer refuses,
a type an abstract field cannot resolve to) raises `Bail` or lets the exception through, and
the caller completes that value again through the exact path (run.py), which reports errors
and climbing nulls as GraphQL says. Everything read so far stays in the operation's Reader,
so that second pass reads nothing twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from operator import methodcaller
from typing import TYPE_CHECKING, Any

from graphql import GraphQLBoolean, GraphQLID, GraphQLInt, GraphQLString

from app.graphql.batch import Related, related_field
from app.graphql.executor.columns import shown_columns
from app.graphql.executor.fields import ATTRIBUTE, BATCHED, SUBSCRIPTION, awaitable
from app.graphql.executor.plan import (
    ABSTRACT,
    LEAF,
    LIST,
    OBJECT,
    Completion,
    FieldPlan,
    Selection,
)
from app.graphql.executor.types import origin_of
from app.graphql.ids import encode_id
from app.graphql.types.rows import Column, Computed, Embedded, EnumColumn, NodeId, row_fields

if TYPE_CHECKING:
    from app.graphql.executor.run import Execution

Fill = Callable[[list[Any], "Compiled"], Awaitable[list[dict[str, Any]]]]


_DATES = frozenset((date, datetime))


class Bail(Exception):
    """A value only the exact path completes as GraphQL says (a null or an error)."""


def _bail() -> Any:
    raise Bail


class Compiled:
    """One operation's run through the generated fills; `execution` supplies what the exact
    path would (arguments, `info`, the event of a subscription)."""

    __slots__ = ("_event", "_execution", "_info")

    def __init__(self, execution: Execution, event: Any = None) -> None:
        self._execution = execution
        self._info = execution.info
        self._event = event

    async def complete(self, completion: Completion, values: list[Any]) -> list[Any]:
        """The completed result of each value of one field (raises Bail, or the error met)."""
        kind = completion.kind
        if kind is LEAF:
            for value in values:
                if isinstance(value, Exception):
                    raise value
            serialize = completion.serialize
            assert serialize is not None
            if completion.nullable:
                return [None if v is None else serialize(v) for v in values]
            return [serialize(v) if v is not None else _bail() for v in values]
        if kind is LIST:
            return await self._lists(completion, values)
        # Objects: each distinct one filled once, its result placed wherever it stands.
        distinct: dict[int, Any] = {}
        for value in values:
            if value is None:
                if not completion.nullable:
                    raise Bail
            elif isinstance(value, Exception):
                raise value
            else:
                distinct[id(value)] = value
        if not distinct:
            return values  # all None
        if kind is OBJECT:
            selection = completion.selection
            assert selection is not None
            filled = await fill_of(selection)(list(distinct.values()), self)
            results = dict(zip(distinct, filled, strict=True))
        else:
            assert kind is ABSTRACT
            results = await self._abstract(completion, distinct)
        return [None if v is None else results[id(v)] for v in values]

    async def _lists(self, completion: Completion, values: list[Any]) -> list[Any]:
        item = completion.item
        assert item is not None
        flat: list[Any] = []
        sizes: list[int] = []
        for value in values:
            if value is None:
                if not completion.nullable:
                    raise Bail
                sizes.append(-1)
                continue
            if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
                raise Bail
            before = len(flat)
            flat.extend(value)
            sizes.append(len(flat) - before)
        done = await self.complete(item, flat) if flat else flat
        out: list[Any] = []
        at = 0
        for size in sizes:
            if size < 0:
                out.append(None)
            else:
                out.append(done[at : at + size])
                at += size
        return out

    async def _abstract(self, completion: Completion, distinct: dict[int, Any]) -> dict[int, Any]:
        abstract = completion.abstract
        assert abstract is not None
        execution = self._execution
        types = execution.types
        groups: dict[str, dict[int, Any]] = {}
        for key, value in distinct.items():
            name = types.name_of(value)
            if name is None or not types.is_possible(abstract, name):
                raise Bail
            groups.setdefault(name, {})[key] = value
        results: dict[int, Any] = {}
        for name, group in groups.items():
            selection = execution.planner.possible(completion, name)
            filled = await fill_of(selection)(list(group.values()), self)
            results.update(zip(group, filled, strict=True))
        return results

    async def values(self, field: FieldPlan, objects: list[Any]) -> list[Any]:
        """The field's completed value for each object: what the generated fill does not
        read itself (relations, resolvers, attributes holding objects or lists)."""
        source = field.source
        assert source is not None
        kind = source.kind
        if kind is ATTRIBUTE:
            raw = [getattr(o, source.python_name) for o in objects]
        elif kind is SUBSCRIPTION:
            raw = [self._event] * len(objects)
        else:
            arguments = self._execution.arguments(field)
            if kind is BATCHED:
                assert source.batch is not None
                raw = list(await source.batch(objects, self._info, **arguments))
                if len(raw) != len(objects):
                    raise Bail
            else:
                raw = await self._resolved(field, objects, arguments)
        return await self.complete(field.complete, raw)

    async def follow(self, field: FieldPlan, related: Related, keys: list[Any]) -> list[Any]:
        """The completed value of a Related field for each of its parents' references `keys`:
        the rows read (or found read) once, each distinct one filled once, without the
        field's resolver."""
        completion = field.complete
        assert completion.selection is not None
        known = self._info.context.reader
        shown = shown_columns(field, self._info.planner)
        found = await known.fetch(related.fetch, [k for k in keys if k is not None], None, shown)
        distinct = dict.fromkeys(keys)
        if None in distinct:
            if not completion.nullable:
                raise Bail
            del distinct[None]
        rows = [found.get(key) for key in distinct]
        if any(row is None for row in rows):
            raise Bail  # a reference to a missing row: the exact path says so
        if related.row_backed:
            values = list(map(related.present, rows))  # cheaper to make than to look up
        else:
            object_of = known.objects(found, related.present)
            values = [object_of(key) for key in distinct]
        filled = await fill_of(completion.selection)(values, self)
        by_key: dict[Any, Any] = dict(zip(distinct, filled, strict=True))
        by_key[None] = None
        return [by_key[key] for key in keys]

    async def _resolved(
        self, field: FieldPlan, objects: list[Any], arguments: dict[str, Any]
    ) -> list[Any]:
        source = field.source
        assert source is not None and source.field.base_resolver is not None
        function: Any = source.field.base_resolver.wrapped_func
        keywords = dict(arguments)
        if source.info_keyword is not None:
            keywords[source.info_keyword] = self._info
        self._info.field = field
        if source.takes_source:
            raw = [function(o, **keywords) for o in objects]
        elif source.source_keyword is not None:
            raw = [function(**{**keywords, source.source_keyword: o}) for o in objects]
        else:
            raw = [function(**keywords) for _ in objects]
        waiting = [i for i, value in enumerate(raw) if awaitable(value)]
        if waiting:
            if len(waiting) == 1:
                raw[waiting[0]] = await raw[waiting[0]]
            else:
                done = await asyncio.gather(*(raw[i] for i in waiting))
                for i, value in zip(waiting, done, strict=True):
                    raw[i] = value
        return raw


def fill_of(selection: Selection) -> Fill:
    """The selection's generated fill, made on first use."""
    found: Fill | None = selection.compiled
    if found is None:
        found = selection.compiled = _generate(selection)
    return found


def _inline(field: FieldPlan) -> bool:
    """Whether the generated loop reads the field itself: __typename and attribute leaves."""
    source = field.source
    return source is None or (source.kind is ATTRIBUTE and field.complete.kind is LEAF)


def _generate(selection: Selection) -> Fill:
    origin = origin_of(selection.type)
    made = row_fields(origin) if origin is not None else None
    names: dict[str, Any] = {"_bail": _bail, "_DATES": _DATES}
    head = ["async def fill(objs, run):"]
    entries: list[str] = []
    from_row = False  # whether the loop reads the row
    for index, field in enumerate(selection.fields):
        key = repr(field.key)
        source = field.source
        if source is None:
            entries.append(f"{key}: {field.parent_type.name!r}")
            continue
        related = related_field(origin, source.python_name) if origin is not None else None
        if related is not None and source.kind is BATCHED and field.complete.kind is OBJECT:
            # The rows its column refers to, followed for all the objects at once.
            names[f"f{index}"] = field
            names[f"k{index}"] = related
            column = related.key if isinstance(related.key, str) else None
            keys = f"[s.row.{column} for s in objs]" if column else f"k{index}.keys(objs)"
            head.append(f"    c{index} = await run.follow(f{index}, k{index}, {keys})")
            entries.append(f"{key}: c{index}[i]")
            continue
        make = made.get(source.python_name) if made is not None else None
        if make is None or source.kind is not ATTRIBUTE:
            if _inline(field):
                names[f"s{index}"] = field.complete.serialize
                read = f"s.{source.python_name}"
                entries.append(f"{key}: {_leaf(field, read, f's{index}')}")
            else:
                names[f"f{index}"] = field
                head.append(f"    c{index} = await run.values(f{index}, objs)")
                entries.append(f"{key}: c{index}[i]")
            continue
        # A row-backed type's field: made from the row here, as the object would.
        written = _from_row(field, make, f"{index}", names)
        if written is None:
            names[f"f{index}"] = field
            names[f"m{index}"] = make
            values = f"[m{index}(s.row) for s in objs]"
            head.append(f"    c{index} = await run.complete(f{index}.complete, {values})")
            entries.append(f"{key}: c{index}[i]")
            continue
        from_row = True
        entries.append(f"{key}: {written}")
    body = [
        "    out = []",
        "    add = out.append",
        "    for i, s in enumerate(objs):",
        *(["        r = s.row"] if from_row else []),
        "        add({" + ", ".join(entries) + "})",
        "    return out",
    ]
    source_text = "\n".join(head + body)
    exec(compile(source_text, f"<fill {selection.type.name}>", "exec"), names)
    fill: Fill = names["fill"]
    return fill


def _from_row(
    field: FieldPlan, make: Callable[[Any], Any], tag: str, names: dict[str, Any]
) -> str | None:
    """The expression writing a row-backed field of the row `r`, or None when it must be
    made and completed on its own (an object or list that is not an Embedded)."""
    kind = field.complete.kind
    if kind is LEAF:
        serialize = field.complete.serialize
        names[f"s{tag}"] = serialize
        if isinstance(make, EnumColumn):
            assert serialize is not None
            names[f"e{tag}"] = {member.value: serialize(member) for member in make.enum}
            names[f"m{tag}"] = make
            # The member's name by the row's value; anything else through the enum itself.
            done = f"(e{tag}.get(v) or s{tag}(m{tag}(r)))"
            null = "None" if field.complete.nullable else f"s{tag}(None)"
            return f"({null} if (v := r.{make.name}) is None else {done})"
        if isinstance(make, Column):
            return _leaf(field, f"r.{make.name}", f"s{tag}")
        if isinstance(make, NodeId):
            names["_encode_id"] = encode_id
            return _leaf(field, f"_encode_id({make.type_name!r}, r.id)", f"s{tag}")
        # The function itself, not the Computed that calls it: one call less per object.
        names[f"m{tag}"] = make.make if isinstance(make, Computed) else make
        return _leaf(field, f"m{tag}(r)", f"s{tag}")
    if kind is not OBJECT or not isinstance(make, Embedded):
        return None
    selection = field.complete.selection
    assert selection is not None
    if make.when is not None and not field.complete.nullable:
        return None
    parts: list[str] = []
    for index, inner in enumerate(selection.fields):
        key = repr(inner.key)
        source = inner.source
        if source is None:
            parts.append(f"{key}: {inner.parent_type.name!r}")
            continue
        value = make.fields.get(source.python_name)
        if value is None or source.kind is not ATTRIBUTE or inner.complete.kind is not LEAF:
            return None
        written = _from_row(inner, value, f"{tag}_{index}", names)
        if written is None:
            return None
        parts.append(f"{key}: {written}")
    embedded = "{" + ", ".join(parts) + "}"
    if make.when is None:
        return embedded
    names[f"w{tag}"] = make.when
    return f"({embedded} if w{tag}(r) else None)"


_ISOFORMAT = repr(methodcaller("isoformat"))


def _leaf(field: FieldPlan, read: str, serializer: str) -> str:
    """The expression completing the leaf `read` (a null where none may be raises Bail)."""
    graphql_type = field.definition.type if field.definition is not None else None
    while graphql_type is not None and hasattr(graphql_type, "of_type"):
        graphql_type = graphql_type.of_type
    if graphql_type is GraphQLString or graphql_type is GraphQLID:
        done = f"v if v.__class__ is str else {serializer}(v)"
    elif graphql_type is GraphQLInt:
        done = f"v if v.__class__ is int and -2147483648 <= v <= 2147483647 else {serializer}(v)"
    elif graphql_type is GraphQLBoolean:
        done = f"v if v.__class__ is bool else {serializer}(v)"
    elif getattr(graphql_type, "coerce_output_value", None) is str:
        done = "str(v)"  # Decimal: what its coercion does, never null
    elif repr(getattr(graphql_type, "coerce_output_value", None)) == _ISOFORMAT:
        # Date, DateTime: their coercion is exactly this method of theirs.
        done = f"v.isoformat() if v.__class__ in _DATES else {serializer}(v)"
    else:
        done = f"{serializer}(v)"
    if field.complete.nullable:
        return f"(None if (v := {read}) is None else ({done}))"
    return f"(_bail() if (v := {read}) is None else ({done}))"
