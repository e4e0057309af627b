"""Random query documents over the schema's Query root, for the differential tests.

`queries(schema, ids)` is a hypothesis strategy of (document, variables): up to four levels of
fields, aliases, inline fragments and named fragments (also on interfaces and unions: Node,
Activity, ParticipantTarget, Attendee), `@skip`/`@include` with literal and variable
conditions, and arguments given inline or through variables, with values of their types: IDs
from the seeded data (now and then one of another type, or of a missing row), `first` at most
20. Documents are meant to be valid; the few that are not (two unaliased fields of one name
whose arguments or types differ) test that both executors refuse them alike.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    ast_from_value,
    get_named_type,
    is_leaf_type,
    print_ast,
)
from graphql.pyutils import Undefined
from hypothesis import strategies as st

MAX_DEPTH = 4
MAX_FIRST = 20
MAX_NEST = 2
"""Fragments inside fragments at one level of fields."""
Draw = Any  # hypothesis's `draw` of a composite strategy

# The type of row an ID argument (or input field) names, by its name; others take any ID.
ID_KINDS = {
    "opportunityId": "Opportunity",
    "companyId": "Company",
    "companyIds": "Company",
    "awardedCompanyIds": "Company",
    "contactIds": "Contact",
    "stageIds": "Stage",
    "ownerIds": "User",
    "ownerId": "User",
    "teamIds": "Team",
    "folderId": "Folder",
    "parentId": "Folder",
    "viewId": "View",
    "lostReasonIds": "LostReason",
}
# Arguments given nearly always: without them the field is mostly refused.
USUAL = {("Query", "opportunityGroups", "groupBy")}
# Arguments given rarely: every value the generator has for them is refused (a made-up cursor
# is never valid), so at the rate of the others they would refuse most of the connections.
RARE = {"after"}
ID_KINDS_BY_FIELD = {("Query", "opportunity"): "Opportunity", ("Query", "order"): "Order"}

STRINGS = {
    "search": ["acme", "Acme rob", "glob", "a", "zzz", "", "OPP-", "123"],
    "currency": ["EUR", "USD", "JPY"],
    "leadSource": ["web", "Referral", "none"],
    "after": ["bm90IGEgY3Vyc29y", "garbage"],
}
SCALARS: dict[str, list[Any]] = {
    "Decimal": ["0", "100.00", "5000", "25000.5", "1000000"],
    "Date": ["2026-01-01", "2026-11-30", "2027-03-31", "2031-12-31"],
    "DateTime": [
        "2020-01-01T00:00:00Z",
        "2026-06-01T12:00:00+02:00",
        "2031-03-10T00:00:00Z",
        "2031-03-11T00:00:00Z",
        "2033-01-01T00:00:00Z",
    ],
    "JSON": [{"a": 1}, "x", 3],
    "String": ["x", "Acme", ""],
}

WINDOWS = [
    ("2031-03-01T00:00:00Z", "2031-04-01T00:00:00Z"),
    ("2032-01-01T00:00:00+02:00", "2032-12-31T00:00:00+02:00"),
    ("2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z"),
    ("2031-03-10T14:30:00Z", "2031-03-10T15:00:00Z"),
]


@dataclass
class Fragment:
    name: str
    on: GraphQLNamedType
    depth: int
    """The level of the fields it was made for: it may be spread there or deeper."""


@dataclass
class Document:
    """A document being written: its fragments and variables so far."""

    fragments: dict[str, Fragment] = field(default_factory=dict)
    definitions: list[str] = field(default_factory=list)
    building: set[str] = field(default_factory=set)
    variables: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    unaliased: dict[tuple[str, str], str] = field(default_factory=dict)
    """The arguments of fields written without an alias, by parent type and field name."""
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"


class Writer:
    """Writes documents over one schema, with IDs from the seeded data."""

    def __init__(self, schema: GraphQLSchema, ids: dict[str, list[str]]) -> None:
        self.schema = schema
        self.ids = ids
        self.all_ids = sorted({i for found in ids.values() for i in found})
        self.missing = "T3Bwb3J0dW5pdHk6OTg3NjU0"  # Opportunity:987654
        query_type = schema.query_type
        assert query_type is not None
        self.query_type = query_type

    # --- types ------------------------------------------------------------------------

    def possible(self, named: GraphQLNamedType) -> set[str]:
        if isinstance(named, GraphQLObjectType):
            return {named.name}
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            return {t.name for t in self.schema.get_possible_types(named)}
        return set()

    def conditions(self, named: GraphQLNamedType) -> list[GraphQLNamedType]:
        """The type conditions a fragment may have where `named` is expected."""
        mine = self.possible(named)
        found = [
            t
            for t in self.schema.type_map.values()
            if not t.name.startswith("__")
            and isinstance(t, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)
            and mine & self.possible(t)
            and t is not self.schema.mutation_type
            and t is not self.schema.subscription_type
        ]
        return sorted(found, key=lambda t: (t is not named, t.name))

    # --- selections -------------------------------------------------------------------

    def selection(
        self, draw: Draw, doc: Document, named: GraphQLNamedType, depth: int, nest: int = 0
    ) -> str:
        """`{ … }` for a value of `named` whose fields stand at level `depth`, inside `nest`
        fragments at that level."""
        count = draw(st.integers(1, 3 if depth < MAX_DEPTH else 4))
        items = [self.item(draw, doc, named, depth, nest) for _ in range(count)]
        return "{ " + " ".join(items) + " }"

    def item(
        self, draw: Draw, doc: Document, named: GraphQLNamedType, depth: int, nest: int
    ) -> str:
        fields = self.fields_of(named, depth)
        choices = ["field"] * 6 if fields else []
        choices += ["typename"]
        if nest < MAX_NEST:
            choices += ["inline", "named"]
            if not fields:
                choices += ["inline", "named"]
        choice = draw(st.sampled_from(choices))
        if choice == "field":
            return self.field(draw, doc, named, depth, fields)
        if choice == "typename":
            alias = f"{doc.name('t')}: " if draw(st.booleans()) else ""
            return f"{alias}__typename{self.directives(draw, doc)}"
        on = draw(st.sampled_from(self.conditions(named)))
        if choice == "inline":
            condition = "" if on is named and draw(st.booleans()) else f" on {on.name}"
            body = self.selection(draw, doc, on, depth, nest + 1)
            return f"...{condition}{self.directives(draw, doc)} {body}"
        spread = self.fragment(draw, doc, named, on, depth, nest + 1)
        return f"...{spread}{self.directives(draw, doc)}"

    def fragment(
        self,
        draw: Draw,
        doc: Document,
        parent: GraphQLNamedType,
        on: GraphQLNamedType,
        depth: int,
        nest: int,
    ) -> str:
        """The name of a fragment that may be spread in `parent`: one already written, or a
        new one on `on`."""
        reusable = [
            f.name
            for f in doc.fragments.values()
            if f.name not in doc.building
            and f.depth <= depth
            and self.possible(f.on) & self.possible(parent)
        ]
        if reusable and draw(st.booleans()):
            chosen: str = draw(st.sampled_from(reusable))
            return chosen
        name = doc.name("F")
        doc.building.add(name)
        body = self.selection(draw, doc, on, depth, nest)
        doc.building.discard(name)
        doc.fragments[name] = Fragment(name, on, depth)
        doc.definitions.append(f"fragment {name} on {on.name} {body}")
        return name

    def fields_of(self, named: GraphQLNamedType, depth: int) -> list[tuple[str, GraphQLField]]:
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            return []
        found: list[tuple[str, GraphQLField]] = []
        for name, definition in sorted(named.fields.items()):
            if depth >= MAX_DEPTH and not is_leaf_type(get_named_type(definition.type)):
                continue
            found.append((name, definition))
        return found

    def field(
        self,
        draw: Draw,
        doc: Document,
        parent: GraphQLNamedType,
        depth: int,
        fields: list[tuple[str, GraphQLField]],
    ) -> str:
        composite = [f for f in fields if not is_leaf_type(get_named_type(f[1].type))]
        pool = composite if composite and draw(st.booleans()) else fields
        name, definition = draw(st.sampled_from(pool))
        aliased = draw(st.integers(0, 9)) < (6 if definition.args else 2)
        alias = f"{doc.name('a')}: " if aliased else ""
        key = (parent.name, name)
        if not aliased and key in doc.unaliased:
            # The same field again under its own name: with the same arguments, or the two
            # could not be merged.
            arguments = doc.unaliased[key]
        else:
            arguments = self.arguments(draw, doc, parent, name, definition)
            if not aliased:
                doc.unaliased[key] = arguments
        text = f"{alias}{name}{arguments}{self.directives(draw, doc)}"
        named = get_named_type(definition.type)
        if not is_leaf_type(named):
            text += " " + self.selection(draw, doc, named, depth + 1)
        return text

    def directives(self, draw: Draw, doc: Document) -> str:
        found = []
        for name in ("skip", "include"):
            if draw(st.integers(0, 9)) >= 1:
                continue
            how = draw(st.sampled_from(["literal", "variable", "defaulted"]))
            if how == "literal":
                found.append(f"@{name}(if: {'true' if draw(st.booleans()) else 'false'})")
                continue
            variable = doc.name("c")
            if how == "variable":
                doc.variables.append(f"${variable}: Boolean!")
                doc.values[variable] = draw(st.booleans())
            else:
                default = draw(st.booleans())
                doc.variables.append(f"${variable}: Boolean = {'true' if default else 'false'}")
                # Explicitly null now and then: the variable may be null, its use may not.
                given = draw(st.sampled_from(["omitted", "omitted", True, False, None]))
                if given != "omitted":
                    doc.values[variable] = given
            found.append(f"@{name}(if: ${variable})")
        return "".join(f" {d}" for d in found)

    # --- arguments --------------------------------------------------------------------

    def arguments(
        self, draw: Draw, doc: Document, parent: GraphQLNamedType, name: str, definition: Any
    ) -> str:
        values: dict[str, Any] = {}
        for argument_name, argument in sorted(definition.args.items()):
            required = (
                isinstance(argument.type, GraphQLNonNull) and argument.default_value is Undefined
            )
            usual = (parent.name, name, argument_name) in USUAL
            odds = 9 if usual else (1 if argument_name in RARE else 3)
            if not required and draw(st.integers(0, 9)) >= odds:
                continue
            kind = ID_KINDS_BY_FIELD.get((parent.name, name))
            values[argument_name] = self.value(draw, argument.type, argument_name, kind, 0)
        if (parent.name, name) == ("Query", "appointments"):
            # A window the server takes (at most 370 days).
            values["from"], values["to"] = draw(st.sampled_from(WINDOWS))
        ordered(values)
        given = [
            f"{key}: {self.argument(draw, doc, definition.args[key].type, value)}"
            for key, value in values.items()
        ]
        return f"({', '.join(given)})" if given else ""

    def argument(self, draw: Draw, doc: Document, type_: GraphQLInputType, value: Any) -> str:
        """The value inline, or a new variable holding it."""
        if draw(st.booleans()):
            return literal(value, type_)
        variable = doc.name("v")
        if value is not None and draw(st.integers(0, 9)) == 0:
            # A variable whose default holds the value, sent without it.
            nullable = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
            doc.variables.append(f"${variable}: {nullable} = {literal(value, type_)}")
            return f"${variable}"
        doc.variables.append(f"${variable}: {type_}")
        doc.values[variable] = value
        return f"${variable}"

    def value(
        self, draw: Draw, type_: GraphQLInputType, name: str, kind: str | None, nesting: int
    ) -> Any:
        """A value of `type_` for the argument or input field `name`."""
        if not isinstance(type_, GraphQLNonNull):
            if draw(st.integers(0, 19)) < (18 if name == "after" else 1):
                return None
            return self.value(draw, GraphQLNonNull(type_), name, kind, nesting)
        inner = type_.of_type
        if isinstance(inner, GraphQLList):
            low = 1 if name == "ids" else 0
            count = draw(st.integers(low, 3 if nesting < 1 else 1))
            items = [self.value(draw, inner.of_type, name, kind, nesting + 1) for _ in range(count)]
            if name == "orderBy":  # each sort field once
                items = list({repr(i.get("field")): i for i in items if i}.values())
            return items
        if isinstance(inner, GraphQLEnumType):
            return draw(st.sampled_from(sorted(inner.values)))
        if isinstance(inner, GraphQLInputObjectType):
            return self.input_object(draw, inner, nesting)
        assert isinstance(inner, GraphQLScalarType)
        return self.scalar(draw, inner.name, name, kind)

    def input_object(self, draw: Draw, type_: GraphQLInputObjectType, nesting: int) -> Any:
        found: dict[str, Any] = {}
        for name, input_field in sorted(type_.fields.items()):
            required = isinstance(input_field.type, GraphQLNonNull) and (
                input_field.default_value is Undefined
            )
            nested = isinstance(get_named_type(input_field.type), GraphQLInputObjectType)
            if not required and (
                draw(st.integers(0, 9)) >= (1 if nested else 2) or (nested and nesting >= 1)
            ):
                continue
            found[name] = self.value(draw, input_field.type, name, None, nesting + 1)
        return ordered(found)

    def scalar(self, draw: Draw, scalar: str, name: str, kind: str | None) -> Any:
        if scalar == "ID":
            kind = kind or ID_KINDS.get(name)
            pool = self.ids.get(kind, []) if kind else self.all_ids
            odd = draw(st.integers(0, 39))
            if odd == 0 or not pool:
                return self.missing
            if odd == 1:
                return draw(st.sampled_from(self.all_ids))
            return draw(st.sampled_from(pool))
        if scalar == "Int":
            if name in ("min", "max"):
                return draw(st.integers(0, 100))
            return draw(st.integers(0, MAX_FIRST))
        if scalar == "Boolean":
            return draw(st.booleans())
        if scalar == "Float":
            return draw(st.sampled_from([0.0, 1.5]))
        if scalar == "String" and name in STRINGS:
            return draw(st.sampled_from(STRINGS[name]))
        return draw(st.sampled_from(SCALARS.get(scalar, ["x"])))

    # --- documents --------------------------------------------------------------------

    def document(self, draw: Draw) -> tuple[str, dict[str, Any]]:
        doc = Document()
        root = self.selection(draw, doc, self.query_type, 1)
        name = f" {doc.name('Q')}" if draw(st.booleans()) else ""
        variables = f"({', '.join(doc.variables)})" if doc.variables else ""
        head = f"query{name}{variables}" if name or variables else ""
        if not head and draw(st.booleans()):
            head = "query"
        text = "\n".join([f"{head} {root}".strip(), *doc.definitions])
        return text, doc.values


def ordered(values: dict[str, Any]) -> dict[str, Any]:
    """Ranges the right way round (min <= max, from <= to), mostly: a reversed one is refused
    as BAD_USER_INPUT, and refusals would crowd out answers."""
    for low, high in (("min", "max"), ("from", "to")):
        first, second = values.get(low), values.get(high)
        if first is not None and second is not None and sortable(first) > sortable(second):
            values[low], values[high] = second, first
    return values


def sortable(value: Any) -> tuple[int, Decimal, str]:
    if isinstance(value, int):
        return (0, Decimal(value), "")
    try:
        return (0, Decimal(value), "")
    except (ArithmeticError, ValueError, TypeError):
        return (1, Decimal(0), str(value))


def literal(value: Any, type_: GraphQLInputType) -> str:
    node = ast_from_value(value, type_)
    assert node is not None, (value, type_)
    return print_ast(node)


def queries(schema: GraphQLSchema, ids: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    writer = Writer(schema, ids)

    @st.composite
    def one(draw: Draw) -> tuple[str, dict[str, Any]]:
        return writer.document(draw)

    return one()
