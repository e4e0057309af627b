"""Which columns of a row-backed type a field's value is read for, from the plan.

A root field that lists deals (a page, one by id) reads rows for the objects its value
holds, directly or through connections and edges. The plan knows every field selected on
those objects, and each field of a row-backed type says which columns it reads
(app/graphql/types/rows.py): the resolver asks for those, and the read selects no others.
Nested objects of the same type somewhere below them come from reads of their own, and are
not counted here. An interface or union counts the selection of each type its value may be.
When the plan cannot tell (a field that says nothing of its columns), the answer is None:
read every column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.graphql.batch import related_field
from app.graphql.executor.plan import (
    ABSTRACT,
    LEAF,
    LIST,
    Completion,
    FieldPlan,
    Planner,
    Selection,
)
from app.graphql.executor.types import origin_of
from app.graphql.types.rows import row_uses


def columns_read(info: Any, *classes: type) -> frozenset[str] | None:
    """The columns of the rows of `classes` (row-backed types made from rows of one table,
    such as the kinds of activity) that the value of the field being resolved is read for
    (`info` as the plan executor gives it to a resolver: call it before any await); None
    under the standard executor, or when the plan cannot tell."""
    return columns_read_at(At.of(info), *classes)


def columns_read_at(at: At | None, *classes: type) -> frozenset[str] | None:
    """columns_read for a field of the plan, the one being resolved or one below it."""
    return _known(at, ("columns", classes), classes, _row_uses)


class At:
    """A field of the plan (the one being resolved, or one its resolver looks ahead to),
    with the planner that made it."""

    __slots__ = ("field", "planner")

    def __init__(self, field: FieldPlan, planner: Planner) -> None:
        self.field = field
        self.planner = planner

    @classmethod
    def of(cls, info: Any) -> At | None:
        """The field being resolved; None under the standard executor."""
        field: FieldPlan | None = getattr(info, "field", None)
        return None if field is None else cls(field, info.planner)

    def below(self, cls: type, name: str) -> list[At]:
        """The fields named `name` (its Python name) of `cls` that this field's value shows,
        when that value is an object of `cls` (or a list of them), in their order."""
        completion = self.field.complete
        while completion.kind is LIST:
            assert completion.item is not None
            completion = completion.item
        selection = completion.selection
        if selection is None or origin_of(selection.type) is not cls:
            return []
        return [
            At(field, self.planner)
            for field in selection.fields
            if field.source is not None and field.source.python_name == name
        ]


def shown_columns(field: FieldPlan, planner: Planner) -> frozenset[str] | None:
    """The columns of the rows of a field's (row-backed) object type that its selection
    reads; None when the plan cannot tell."""
    found = field.columns.get(_SHOWN, _UNKNOWN)
    if found is _UNKNOWN:
        selection = field.complete.selection
        cls = origin_of(selection.type) if selection is not None else None
        found = field.columns[_SHOWN] = (
            None
            if selection is None or cls is None
            else _selection_reads(selection, (cls,), _row_uses, planner)
        )
    shown: frozenset[str] | None = found
    return shown


_SHOWN = ("shown",)


def _row_uses(cls: type, name: str, field: FieldPlan, planner: Planner) -> tuple[str, ...] | None:
    """The columns reading a field needs; for a Related field (a row its column refers to,
    joined by a reader that says so: app/crm/opportunities/queries.py), also the columns of
    that row it shows, qualified by the field's name (`owner.name`; `owner.*`: all)."""
    uses = row_uses(cls, name)
    if uses is None or related_field(cls, name) is None:
        return uses
    shown = shown_columns(field, planner)
    qualified = [f"{name}.*"] if shown is None else [f"{name}.{c}" for c in shown]
    return (*uses, *qualified)


def fields_read(info: Any, cls: type) -> frozenset[str] | None:
    """The fields (by their Python names) of `cls` objects that the value of the field being
    resolved shows; None as for columns_read."""
    return fields_read_at(At.of(info), cls)


def fields_read_at(at: At | None, cls: type) -> frozenset[str] | None:
    """fields_read for a field of the plan, the one being resolved or one below it."""
    return _known(at, ("fields", cls), (cls,), _itself)


def _itself(cls: type, name: str, field: FieldPlan, planner: Planner) -> tuple[str, ...]:
    return (name,)


Uses = Callable[[type, str, FieldPlan, Planner], "tuple[str, ...] | None"]


def _known(at: At | None, key: Any, classes: tuple[type, ...], uses: Uses) -> frozenset[str] | None:
    if at is None:
        return None
    field = at.field
    known = field.columns.get(key, _UNKNOWN)
    if known is _UNKNOWN:
        known = field.columns[key] = _read_below(field.complete, classes, uses, at.planner)
    found: frozenset[str] | None = known
    return found


_UNKNOWN: Any = object()


def _read_below(
    completion: Completion, classes: tuple[type, ...], uses: Uses, planner: Planner
) -> frozenset[str] | None:
    kind = completion.kind
    if kind is LEAF:
        return frozenset()
    if kind is LIST:
        assert completion.item is not None
        return _read_below(completion.item, classes, uses, planner)
    if kind is ABSTRACT:
        # Each type the value may be, with the selection a value of that type gets.
        found: set[str] = set()
        for object_type in planner.possible_types(completion):
            below = _selection_reads(
                planner.possible(completion, object_type.name), classes, uses, planner
            )
            if below is None:
                return None
            found |= below
        return frozenset(found)
    assert completion.selection is not None
    return _selection_reads(completion.selection, classes, uses, planner)


def _selection_reads(
    selection: Selection, classes: tuple[type, ...], uses: Uses, planner: Planner
) -> frozenset[str] | None:
    cls = origin_of(selection.type)
    if cls in classes:
        names: set[str] = set()
        for field in selection.fields:
            if field.source is None:
                continue  # __typename
            used = uses(cls, field.source.python_name, field, planner)
            if used is None:
                return None
            names.update(used)
        return frozenset(names)
    found: set[str] = set()
    for field in selection.fields:
        below = _read_below(field.complete, classes, uses, planner)
        if below is None:
            return None
        found |= below
    return frozenset(found)
