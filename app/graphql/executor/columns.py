"""Which columns of a row-backed type a field's value is read for, from the plan.

A root field that lists deals (a page, one by id) reads rows for the objects its value
holds, directly or through connections and edges. The plan knows every field selected on
those objects, and each field of a row-backed type says which columns it reads
(app/graphql/types/rows.py): the resolver asks for those, and the read selects no others.
Nested objects of the same type somewhere below them come from reads of their own, and are
not counted here. When the plan cannot tell (a field that says nothing, an interface or union
whose selections are made when met), the answer is None: read every column.
"""

from __future__ import annotations

from typing import Any

from app.graphql.executor.plan import ABSTRACT, LEAF, LIST, Completion, FieldPlan
from app.graphql.executor.types import origin_of
from app.graphql.types.rows import row_uses


def columns_read(info: Any, cls: type) -> frozenset[str] | None:
    """The columns of `cls` rows that the value of the field being resolved is read for
    (`info` as the plan executor gives it to a resolver: call it before any await); None
    under the standard executor, or when the plan cannot tell."""
    field: FieldPlan | None = getattr(info, "field", None)
    if field is None:
        return None
    known = field.columns.get(cls, _UNKNOWN)
    if known is _UNKNOWN:
        known = field.columns[cls] = _read_below(field.complete, cls)
    found: frozenset[str] | None = known
    return found


_UNKNOWN: Any = object()


def _read_below(completion: Completion, cls: type) -> frozenset[str] | None:
    kind = completion.kind
    if kind is LEAF:
        return frozenset()
    if kind is LIST:
        assert completion.item is not None
        return _read_below(completion.item, cls)
    if kind is ABSTRACT:
        return None
    selection = completion.selection
    assert selection is not None
    if origin_of(selection.type) is cls:
        names: set[str] = set()
        for field in selection.fields:
            if field.source is None:
                continue  # __typename
            uses = row_uses(cls, field.source.python_name)
            if uses is None:
                return None
            names.update(uses)
        return frozenset(names)
    found: set[str] = set()
    for field in selection.fields:
        below = _read_below(field.complete, cls)
        if below is None:
            return None
        found |= below
    return frozenset(found)
