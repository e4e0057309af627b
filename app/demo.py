"""The demo sales team that `tandem seed --demo` loads, so a newcomer sees a living pipeline.

Everything goes through the domain services, acted by the users the demo invents, so the
demo has the same history and outbox events as data entered by hand: each opportunity's
timeline shows who created it, moved its stage, linked its contacts and won or lost it.

The data is drawn from `random.Random(42)`: the same companies, people and deals every time.
Close dates are relative to the day of seeding, so the pipeline never looks stale.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from app.crm.actor import Actor
from app.crm.companies import services as companies
from app.crm.contacts import services as contacts
from app.crm.folders import services as folders
from app.crm.money import Money
from app.crm.opportunities import participants
from app.crm.opportunities import services as opportunities
from app.crm.opportunities.models import Opportunity
from app.crm.opportunities.queries import list_lost_reasons
from app.crm.stages.queries import list_stages
from app.crm.unit import NoSink, Unit, unit_of_work
from app.crm.users import services as users
from app.crm.users.models import User
from app.db import create_session_factory

DEMO_PASSWORD = "demo-password"
DEMO_DOMAIN = "demo.example.com"
SEED = 42


@dataclass(frozen=True)
class DemoUser:
    name: str
    role: str
    title: str

    @property
    def email(self) -> str:
        return f"{_ascii(self.name).replace(' ', '.').lower()}@{DEMO_DOMAIN}"


ADMIN = DemoUser("Olivia Hart", "ADMIN", "Head of Sales")
USERS = (
    ADMIN,
    DemoUser("Lukas Meyer", "MEMBER", "Account Executive, DACH"),
    DemoUser("Sofia Lindqvist", "MEMBER", "Account Executive, Nordics"),
    DemoUser("James Whitfield", "MEMBER", "Account Executive, UK & Ireland"),
    DemoUser("Emma Carter", "MEMBER", "Account Executive, North America"),
    DemoUser("Diego Alvarez", "MEMBER", "Account Executive, Latin America"),
    DemoUser("Yuki Tanaka", "MEMBER", "Account Executive, APAC"),
    DemoUser("Priya Nair", "MEMBER", "Partner Manager"),
)
TEAMS = {
    "EMEA Sales": ("Lukas Meyer", "Sofia Lindqvist", "James Whitfield"),
    "Americas Sales": ("Emma Carter", "Diego Alvarez"),
    "Partner Channel": ("Priya Nair", "Yuki Tanaka", "Emma Carter"),
}
TEAM_OF = {"EMEA": "EMEA Sales", "Americas": "Americas Sales", "APAC": "Partner Channel"}

# A leaf folder for each territory: where its deals are filed and who sells there.
FOLDER_TREE: dict[str, dict[str, tuple[str, ...]]] = {
    "Regions": {
        "EMEA": ("DACH", "Nordics", "UK & Ireland"),
        "Americas": ("North America", "Latin America"),
        "APAC": ("Japan", "Australia & New Zealand"),
    },
    "Partners": {"Resellers": (), "Alliances": ()},
}


@dataclass(frozen=True)
class Territory:
    path: tuple[str, ...]
    owners: tuple[str, ...]
    weight: int
    team: str


TERRITORIES = {
    "DACH": Territory(("Regions", "EMEA", "DACH"), ("Lukas Meyer",), 16, "EMEA Sales"),
    "Nordics": Territory(("Regions", "EMEA", "Nordics"), ("Sofia Lindqvist",), 11, "EMEA Sales"),
    "UK & Ireland": Territory(
        ("Regions", "EMEA", "UK & Ireland"), ("James Whitfield",), 11, "EMEA Sales"
    ),
    "North America": Territory(
        ("Regions", "Americas", "North America"),
        ("Emma Carter", "Olivia Hart"),
        18,
        "Americas Sales",
    ),
    "Latin America": Territory(
        ("Regions", "Americas", "Latin America"), ("Diego Alvarez",), 9, "Americas Sales"
    ),
    "Japan": Territory(("Regions", "APAC", "Japan"), ("Yuki Tanaka",), 8, "Partner Channel"),
    "Australia & New Zealand": Territory(
        ("Regions", "APAC", "Australia & New Zealand"), ("Yuki Tanaka",), 6, "Partner Channel"
    ),
    "Resellers": Territory(("Partners", "Resellers"), ("Priya Nair",), 12, "Partner Channel"),
    "Alliances": Territory(
        ("Partners", "Alliances"), ("Priya Nair", "Olivia Hart"), 9, "Partner Channel"
    ),
}


@dataclass(frozen=True)
class DemoCompany:
    name: str
    industry: str
    city: str
    country: str
    territory: str  # a TERRITORIES key, or "partner" / "competitor"

    @property
    def domain(self) -> str:
        return _ascii(self.name.split()[0]).lower() + ".example"


C = DemoCompany
COMPANIES = (
    C("Alpenstahl Maschinenbau GmbH", "Industrial Machinery", "Munich", "DE", "DACH"),
    C("Rheinwerk Logistik AG", "Logistics", "Hamburg", "DE", "DACH"),
    C("Spreeblick Media GmbH", "Media", "Berlin", "DE", "DACH"),
    C("Donau Versicherung AG", "Insurance", "Vienna", "AT", "DACH"),
    C("Limmat Präzisionstechnik AG", "Electronics", "Zurich", "CH", "DACH"),
    C("Isartal Pharma GmbH", "Pharmaceuticals", "Munich", "DE", "DACH"),
    C("Skagerrak Marine AS", "Shipping", "Oslo", "NO", "Nordics"),
    C("Björkvik Retail AB", "Retail", "Stockholm", "SE", "Nordics"),
    C("Øresund Health ApS", "Healthcare", "Copenhagen", "DK", "Nordics"),
    C("Saimaa Paper Oy", "Paper & Forestry", "Helsinki", "FI", "Nordics"),
    C("Vinterljus Fintech AB", "Financial Services", "Stockholm", "SE", "Nordics"),
    C("Thameside Utilities plc", "Utilities", "London", "GB", "UK & Ireland"),
    C("Pennine Foods Ltd", "Food & Beverage", "Manchester", "GB", "UK & Ireland"),
    C("Liffey Analytics Ltd", "Software", "Dublin", "IE", "UK & Ireland"),
    C("Kestrel Aerospace Ltd", "Aerospace", "Bristol", "GB", "UK & Ireland"),
    C("Brightwater Housing Group", "Real Estate", "London", "GB", "UK & Ireland"),
    C("Beacon Hill Biotech Inc.", "Biotechnology", "Boston", "US", "North America"),
    C("Lone Star Solar LLC", "Energy", "Austin", "US", "North America"),
    C("Lakeshore Freight Co.", "Logistics", "Chicago", "US", "North America"),
    C("Maple Leaf Robotics Inc.", "Industrial Machinery", "Toronto", "CA", "North America"),
    C("Cobalt Ridge Software Inc.", "Software", "Austin", "US", "North America"),
    C("Harborview Health System", "Healthcare", "Boston", "US", "North America"),
    C("Paulista Telecom S.A.", "Telecommunications", "São Paulo", "BR", "Latin America"),
    C("Andes Minerales SpA", "Mining", "Santiago", "CL", "Latin America"),
    C("Xochi Retail S.A. de C.V.", "Retail", "Mexico City", "MX", "Latin America"),
    C("Ipanema Seguros S.A.", "Insurance", "Rio de Janeiro", "BR", "Latin America"),
    C("Sakura Denki K.K.", "Electronics", "Tokyo", "JP", "Japan"),
    C("Naniwa Logistics K.K.", "Logistics", "Osaka", "JP", "Japan"),
    C("Fujimi Pharmaceutical Co., Ltd.", "Pharmaceuticals", "Tokyo", "JP", "Japan"),
    C("Southern Cross Mining Pty Ltd", "Mining", "Perth", "AU", "Australia & New Zealand"),
    C("Coral Coast Bank Ltd", "Banking", "Sydney", "AU", "Australia & New Zealand"),
    C("Kauri Software Ltd", "Software", "Auckland", "NZ", "Australia & New Zealand"),
    C("Bluebridge Systems Integration Ltd", "IT Services", "London", "GB", "partner"),
    C("Meridian Channel Partners LLC", "IT Services", "Chicago", "US", "partner"),
    C("Solvia Consulting GmbH", "IT Services", "Frankfurt", "DE", "partner"),
    C("Dealcraft Software Inc.", "Software", "San Francisco", "US", "competitor"),
    C("Quotient CRM Ltd", "Software", "London", "GB", "competitor"),
    C("Pipewise GmbH", "Software", "Berlin", "DE", "competitor"),
    C("Closewell Systems Inc.", "Software", "Seattle", "US", "competitor"),
    C("Salesloom Oy", "Software", "Helsinki", "FI", "competitor"),
)
CURRENCY_OF_COUNTRY = {
    **dict.fromkeys(("DE", "AT", "CH", "IE", "FI", "SE", "DK", "NO"), "EUR"),
    "GB": "GBP",
    "JP": "JPY",
}
_NAME_POOLS = (
    (
        ("DE", "AT", "CH"),
        "Lena Jonas Miriam Felix Katharina Tobias Sabine Matthias Anja Florian",
        "Schmidt Becker Hoffmann Wagner Krüger Huber Gruber Keller Brunner Vogel",
    ),
    (
        ("SE", "DK", "NO", "FI"),
        "Astrid Erik Ingrid Mikael Freja Lars Sanna Henrik Maja Oskar",
        "Andersson Nielsen Johansen Virtanen Lindberg Berg Korhonen Dahl Holm Larsen",
    ),
    (
        ("GB", "IE"),
        "Charlotte Oliver Siobhan Harry Amelia Declan Grace Thomas Niamh William",
        "Taylor Murphy Evans O'Brien Hughes Walsh Roberts Byrne Clarke Kennedy",
    ),
    (
        ("US", "CA"),
        "Jessica Michael Ashley Daniel Megan Ryan Lauren Kevin Rachel Brandon",
        "Johnson Miller Davis Garcia Thompson Martin Lee Walker Young Campbell",
    ),
    (
        ("BR", "CL", "MX"),
        "Camila Mateo Valentina Santiago Isabela Joaquín Fernanda Rafael Lucía Gabriel",
        "Silva Hernández González Rojas Oliveira Martínez Souza Castillo Pereira Morales",
    ),
    (
        ("JP",),
        "Haruto Aoi Ren Yui Sota Hina Kenji Mei Takumi Sakura",
        "Sato Suzuki Takahashi Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida",
    ),
    (
        ("AU", "NZ"),
        "Chloe Jack Isla Liam Ruby Noah Zoe Cooper Mia Lachlan",
        "Smith Wilson Brown Anderson Ngata Mitchell Kelly Ryan Parata Cooper",
    ),
)
NAMES_OF_COUNTRY = {
    country: (tuple(first.split()), tuple(last.split()))
    for countries, first, last in _NAME_POOLS
    for country in countries
}
LEGAL_FORMS = frozenset(
    "GmbH AG AS AB ApS Oy plc Ltd Inc. LLC Co. S.A. SpA K.K. Pty de C.V.".split()
)

JOB_TITLES = (
    "Chief Information Officer",
    "Chief Financial Officer",
    "VP Operations",
    "Head of Procurement",
    "IT Director",
    "Head of Sales Operations",
    "Purchasing Manager",
    "Solutions Architect",
    "Project Manager",
    "Chief Digital Officer",
    "Head of Customer Service",
    "Data Platform Lead",
)
PRODUCTS = (
    "CRM rollout",
    "Analytics platform",
    "Support renewal",
    "Fleet tracking pilot",
    "ERP integration",
    "Data warehouse migration",
    "Security audit",
    "Cloud migration",
    "Sales training package",
    "Mobile sales app",
    "Seat expansion",
    "Annual licence renewal",
    "Customer portal",
    "Forecasting add-on",
)
NEXT_STEPS = (
    "Send revised proposal",
    "Schedule technical deep-dive",
    "Confirm budget with the CFO",
    "Answer the security questionnaire",
    "Arrange a reference call",
    "Book on-site workshop",
    "Agree on pilot success criteria",
)
LEAD_SOURCES = ("Website", "Referral", "Trade show", "Partner", "Outbound", "Webinar")
CONTACT_ROLES = (
    "DECISION_MAKER",
    "ECONOMIC_BUYER",
    "CHAMPION",
    "TECHNICAL_EVALUATOR",
    "INFLUENCER",
)
LOST_NOTES = (
    "Went with a cheaper offer after the second round.",
    "Budget moved to next fiscal year.",
    "Procurement froze all new vendors.",
    "They preferred an on-premises solution.",
    None,
)


def _ascii(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("Ø", "O"))
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in " .-"))


@dataclass
class Deal:
    """One planned opportunity: drawn up front so the random stream never depends on IDs."""

    owner: str
    territory: str
    company: int
    name: str
    amount: Decimal
    currency: str
    close_date: date
    visibility: str
    lead_source: str
    next_step: str | None
    description: str | None
    stage_path: list[int]  # indexes into the open stages, after the first
    contact: int | None
    contact_role: str
    partner: int | None
    team: str | None
    outcome: str = "OPEN"
    closed_on: date | None = None
    actual_amount: Decimal | None = None
    lost_reasons: list[str] = field(default_factory=list)
    awarded_to: int | None = None
    lost_note: str | None = None


def _amount(rng: random.Random, currency: str) -> Decimal:
    base = rng.randrange(10, 400) * 250
    if rng.random() < 0.07:
        base *= 5  # the occasional big deal
    if currency == "JPY":
        return Decimal(round(base * 150, -4))
    if currency == "GBP":
        return Decimal(round(base * 0.85, -2))
    return Decimal(base)


def plan_contacts(rng: random.Random, total: int = 80) -> list[tuple[int, str, str, str]]:
    """(company index, first name, last name, job title) for people at customers and partners."""
    hosts = [i for i, c in enumerate(COMPANIES) if c.territory != "competitor"]
    per_company = Counter({i: 2 for i in hosts})
    for i in rng.sample(hosts, total - 2 * len(hosts)):
        per_company[i] += 1
    people = []
    for company_index in hosts:
        firsts, lasts = NAMES_OF_COUNTRY[COMPANIES[company_index].country]
        seen: set[tuple[str, str]] = set()
        while len(seen) < per_company[company_index]:
            person = (rng.choice(firsts), rng.choice(lasts))
            if person not in seen:
                seen.add(person)
                people.append((company_index, *person, rng.choice(JOB_TITLES)))
    return people


def plan_deals(
    rng: random.Random, count: int, contacts_at: dict[int, list[int]], today: date
) -> list[Deal]:
    names = list(TERRITORIES)
    weights = [TERRITORIES[n].weight for n in names]
    customers = {n: [i for i, c in enumerate(COMPANIES) if c.territory == n] for n in names}
    all_customers = [i for i, c in enumerate(COMPANIES) if c.territory in TERRITORIES]
    partners = [i for i, c in enumerate(COMPANIES) if c.territory == "partner"]
    competitors = [i for i, c in enumerate(COMPANIES) if c.territory == "competitor"]
    deals = []
    for _ in range(count):
        territory_name = rng.choices(names, weights)[0]
        territory = TERRITORIES[territory_name]
        company = rng.choice(customers[territory_name] or all_customers)
        currency = CURRENCY_OF_COUNTRY.get(COMPANIES[company].country, "USD")
        roll = rng.random()
        outcome = "WON" if roll < 0.15 else "LOST" if roll < 0.30 else "OPEN"
        # The open stage the deal has reached (or was in when it closed).
        if outcome == "OPEN":
            target = rng.choices(range(5), (30, 25, 20, 15, 10))[0]
        elif outcome == "WON":
            target = rng.choice((3, 4))
        else:
            target = rng.randrange(1, 5)
        stage_path = [target] if target else []
        if target >= 2 and rng.random() < 0.5:
            stage_path.insert(0, rng.randrange(1, target))
        people = contacts_at.get(company, [])
        deal = Deal(
            owner=rng.choice(territory.owners),
            territory=territory_name,
            company=company,
            name=f"{_short(COMPANIES[company].name)} \N{EN DASH} {rng.choice(PRODUCTS)}",
            amount=_amount(rng, currency),
            currency=currency,
            close_date=today + timedelta(days=rng.randrange(-20, 270)),
            visibility="PRIVATE" if rng.random() < 0.12 else "PUBLIC",
            lead_source=rng.choice(LEAD_SOURCES),
            next_step=rng.choice(NEXT_STEPS) if outcome == "OPEN" else None,
            description=(
                f"{COMPANIES[company].industry} account in {COMPANIES[company].city}."
                if rng.random() < 0.4
                else None
            ),
            stage_path=stage_path,
            contact=rng.choice(people) if people and rng.random() < 0.85 else None,
            contact_role=rng.choice(CONTACT_ROLES),
            partner=rng.choice(partners) if territory.path[0] == "Partners" else None,
            team=None,
        )
        linked = 1 + (deal.contact is not None) + (deal.partner is not None)
        if linked < 3 and (deal.visibility == "PRIVATE" or rng.random() < 0.25):
            deal.team = territory.team  # so the owner's teammates see a private deal
        if outcome != "OPEN":
            deal.closed_on = today - timedelta(days=rng.randrange(1, 150))
        if outcome == "WON":
            deal.outcome = "WON"
            share = rng.choice((100, 100, 100, 95, 90, 105))
            deal.actual_amount = (deal.amount * share / 100).quantize(Decimal(1))
        elif outcome == "LOST":
            deal.outcome = "LOST"
            if rng.random() < 0.5:
                deal.awarded_to = rng.choice(competitors)
                deal.lost_reasons = ["Lost to competitor"]
            deal.lost_reasons += rng.sample(
                ["Price", "No budget", "No decision", "Missing features", "Timing", "Went silent"],
                rng.choice((1, 1, 2)),
            )
            deal.lost_note = rng.choice(LOST_NOTES)
        deals.append(deal)
    return deals


def _short(company_name: str) -> str:
    """How a seller names the account: "Beacon Hill Biotech Inc." becomes "Beacon Hill"."""
    words = [w for w in company_name.replace(",", "").split() if w not in LEGAL_FORMS]
    return " ".join(words[:2])


async def seed_demo(database_url: str, *, opportunities: int = 200) -> str:
    """Load the demo team unless it is there already; returns what was done, for a human."""
    rng = random.Random(SEED)
    today = date.today()
    # A commit per deal keeps history honest; not waiting for each one's WAL flush keeps the
    # seed fast (a crash mid-seed leaves a partial demo either way).
    engine = create_async_engine(
        database_url, connect_args={"server_settings": {"synchronous_commit": "off"}}
    )
    sessions = create_session_factory(engine)
    try:
        async with sessions() as session:
            found = await session.scalar(
                select(func.count())
                .select_from(User)
                .where(func.lower(User.email).in_([u.email for u in USERS]))
            )
        if found:
            return (
                f"The demo team is already loaded ({ADMIN.email} exists); nothing was changed.\n"
                f"Log in as {ADMIN.email} with the password {DEMO_PASSWORD!r}."
            )

        # Users and teams: admin-managed, created with the CLI's own authority.
        async with unit_of_work(sessions, None, NoSink()) as unit:
            user_ids = {}
            for demo_user in USERS:
                user = await users.create_user(
                    unit,
                    email=demo_user.email,
                    name=demo_user.name,
                    password=DEMO_PASSWORD,
                    role=demo_user.role,
                )
                user_ids[demo_user.name] = user.id
            team_ids = {}
            for team_name, members in TEAMS.items():
                team = await users.create_team(unit, name=team_name)
                team_ids[team_name] = team.id
                for member in members:
                    await users.add_team_member(unit, team.id, user_ids[member])
        actors = {
            u.name: Actor(
                user_ids[u.name],
                u.name,
                u.email,
                u.role,
                frozenset(team_ids[t] for t, members in TEAMS.items() if u.name in members),
            )
            for u in USERS
        }

        # Reference data, entered by the head of sales.
        async with unit_of_work(sessions, actors[ADMIN.name], NoSink()) as unit:
            folder_ids = await _create_folders(unit)
            company_ids = []
            for company in COMPANIES:
                created = await companies.create_company(
                    unit,
                    {
                        "name": company.name,
                        "industry": company.industry,
                        "city": company.city,
                        "country": company.country,
                        "website": f"https://www.{company.domain}",
                    },
                )
                company_ids.append(created.id)
            contacts_at: dict[int, list[int]] = {}
            people = plan_contacts(rng)
            for company_index, first, last, title in people:
                domain = COMPANIES[company_index].domain
                contact = await contacts.create_contact(
                    unit,
                    {
                        "first_name": first,
                        "last_name": last,
                        "job_title": title,
                        "email": f"{_ascii(first)}.{_ascii(last)}@{domain}".lower(),
                        "company_id": company_ids[company_index],
                    },
                )
                contacts_at.setdefault(company_index, []).append(contact.id)
            stages = [s for s in await list_stages(unit.session) if s.kind == "OPEN"]
            reasons = {
                r.name: r.id for r in await list_lost_reasons(unit.session, include_inactive=False)
            }

        deals = plan_deals(rng, opportunities, contacts_at, today)
        # Each seller enters their own deals, one transaction each: history shows who did what.
        events = 0
        for deal in deals:
            async with unit_of_work(sessions, actors[deal.owner], NoSink()) as unit:
                await _enter_deal(
                    unit,
                    deal,
                    folder_ids[TERRITORIES[deal.territory].path],
                    company_ids,
                    team_ids,
                    [s.id for s in stages],
                    reasons,
                )
            events += len(unit.pending)
    finally:
        await engine.dispose()

    outcomes = Counter(d.outcome for d in deals)
    links = sum(
        1 + (d.contact is not None) + (d.partner is not None) + (d.team is not None) for d in deals
    )
    lines = [
        f"Loaded the demo sales team: {len(USERS)} users, {len(TEAMS)} teams, "
        f"{len(COMPANIES)} companies, {len(people)} contacts, {len(folder_ids)} folders, "
        f"{len(deals)} opportunities ({outcomes['WON']} won, {outcomes['LOST']} lost, "
        f"{outcomes['OPEN']} open) with {links} participants and {events} history events.",
        f"Every demo user logs in with the password {DEMO_PASSWORD!r}:",
        *(f"  {u.email:<36} {u.role.lower():<7} {u.title}" for u in USERS),
    ]
    return "\n".join(lines)


async def _create_folders(unit: Unit) -> dict[tuple[str, ...], int]:
    ids: dict[tuple[str, ...], int] = {}

    async def create(path: tuple[str, ...]) -> None:
        folder = await folders.create_folder(unit, name=path[-1], parent_id=ids.get(path[:-1]))
        ids[path] = folder.id

    for root, children in FOLDER_TREE.items():
        await create((root,))
        for child, leaves in children.items():
            await create((root, child))
            for leaf in leaves:
                await create((root, child, leaf))
    return ids


async def _enter_deal(
    unit: Unit,
    deal: Deal,
    folder_id: int,
    company_ids: list[int],
    team_ids: dict[str, int],
    open_stage_ids: list[int],
    reasons: dict[str, int],
) -> None:
    owner = unit.require_actor()
    opportunity: Opportunity = await opportunities.create_opportunity(
        unit,
        {
            "name": deal.name,
            "description": deal.description,
            "amount": deal.amount,
            "currency": deal.currency,
            "folder_id": folder_id,
            "estimated_close_date": deal.close_date,
            "next_step": deal.next_step,
            "lead_source": deal.lead_source,
            "owner_id": owner.user_id,
            "visibility": deal.visibility,
        },
    )
    links: list[tuple[str, int, str, bool]] = [
        ("COMPANY", company_ids[deal.company], "CUSTOMER", False)
    ]
    if deal.contact is not None:
        links.append(("CONTACT", deal.contact, deal.contact_role, True))
    if deal.partner is not None:
        role = "RESELLER" if deal.territory == "Resellers" else "PARTNER"
        links.append(("COMPANY", company_ids[deal.partner], role, False))
    if deal.team is not None:
        links.append(("TEAM", team_ids[deal.team], "SALES_REP", False))
    for kind, target_id, role, is_primary in links:
        opportunity, _ = await participants.link_participant(
            unit,
            opportunity.id,
            kind=kind,
            target_id=target_id,
            role=role,
            is_primary=is_primary,
            expected_version=opportunity.version,
        )
    for stage_index in deal.stage_path:
        opportunity = await opportunities.update_opportunity(
            unit,
            opportunity.id,
            opportunity.version,
            {"stage_id": open_stage_ids[stage_index]},
        )
    if deal.outcome == "WON":
        await opportunities.mark_won(
            unit,
            opportunity.id,
            opportunity.version,
            actual_value=Money(deal.actual_amount or deal.amount, deal.currency),
            actual_close_date=deal.closed_on,
        )
    elif deal.outcome == "LOST":
        await opportunities.mark_lost(
            unit,
            opportunity.id,
            opportunity.version,
            lost_reason_ids=[reasons[r] for r in deal.lost_reasons if r in reasons],
            awarded_company_id=(
                company_ids[deal.awarded_to] if deal.awarded_to is not None else None
            ),
            note=deal.lost_note,
            actual_close_date=deal.closed_on,
        )
