"""The demo's clients: who they are, where, and how other systems name them.

Forty-four clients spread over five time zones and all four tiers, so that
every grouping (industry, product, location, time zone, language) has
something to group and every tier has a story in the history.
"""

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta

from demo.world import ACCOUNT_MANAGERS, stream


@dataclass(frozen=True)
class Locale:
    country: str
    cities: tuple[str, ...]
    languages: tuple[str, ...]
    currency: str
    phone: str
    surnames: tuple[str, ...]
    first_names: tuple[str, ...]


_PT_FIRST = ("Ana", "João", "Marta", "Pedro", "Rita", "Tiago", "Inês", "Bruno", "Luís", "Beatriz")
LOCALES = {
    "Europe/Lisbon": Locale(
        "PT", ("Lisbon", "Porto", "Braga"), ("pt",), "EUR", "+351 21",
        ("Silva", "Santos", "Pereira", "Costa", "Oliveira", "Martins", "Sousa", "Gomes",
         "Carvalho", "Almeida", "Lopes", "Ribeiro", "Pinto", "Rodrigues"),
        _PT_FIRST,
    ),
    "America/Sao_Paulo": Locale(
        "BR", ("São Paulo", "Campinas", "Curitiba"), ("pt",), "BRL", "+55 11",
        ("Souza", "Barbosa", "Araújo", "Rocha", "Cardoso", "Nascimento", "Moreira",
         "Teixeira", "Castro", "Monteiro"),
        _PT_FIRST,
    ),
    "America/New_York": Locale(
        "US", ("New York", "Boston", "Philadelphia"), ("en",), "USD", "+1 212",
        ("Miller", "Brooks", "Parker", "Reed", "Bennett", "Foster", "Hayes", "Sullivan",
         "Morgan", "Turner", "Collins"),
        ("Emily", "James", "Olivia", "Michael", "Sarah", "David", "Laura", "Kevin", "Rachel"),
    ),
    "Europe/Berlin": Locale(
        "DE", ("Berlin", "Hamburg", "Munich"), ("de",), "EUR", "+49 30",
        ("Hofmann", "Becker", "Schulz", "Wagner", "Keller", "Richter", "Neumann", "Krüger",
         "Vogel", "Zimmermann", "Lehmann"),
        ("Anna", "Lukas", "Julia", "Felix", "Lena", "Jonas", "Katrin", "Stefan", "Miriam"),
    ),
    "Asia/Tokyo": Locale(
        "JP", ("Tokyo", "Osaka", "Yokohama"), ("en", "ja"), "JPY", "+81 3",
        ("Tanaka", "Suzuki", "Takahashi", "Watanabe", "Yamamoto", "Nakamura", "Kobayashi"),
        ("Yuki", "Haruto", "Aoi", "Sota", "Hina", "Ren", "Mei", "Daiki", "Sakura"),
    ),
}  # fmt: skip
# How many clients each time zone gets, in roster order.
CLIENTS_PER_ZONE = {
    "Europe/Lisbon": 12,
    "America/Sao_Paulo": 9,
    "America/New_York": 10,
    "Europe/Berlin": 8,
    "Asia/Tokyo": 5,
}
TIER_COUNTS = {"key": 6, "problem": 6, "new": 8, "standard": 24}

# An industry, and the word a business of it puts after its name, by language.
INDUSTRIES = {
    "Healthcare": {"en": "Medical Group", "pt": "Clínica", "de": "Praxis"},
    "Legal": {"en": "Law", "pt": "Advogados", "de": "Rechtsanwälte"},
    "Accounting": {"en": "Accounting", "pt": "Contabilidade", "de": "Steuerberatung"},
    "Architecture": {"en": "Architects", "pt": "Arquitetos", "de": "Architekten"},
    "Logistics": {"en": "Logistics", "pt": "Transportes", "de": "Logistik"},
    "Retail": {"en": "Outfitters", "pt": "Comércio", "de": "Handel"},
    "Manufacturing": {"en": "Manufacturing", "pt": "Indústria", "de": "Maschinenbau"},
    "Hospitality": {"en": "Hotels", "pt": "Hotelaria", "de": "Hotels"},
    "Education": {"en": "Academy", "pt": "Escola", "de": "Akademie"},
}
PRODUCTS = ("Managed IT", "Backup", "Microsoft 365", "Security", "Network", "VoIP")
ROLES = ("Office manager", "IT lead", "Managing partner", "Finance", "Operations")
# Monthly fee range in EUR cents, and contacts, by tier.
FEES = {
    "key": (400_000, 900_000),
    "standard": (80_000, 250_000),
    "problem": (60_000, 200_000),
    "new": (50_000, 150_000),
}
CONTACTS = {"key": 3, "standard": 2, "problem": 2, "new": 1}
# Rough value of one EUR in each currency, for fees that look local.
EXCHANGE = {"EUR": 1, "USD": 1.1, "BRL": 5.5, "JPY": 160}
NOTES = {
    "key": "Strategic account: quarterly business review with the account manager.",
    "problem": "Payment trouble this year; billing questions go to the account manager.",
    "new": "Onboarding: first weeks of service.",
    "standard": None,
}


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    phone: str
    role: str


@dataclass(frozen=True)
class DemoClient:
    slug: str
    name: str
    tier: str
    industry: str
    zone: str
    city: str
    language: str
    account: str  # the code the generic files name the client by
    domain: str
    manager: str
    customer_days: int  # how long ago the client signed
    monthly_cents: int  # in the client's currency
    products: tuple[str, ...]
    contacts: tuple[Contact, ...]
    devices: tuple[str, ...]
    extra_identities: tuple[tuple[str, str], ...] = field(default=())

    @property
    def locale(self) -> Locale:
        return LOCALES[self.zone]

    @property
    def currency(self) -> str:
        return self.locale.currency

    @property
    def history_days(self) -> int:
        """Days of history to generate: a year, or since the client signed."""
        return min(365, self.customer_days)

    def since(self, today: date) -> date:
        return today - timedelta(days=self.customer_days)


def ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def slugify(text: str) -> str:
    folded = "".join(c if c.isalnum() else " " for c in ascii_fold(text).lower())
    return "-".join(folded.split())


def build_roster(seed: int) -> list[DemoClient]:
    """The demo's clients, the same for the same seed whatever the day."""
    rng = stream(seed, "roster")
    tiers = [tier for tier, count in TIER_COUNTS.items() for _ in range(count)]
    rng.shuffle(tiers)
    accounts = rng.sample(range(1000, 10000), len(tiers))
    zones = [zone for zone, count in CLIENTS_PER_ZONE.items() for _ in range(count)]
    taken: set[str] = set()
    roster = []
    for number, (zone, tier) in enumerate(zip(zones, tiers, strict=True)):
        roster.append(_client(rng, zone, tier, f"ACC-{accounts[number]}", taken))
    return roster


def _client(rng: random.Random, zone: str, tier: str, account: str, taken: set) -> DemoClient:
    locale = LOCALES[zone]
    language = rng.choice(locale.languages)
    while True:
        industry = rng.choice(sorted(INDUSTRIES))
        surname = rng.choice(locale.surnames)
        name = f"{surname} {INDUSTRIES[industry].get(language, INDUSTRIES[industry]['en'])}"
        if slugify(name) not in taken:
            break
    slug = slugify(name)
    taken.add(slug)
    domain = f"{slug}.example"
    low, high = FEES[tier]
    # Whole tens of the currency (hundreds of yen), in hundredths.
    step = 10_000 if locale.currency == "JPY" else 1_000
    monthly = int(rng.randrange(low, high, 500) * EXCHANGE[locale.currency]) // step * step
    contacts = _contacts(rng, locale, domain, CONTACTS[tier] + rng.randint(0, 1))
    device_prefix = slug.replace("-", "")[:5].upper()
    devices = [f"{device_prefix}-{role}" for role in ("FW01", "DC01", "FS01", "NAS01", "SW01")]
    devices += [f"{device_prefix}-WS{n:02d}" for n in range(1, rng.randint(4, 12))]
    identities = []
    if rng.random() < 0.6:
        letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        identities.append(("stripe", "cus_" + "".join(rng.choices(letters, k=14))))
    if rng.random() < 0.5:
        identities.append(("zendesk", str(rng.randrange(10_000_000, 99_999_999))))
    return DemoClient(
        slug=slug,
        name=name,
        tier=tier,
        industry=industry,
        zone=zone,
        city=rng.choice(locale.cities),
        language=language,
        account=account,
        domain=domain,
        manager=rng.choice(ACCOUNT_MANAGERS),
        customer_days=rng.randint(20, 80) if tier == "new" else rng.randint(400, 3000),
        monthly_cents=monthly,
        products=tuple(sorted(rng.sample(PRODUCTS, 3 if tier == "key" else rng.randint(1, 2)))),
        contacts=tuple(contacts),
        devices=tuple(devices),
        extra_identities=tuple(identities),
    )


def _contacts(rng: random.Random, locale: Locale, domain: str, count: int) -> list[Contact]:
    people = []
    for role in rng.sample(ROLES, count):
        first, last = rng.choice(locale.first_names), rng.choice(locale.surnames)
        local_part = slugify(f"{first} {last}").replace("-", ".")
        if any(person.email.startswith(local_part + "@") for person in people):
            continue
        phone = f"{locale.phone} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
        people.append(Contact(f"{first} {last}", f"{local_part}@{domain}", phone, role))
    return people


def client_row(client: DemoClient, today: date) -> dict:
    """One line of clients.csv, in the inline syntaxes of the clients connector."""
    groups = [("industry", client.industry)]
    groups += [("product", product) for product in client.products]
    groups += [("location", client.city), ("timezone", client.zone)]
    groups += [("language", client.language)]
    identities = [("account", client.account), ("domain", client.domain)]
    identities += list(client.extra_identities)
    return {
        "slug": client.slug,
        "name": client.name,
        "tier": client.tier,
        "industry": client.industry,
        "country": client.locale.country,
        "language": client.language,
        "timezone": client.zone,
        "account_manager": client.manager,
        "customer_since": client.since(today).isoformat(),
        "status": "active",
        "notes": NOTES[client.tier] or "",
        "groups": "; ".join(f"{kind}:{name}" for kind, name in groups),
        "contacts": "; ".join(
            f"{c.name} | {c.email} | {c.phone} | {c.role}" for c in client.contacts
        ),
        "identities": "; ".join(f"{system}:{key}" for system, key in identities),
    }
