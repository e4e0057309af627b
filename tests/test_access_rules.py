"""Authorization by declaration (issue 14 point 1): every field of the API declares who may
read it (app/graphql/access.py), and the declarations hold through the API.

- Every field of every object and interface type, and every root field, has a rule; every
  declaration names something that exists. Nothing ADMIN is reachable below a root field
  open to members (only root fields are refused before an operation runs).
- Without a token, every query and mutation root field but the ANYONE ones answers
  UNAUTHENTICATED, before anything runs (subscriptions need a WebSocket, whose
  connection_init is refused without a token: tests/test_auth.py).
- A member asking for an ADMIN root field gets FORBIDDEN: an error for a query or a
  subscription, a userError for a mutation; and nothing changes. Each ADMIN root field has
  its case here, and a new one fails until it has one.
- A root field that takes the ID of something that may be hidden from the caller (DEAL,
  OWN, OWNER_OR_ADMIN) answers a member who may not see it exactly as it answers the ID of
  nothing: data and errors, messages and all. Each such argument has its case, here or in
  the test named for it.
"""

from __future__ import annotations

import base64
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLUnionType,
    get_named_type,
)

from app.graphql.access import (
    ADMIN,
    ANYONE,
    DEAL,
    FIELDS,
    OWN,
    OWNER_OR_ADMIN,
    ROOTS,
    TYPES,
    Access,
    rule,
)
from app.graphql.schema import schema
from tests.client import Api, without_cost
from tests.orders_client import create_opportunity, create_order, create_product, team_with
from tests.test_order_visibility_events import subscription_errors

GRAPH = schema._schema
ROOT_TYPES: dict[str, GraphQLObjectType | None] = {
    "query": GRAPH.query_type,
    "mutation": GRAPH.mutation_type,
    "subscription": GRAPH.subscription_type,
}
# Meta fields an operation may ask of its root: the formula names them as root fields too.
META = {"query": {"__typename", "__schema", "__type"}, "mutation": {"__typename"}}
META["subscription"] = META["mutation"]


def fields_of_roots() -> Iterator[tuple[str, str]]:
    for kind, root in ROOT_TYPES.items():
        for name in [*(root.fields if root is not None else ()), *META[kind]]:
            yield kind, name


def object_types() -> Iterator[GraphQLObjectType | GraphQLInterfaceType]:
    roots = {root.name for root in ROOT_TYPES.values() if root is not None}
    for name, named in GRAPH.type_map.items():
        if name.startswith("__") or name in roots:
            continue
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            yield named


def declared_roots(access: Access, *kinds: str) -> set[tuple[str, str]]:
    return {
        (kind, name)
        for kind in kinds
        for name, declared in ROOTS[kind].items()
        if declared is access
    }


def leaf(output: GraphQLOutputType) -> bool:
    return isinstance(get_named_type(output), GraphQLScalarType | GraphQLEnumType)


def selection(output: GraphQLOutputType, depth: int = 2) -> str:
    """The fields of an object `depth` levels deep (deeper, or of an interface or a union,
    its __typename), so that whatever an answer would give away is in it."""
    named = get_named_type(output)
    if leaf(output):
        return ""
    if depth == 0 or not isinstance(named, GraphQLObjectType):
        return "{ __typename }"
    shown = [
        f"{name} {selection(field.type, depth - 1)}"
        for name, field in named.fields.items()
        if not any(isinstance(a.type, GraphQLNonNull) for a in field.args.values())
    ]
    return "{ " + " ".join(shown) + " }"


def operation(kind: str, name: str) -> str:
    """An operation asking for root field `name`, each argument from a variable of its own
    name and type."""
    root = ROOT_TYPES[kind]
    assert root is not None
    field = root.fields[name]
    declared = ", ".join(f"${arg}: {a.type}" for arg, a in field.args.items())
    passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
    return (
        f"{kind}{f'({declared})' if declared else ''} "
        f"{{ {name}{f'({passed})' if passed else ''} {selection(field.type)} }}"
    )


def missing(type_name: str) -> str:
    """A well-formed ID of a `type_name` that does not exist."""
    return base64.b64encode(f"{type_name}:999999".encode()).decode()


def codes(errors: list[dict[str, Any]] | None) -> list[str]:
    return [error.get("extensions", {}).get("code") for error in errors or []]


# --- the declarations cover the schema --------------------------------------------------------


def test_every_field_declares_who_may_read_it() -> None:
    undeclared = [f"{kind} {name}" for kind, name in fields_of_roots() if name not in ROOTS[kind]]
    for named in object_types():
        undeclared += [f"{named.name}.{f}" for f in named.fields if rule(named.name, f) is None]
    assert not undeclared, f"no access rule (app/graphql/access.py) for: {', '.join(undeclared)}"


def test_every_declaration_names_something_that_exists() -> None:
    roots = set(fields_of_roots())
    stale = [
        f"{kind} {name}" for kind in ROOTS for name in ROOTS[kind] if (kind, name) not in roots
    ]
    types = {named.name: named for named in object_types()}
    stale += [name for name in TYPES if name not in types]
    stale += [
        f"{type_name}.{field}"
        for type_name, field in FIELDS
        if type_name not in types or field not in types[type_name].fields
    ]
    assert not stale, f"declared in app/graphql/access.py, not in the schema: {', '.join(stale)}"


def test_nothing_admin_is_reached_through_a_root_field_open_to_members() -> None:
    # Members are refused ADMIN root fields (before the operation runs, or by the mutation's
    # service), and nothing below: an ADMIN field below a root that members may ask for
    # would be theirs to read.
    found: list[str] = []
    seen: set[str] = set()
    todo: list[tuple[str, GraphQLOutputType]] = [
        (f"{kind} {name}", root.fields[name].type)
        for kind, root in ROOT_TYPES.items()
        if root is not None
        for name in root.fields
        if ROOTS[kind].get(name) is not ADMIN
    ]
    while todo:
        path, output = todo.pop()
        for named in implementations(get_named_type(output)):
            if named.name in seen:
                continue
            seen.add(named.name)
            for name, field in named.fields.items():
                if rule(named.name, name) is ADMIN:
                    found.append(f"{path} > {named.name}.{name}")
                else:
                    todo.append((f"{path} > {named.name}.{name}", field.type))
    assert not found, f"ADMIN fields members may reach: {', '.join(found)}"


def implementations(named: GraphQLNamedType) -> list[GraphQLObjectType | GraphQLInterfaceType]:
    if isinstance(named, GraphQLObjectType):
        return [named]
    if isinstance(named, GraphQLInterfaceType):
        return [named, *GRAPH.get_possible_types(named)]
    if isinstance(named, GraphQLUnionType):
        return list(named.types)
    return []


# --- without a token ---------------------------------------------------------------------------

UNAUTHENTICATED = {
    "data": None,
    "errors": [
        {
            "message": "authentication required: log in and send the token as "
            "'Authorization: Bearer <token>'",
            "extensions": {"code": "UNAUTHENTICATED"},
        }
    ],
}


async def test_without_a_token_only_anyone_fields_run(api: Api) -> None:
    answered: dict[str, Any] = {}
    for kind, name in sorted(fields_of_roots()):
        if kind == "subscription" or ROOTS[kind].get(name) is ANYONE:
            continue
        # No variables: the refusal comes before they are even read.
        answered[f"{kind} {name}"] = without_cost(await api.gql(operation(kind, name)))
    wrong = {field: body for field, body in answered.items() if body != UNAUTHENTICATED}
    assert not wrong, wrong
    assert len(answered) > 50  # every field of the schema, not a few

    data = await api.ok('{ __typename __type(name: "Query") { name } __schema { __typename } }')
    assert data == {
        "__typename": "Query",
        "__type": {"name": "Query"},
        "__schema": {"__typename": "__Schema"},
    }
    login = await api.gql(
        'mutation { __typename login(input: {email: "nobody@example.com", password: "wrong"}) '
        "{ token userErrors { code } } }"
    )
    assert without_cost(login) == {
        "data": {
            "__typename": "Mutation",
            "login": {"token": None, "userErrors": [{"code": "INVALID_CREDENTIALS"}]},
        }
    }
    # One field without its rule satisfied refuses the whole operation: nothing runs.
    mixed = "{ __typename stages { id } }"
    assert without_cost(await api.gql(mixed)) == UNAUTHENTICATED


# --- admin only --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    """What the admin cases work on, made by the admin: a member to refuse, another user in
    a team, a stage, a product and a persisted query."""

    member_id: str
    member: str
    other_id: str
    team_id: str
    stage_id: str
    product_id: str
    persisted_hash: str


ADMIN_CASES: dict[tuple[str, str], Callable[[Staff], dict[str, Any]]] = {
    ("query", "persistedQueries"): lambda s: {},
    ("query", "auditLog"): lambda s: {},
    ("mutation", "createUser"): lambda s: {
        "input": {"email": "sock@example.com", "name": "Sock", "password": "long enough password"}
    },
    ("mutation", "updateUser"): lambda s: {"input": {"id": s.member_id, "role": "ADMIN"}},
    ("mutation", "createTeam"): lambda s: {"input": {"name": "Mine"}},
    ("mutation", "renameTeam"): lambda s: {"input": {"id": s.team_id, "name": "Mine"}},
    ("mutation", "deleteTeam"): lambda s: {"input": {"id": s.team_id}},
    ("mutation", "addTeamMember"): lambda s: {
        "input": {"teamId": s.team_id, "userId": s.member_id}
    },
    ("mutation", "removeTeamMember"): lambda s: {
        "input": {"teamId": s.team_id, "userId": s.other_id}
    },
    ("mutation", "createStage"): lambda s: {"input": {"name": "Mine"}},
    ("mutation", "updateStage"): lambda s: {"input": {"id": s.stage_id, "name": "Mine"}},
    ("mutation", "deleteStage"): lambda s: {"input": {"id": s.stage_id}},
    ("mutation", "createProduct"): lambda s: {
        "input": {"sku": "MINE", "name": "Mine", "unitPrice": {"amount": "1", "currency": "EUR"}}
    },
    ("mutation", "updateProduct"): lambda s: {"input": {"id": s.product_id, "name": "Mine"}},
    ("mutation", "registerPersistedQuery"): lambda s: {
        "input": {"document": "{ teams { id } }", "name": "Teams"}
    },
    ("mutation", "removePersistedQuery"): lambda s: {"input": {"hash": s.persisted_hash}},
}
"""Per ADMIN root field: the variables of an attempt that an admin's would change things."""

EVERYTHING_ADMINS_MANAGE = """{
  users(includeInactive: true) { id email name role isActive teams { id } }
  teams { id name members { id } }
  stages { id name position kind defaultProbability forecastCategory }
  products(first: 100) { nodes { id sku name unitPrice { amount currency } isActive version } }
  persistedQueries { hash name }
}"""
REGISTER = """mutation($input: RegisterPersistedQueryInput!) {
  registerPersistedQuery(input: $input) { persistedQuery { hash } userErrors { code } } }"""


def test_every_admin_root_field_has_a_case() -> None:
    declared = declared_roots(ADMIN, *ROOTS)
    assert declared - ADMIN_CASES.keys() == set(), "ADMIN root fields without a case here"
    assert ADMIN_CASES.keys() - declared == set(), "cases of root fields not declared ADMIN"


async def staff(api: Api, admin_token: str) -> Staff:
    member_id, member = await api.create_user(admin_token, "mia@example.com")
    other_id, _ = await api.create_user(admin_token, "max@example.com")
    stages = (await api.ok("{ stages { id } }", token=admin_token))["stages"]
    registered = await api.mutate(
        "registerPersistedQuery",
        REGISTER,
        {"input": {"document": "{ stages { id } }", "name": "Stages"}},
        admin_token,
    )
    return Staff(
        member_id=member_id,
        member=member,
        other_id=other_id,
        team_id=await team_with(api, admin_token, other_id),
        stage_id=stages[-1]["id"],
        product_id=(await create_product(api, admin_token))["id"],
        persisted_hash=registered["persistedQuery"]["hash"],
    )


async def test_a_member_is_refused_every_admin_root_field(api: Api, admin_token: str) -> None:
    s = await staff(api, admin_token)
    before = await api.ok(EVERYTHING_ADMINS_MANAGE, token=admin_token)
    wrong: dict[str, Any] = {}
    for (kind, name), variables in sorted(ADMIN_CASES.items()):
        document = operation(kind, name)
        body: Any
        if kind == "subscription":
            body = await subscription_errors(api, s.member, document, variables(s))
            refused = codes(body) == ["FORBIDDEN"]
        elif kind == "query":
            body = await api.gql(document, variables(s), s.member)
            refused = body["data"] is None and codes(body.get("errors")) == ["FORBIDDEN"]
        else:
            body = await api.gql(document, variables(s), s.member)
            payload = (body.get("data") or {}).get(name) or {}
            refused = [e["code"] for e in payload.get("userErrors", [])] == ["FORBIDDEN"]
            # and nothing of what an admin would have got back
            refused &= all(v is None for f, v in payload.items() if f != "userErrors")
        if not refused:
            wrong[f"{kind} {name}"] = body
        elif await api.ok(EVERYTHING_ADMINS_MANAGE, token=admin_token) != before:
            wrong[f"{kind} {name}"] = "refused, but something changed"
    assert not wrong, wrong


# --- hidden looks missing ----------------------------------------------------------------------


@dataclass(frozen=True)
class Hidden:
    """A private deal of Alice's with what hangs from it, and a private view of hers; Bob
    may see none of them."""

    alice_id: str
    bob: str
    opportunity: str
    participant: str
    activity: str
    order: str
    line: str
    view: str


@dataclass(frozen=True)
class Probe:
    kind: str
    document: str
    hidden: dict[str, Any]
    missing: dict[str, Any]


NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"
OPPORTUNITY = "query($id: ID!) { opportunity(id: $id) { id name } }"
ORDER = "query($id: ID!) { order(id: $id) { id number } }"
ORDERS = """query($opportunity: ID) {
  orders(filter: {opportunityId: $opportunity}) { totalCount nodes { id } } }"""
PAGE = "query($view: ID) { opportunities(viewId: $view) { totalCount nodes { id } } }"
GROUPS = "query($view: ID) { opportunityGroups(viewId: $view, groupBy: STATUS) { key count } }"
EVENTS_IN_VIEW = "subscription($view: ID) { opportunityEvents(viewId: $view) { kind } }"
TOKENS = "query($user: ID) { accessTokens(userId: $user) { id name } }"


def node_probes(h: Hidden) -> list[Probe]:
    return [
        Probe("query", NODE, {"id": hidden}, {"id": missing(type_name)})
        for type_name, hidden in hidden_nodes(h)
    ]


def hidden_nodes(h: Hidden) -> list[tuple[str, str]]:
    return [
        ("Opportunity", h.opportunity),
        ("Participant", h.participant),
        ("Activity", h.activity),
        ("Order", h.order),
        ("OrderLine", h.line),
        ("View", h.view),
    ]


HIDDEN_CASES: dict[tuple[str, str], Callable[[Hidden], list[Probe]]] = {
    ("node", "id"): node_probes,
    ("nodes", "ids"): lambda h: [
        Probe(
            "query",
            NODES,
            {"ids": [hidden for _, hidden in hidden_nodes(h)]},
            {"ids": [missing(type_name) for type_name, _ in hidden_nodes(h)]},
        )
    ],
    ("opportunity", "id"): lambda h: [
        Probe("query", OPPORTUNITY, {"id": h.opportunity}, {"id": missing("Opportunity")})
    ],
    ("order", "id"): lambda h: [Probe("query", ORDER, {"id": h.order}, {"id": missing("Order")})],
    ("orders", "filter.opportunityId"): lambda h: [
        Probe(
            "query", ORDERS, {"opportunity": h.opportunity}, {"opportunity": missing("Opportunity")}
        )
    ],
    ("opportunities", "viewId"): lambda h: [
        Probe("query", PAGE, {"view": h.view}, {"view": missing("View")})
    ],
    ("opportunityGroups", "viewId"): lambda h: [
        Probe("query", GROUPS, {"view": h.view}, {"view": missing("View")})
    ],
    ("accessTokens", "userId"): lambda h: [
        Probe("query", TOKENS, {"user": h.alice_id}, {"user": missing("User")})
    ],
    ("opportunityEvents", "viewId"): lambda h: [
        Probe("subscription", EVENTS_IN_VIEW, {"view": h.view}, {"view": missing("View")})
    ],
}
"""Per root field and argument: queries (or subscriptions) naming a hidden object, and the
same naming a missing one."""

TESTED_ELSEWHERE = {
    ("opportunityEvents", "opportunityId"): (
        "tests.test_visibility",
        "test_subscribing_to_a_hidden_opportunity_fails_like_a_missing_one",
    ),
    ("orderEvents", "orderId"): (
        "tests.test_order_visibility_events",
        "test_an_outsider_gets_the_same_errors_as_for_a_missing_order",
    ),
    ("presence", "opportunityId"): (
        "tests.test_presence",
        "test_private_deals_never_show_in_an_outsiders_presence",
    ),
}


def test_every_argument_naming_what_may_be_hidden_has_a_case() -> None:
    takes_ids = {
        (name, arg)
        for access in (DEAL, OWN, OWNER_OR_ADMIN)
        for kind, name in declared_roots(access, "query", "subscription")
        if (root := ROOT_TYPES[kind]) is not None
        for arg, argument in root.fields[name].args.items()
        if get_named_type(argument.type).name == "ID"
    }
    covered = HIDDEN_CASES.keys() | TESTED_ELSEWHERE.keys()
    assert takes_ids - covered == set(), "arguments naming what may be hidden, without a case"
    for (name, _), (module, test) in TESTED_ELSEWHERE.items():
        assert hasattr(importlib.import_module(module), test), (name, module, test)
    roots = {name for _, name in fields_of_roots()}
    assert {name for name, _ in covered} <= roots, "cases of root fields that no longer exist"


JOURNAL = """mutation($input: AddJournalInput!) {
  addJournal(input: $input) { activity { id } userErrors { code } } }"""
LINK = """mutation($input: LinkParticipantInput!) {
  linkParticipant(input: $input) { participant { id } userErrors { code } } }"""
VIEW = """mutation($input: CreateViewInput!) {
  createView(input: $input) { view { id } userErrors { code } } }"""


async def hidden(api: Api, admin_token: str) -> Hidden:
    alice_id, alice = await api.create_user(admin_token, "alice@example.com")
    _, bob = await api.create_user(admin_token, "bob@example.com")
    lynn_id, _ = await api.create_user(admin_token, "lynn@example.com")
    deal = await create_opportunity(api, alice, visibility="PRIVATE")
    linked = await api.mutate(
        "linkParticipant",
        LINK,
        {"input": {"opportunityId": deal, "participantId": lynn_id, "role": "SALES_REP"}},
        alice,
    )
    journal = await api.mutate(
        "addJournal", JOURNAL, {"input": {"opportunityId": deal, "body": "Met them"}}, alice
    )
    line = {"description": "Item", "unitPrice": "10.00", "taxRate": "19"}
    order = await create_order(api, alice, opportunityId=deal, lines=[line])
    view = await api.mutate("createView", VIEW, {"input": {"name": "Mine"}}, alice)
    return Hidden(
        alice_id=alice_id,
        bob=bob,
        opportunity=deal,
        participant=linked["participant"]["id"],
        activity=journal["activity"]["id"],
        order=order["id"],
        line=order["lines"][0]["id"],
        view=view["view"]["id"],
    )


async def answer(api: Api, probe: Probe, variables: dict[str, Any], token: str) -> Any:
    if probe.kind == "subscription":
        return await subscription_errors(api, token, probe.document, variables)
    return without_cost(await api.gql(probe.document, variables, token))


async def test_what_a_member_may_not_see_answers_as_what_does_not_exist(
    api: Api, admin_token: str
) -> None:
    h = await hidden(api, admin_token)
    wrong: dict[str, Any] = {}
    for (name, argument), probes in sorted(HIDDEN_CASES.items()):
        for probe in probes(h):
            as_hidden = await answer(api, probe, probe.hidden, h.bob)
            as_missing = await answer(api, probe, probe.missing, h.bob)
            if as_hidden != as_missing:
                wrong[f"{name}({argument}: {probe.hidden})"] = (as_hidden, as_missing)
            elif probe.kind == "query" and as_hidden == await answer(
                api, probe, probe.hidden, admin_token
            ):
                # The case must name something there: an admin's answer tells it apart.
                wrong[f"{name}({argument}: {probe.hidden})"] = "an admin gets the same answer"
    assert not wrong, wrong
