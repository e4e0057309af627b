"""Types whose objects are a row and nothing else: each field made from the row when read.

A page shows a few of a deal's twenty fields, and making all of them (ids, enums, money)
for every row cost a tenth of its time. An object of such a type holds only its row; a
field is made from it when first read (and kept), as the standard executor reads it. The
plan executor's generated fills (app/graphql/executor/compiled.py) read the type's
`ROW_FIELDS` and make each selected field straight from the row, without the object's
attribute lookup: a `Column` is the row's value as it is, an `EnumColumn` an enum's member
by the row's value (written as the member's name without making it), an `Embedded` a small
object of the row's values (a deal's money: written as an object of the selected fields
without making it), anything else a function of the row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Self

import strawberry
from strawberry.types.base import get_object_definition

from app.graphql.ids import encode_id

ROW_FIELDS = "ROW_FIELDS"
"""The class attribute of a row-backed type: {field's Python name: Column or function}."""


class Column:
    """A field that is the row's value of the column `name`, as it is (a property of the
    row's reading the columns `uses`)."""

    __slots__ = ("name", "uses")

    def __init__(self, name: str, uses: tuple[str, ...] | None = None) -> None:
        self.name = name
        self.uses = uses or (name,)

    def __call__(self, row: Any) -> Any:
        return getattr(row, self.name)


class Computed:
    """A field that `make` computes from the row, reading its columns `uses`."""

    __slots__ = ("make", "uses")

    def __init__(self, make: Callable[[Any], Any], *uses: str) -> None:
        self.make = make
        self.uses = uses

    def __call__(self, row: Any) -> Any:
        return self.make(row)


def columns(*names: str) -> dict[str, Column]:
    """Fields that are the columns of the same names, as they are."""
    return {name: Column(name) for name in names}


class NodeId(Computed):
    """The `id` field of a Node, made from the row's `id` column."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        super().__init__(lambda r: strawberry.ID(encode_id(type_name, r.id)), "id")
        self.type_name = type_name


def node_id(type_name: str) -> NodeId:
    return NodeId(type_name)


class EnumColumn(Column):
    """A field that is the member of `enum` whose value the column holds."""

    __slots__ = ("enum",)

    def __init__(self, name: str, enum: type[Enum]) -> None:
        super().__init__(name)
        self.enum = enum

    def __call__(self, row: Any) -> Any:
        value = getattr(row, self.name)
        return None if value is None else self.enum(value)


class Embedded:
    """A field holding an object of `cls` made of the row's values, each of its fields a
    Column or a function of the row; None where `when` says the row has none."""

    __slots__ = ("cls", "fields", "uses", "when")

    def __init__(
        self,
        cls: type,
        fields: Mapping[str, Column | Computed],
        when: Computed | None = None,
    ) -> None:
        self.cls = cls
        self.fields = fields
        self.when = when
        read = [*fields.values(), *([when] if when is not None else [])]
        self.uses = tuple(dict.fromkeys(c for made in read for c in made.uses))

    def __call__(self, row: Any) -> Any:
        if self.when is not None and not self.when(row):
            return None
        return self.cls(**{name: make(row) for name, make in self.fields.items()})


def row_uses(cls: type, name: str) -> tuple[str, ...] | None:
    """The row columns reading the field `name` of a row-backed type needs; None when the
    type does not say (then a reader reads them all)."""
    made = (row_fields(cls) or {}).get(name)
    uses: tuple[str, ...] | None = getattr(made, "uses", None)
    if uses is None:
        uses = getattr(cls, "ROW_USES", {}).get(name)
    return uses


def row_fields(cls: type) -> Mapping[str, Callable[[Any], Any]] | None:
    found: Mapping[str, Callable[[Any], Any]] | None = getattr(cls, ROW_FIELDS, None)
    return found


class RowBacked:
    """The base of a row-backed Strawberry type: `of(row)` makes an object of it, and its
    class declares `ROW_FIELDS` for every field without a resolver."""

    __slots__ = ()
    ROW_FIELDS: ClassVar[Mapping[str, Callable[[Any], Any]]]
    ROW_USES: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """For its other fields (relations, resolvers): the row columns each reads."""
    RELATED: ClassVar[Mapping[str, Any]] = {}
    """Its fields that are the rows a column refers to, by name (app/graphql/batch.py
    `Related`)."""

    @classmethod
    def of(cls, row: Any) -> Self:
        made = object.__new__(cls)
        made.__dict__["row"] = row
        return made

    if not TYPE_CHECKING:  # for mypy, the fields are the declared attributes

        def __getattr__(self, name: str) -> Any:
            # Only for what is not in __dict__ yet: a field read for the first time.
            make = getattr(type(self), ROW_FIELDS).get(name)
            row = self.__dict__.get("row")
            if make is None or row is None:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
            value = make(row)
            self.__dict__[name] = value
            return value


def check_row_fields(cls: type) -> None:
    """Every field of a row-backed type without a resolver must say how the row makes it,
    and every other field which of the row's columns it reads."""
    made = row_fields(cls) or {}
    fields = get_object_definition(cls, strict=True).fields
    unmade = {f.python_name for f in fields if f.base_resolver is None} - {"row", *made}
    if unmade:
        raise RuntimeError(f"{cls.__name__} fields the row does not make: {sorted(unmade)}")
    unsaid = {f.python_name for f in fields if row_uses(cls, f.python_name) is None} - {"row"}
    if unsaid:
        raise RuntimeError(f"{cls.__name__} fields that do not say what they read: {unsaid}")
