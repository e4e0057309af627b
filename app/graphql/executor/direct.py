"""The fields of a selection that need no call, written by code generated for the selection.

Most of a page is attributes: a name, a number, an enum, a money object's amount. Run one by
one (read the value for every object, then complete each), they cost more than all the
reads behind the page. So for each selection, once, a Python function is generated that
goes through the objects and, for each, writes its attribute fields in the selection's order:
a leaf through its serializer (inline for strings, integers and booleans, whose values pass
unchanged), an object-typed attribute as a new result object for the next level, and a
placeholder for every other field (so the result keeps the selection's order when the level
fills them).

The generated code handles only the values that complete without an error. Anything else
(a null where the type forbids one, a serializer refusing a value, a missing attribute)
sends that object down the general path (run.py), which reports it as GraphQL says; so the
result and its errors are the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLBoolean, GraphQLID, GraphQLInt, GraphQLString

from app.graphql.executor.fields import ATTRIBUTE
from app.graphql.executor.plan import LEAF, OBJECT, FieldPlan, Selection


@dataclass(frozen=True, slots=True)
class Direct:
    fill: Callable[[list[Any], list[Any]], list[Any]]
    """(objects, below) -> the objects the general path must do instead."""
    fields: list[FieldPlan]
    """The fields `fill` writes."""
    rest: list[FieldPlan]
    """The fields the level fills (placeholders were written for them)."""


def is_direct(field: FieldPlan) -> bool:
    if field.source is None:  # __typename
        return True
    if field.source.kind is not ATTRIBUTE:
        return False
    return field.complete.kind is LEAF or field.complete.kind is OBJECT


def direct(selection: Selection, pending: type, slot: type) -> Direct | None:
    """The generated filler of `selection`, or None when it has no field to write directly.
    `pending` and `slot` are run.py's classes (passed in: run.py imports this module)."""
    fields = [f for f in selection.fields if is_direct(f)]
    if not fields:
        return None
    names: dict[str, Any] = {"Pending": pending, "Slot": slot}
    lines = [
        "def fill(objects, below):",
        "    slow = []",
        "    for p in objects:",
        "        s = p.source",
        "        r = p.result",
        "        mark = len(below)",
        "        try:",
    ]
    for index, field in enumerate(selection.fields):
        key = repr(field.key)
        if not is_direct(field):
            lines.append(f"            r[{key}] = None")
            continue
        if field.source is None:
            lines.append(f"            r[{key}] = {field.parent_type.name!r}")
            continue
        lines.append(f"            v = s.{field.source.python_name}")
        complete = field.complete
        null = "None" if complete.nullable else "_null()"
        if complete.kind is OBJECT:
            names[f"sel{index}"] = complete.selection
            lines += [
                "            if v is None:",
                f"                r[{key}] = {null}",
                "            else:",
                f"                r[{key}] = c = {{}}",
                f"                below.append(Pending(sel{index}, v, c,"
                f" Slot(r, {key}, {complete.nullable}, p.slot)))",
            ]
            continue
        names[f"ser{index}"] = complete.serialize
        value = _inline(field, f"ser{index}")
        lines.append(f"            r[{key}] = {null} if v is None else {value}")
    lines += [
        "        except Exception:",
        "            del below[mark:]",
        "            slow.append(p)",
        "    return slow",
    ]
    names["_null"] = _null
    exec(compile("\n".join(lines), f"<direct {selection.type.name}>", "exec"), names)
    return Direct(names["fill"], fields, [f for f in selection.fields if not is_direct(f)])


def _inline(field: FieldPlan, serializer: str) -> str:
    """The expression completing the non-null leaf value `v`."""
    graphql_type = field.definition.type if field.definition is not None else None
    while graphql_type is not None and hasattr(graphql_type, "of_type"):
        graphql_type = graphql_type.of_type
    if graphql_type is GraphQLString or graphql_type is GraphQLID:
        return f"v if v.__class__ is str else {serializer}(v)"
    if graphql_type is GraphQLInt:
        return f"v if v.__class__ is int and -2147483648 <= v <= 2147483647 else {serializer}(v)"
    if graphql_type is GraphQLBoolean:
        return f"v if v.__class__ is bool else {serializer}(v)"
    return f"{serializer}(v)"


class _NullValue(Exception):
    """A null where the type forbids one: the general path reports it."""


def _null() -> Any:
    raise _NullValue
