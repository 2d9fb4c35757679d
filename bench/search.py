"""How fast search answers at a realistic size, on SQLite and PostgreSQL.

    python bench/search.py [--clients C] [--events N] [--runs R] [--json]

Builds a database of C clients (default 10,000), each with two contacts
(name, e-mail at the client's domain, phone) and three identities (its
domain, an account code, a Zendesk organization id), and N events (default
1,000,000) spread over them: tickets with subjects made of a few hundred
everyday words ("Printer offline in reception"), invoices numbered
INV-000001 on, deals named after the client and a product, alerts naming a
host, and notes. Rows go in with bulk INSERTs, each batch of events then
indexed as the pipeline's writer does (SQLite; PostgreSQL's indexes keep
themselves), so building it also shows what the writer pays, in rows per
second.

Then it times, interleaved, R rounds (default 200) of queries of each kind
drawn from the data: a client's full name, the first letters of one, a name
with a typo, a contact's name, e-mail and phone, a domain, an account code,
a ticket id, an invoice number, a deal's name, and a common word (a
thousandth of the events hold it). Each query goes through the API
(`GET /api/v1/search?q=`, Flask's test client, a staff token), every kind
of hit at once, ten a kind. It prints each kind's median and p95 and the
p95 over all of them, in milliseconds; the target is a p95 under 100 ms.

With TOUCHLINE_TEST_POSTGRES_URL set it repeats on a throwaway PostgreSQL
database next to it (ANALYZEd after the build, as autovacuum would be).
It only measures and prints; it does not judge the figures.
"""

import argparse
import json
import os
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text

from bench.timeline import _summary, api_token
from crm.database import insert_new
from crm.extensions import db
from crm.models import Client, Contact, Event, Identity
from crm.models.types import utcnow
from crm.search.index import index_new_events
from factory import create_app

SEED = 20261205
CHUNK = 10_000
START = datetime(2024, 1, 1, tzinfo=UTC)
SURNAMES = [
    "Collins",
    "Hartley",
    "Okafor",
    "Nguyen",
    "Fischer",
    "Moreau",
    "Rossi",
    "Novak",
    "Kowalski",
    "Silva",
    "Tanaka",
    "Patel",
    "Larsen",
    "Byrne",
    "Duarte",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Kaur",
    "Lindqvist",
    "Mbeki",
    "Nakamura",
    "Oliveira",
    "Petrov",
    "Quinn",
    "Reyes",
    "Schmidt",
    "Takahashi",
    "Ueda",
    "Varga",
    "Walsh",
    "Yilmaz",
    "Zhang",
    "Abbott",
    "Barker",
    "Carver",
    "Dalton",
    "Ellison",
    "Foster",
    "Garrison",
    "Holloway",
    "Ingram",
    "Jarvis",
    "Keller",
    "Lambert",
    "Mercer",
    "Norris",
    "Osborne",
    "Prescott",
    "Radcliffe",
]
TRADES = [
    "Dental",
    "Legal",
    "Logistics",
    "Facilities",
    "Architects",
    "Accounting",
    "Clinic",
    "Engineering",
    "Foods",
    "Builders",
    "Studio",
    "Pharmacy",
    "Motors",
    "Insurance",
    "Consulting",
    "Hotels",
    "Printing",
    "Labs",
    "Surveyors",
    "Media",
]
FIRST = [
    "Priya",
    "James",
    "Maria",
    "Chen",
    "Olga",
    "Tom",
    "Aisha",
    "Lars",
    "Ines",
    "Mateo",
    "Sofia",
    "Yusuf",
    "Hana",
    "Pieter",
    "Grace",
    "Omar",
    "Lena",
    "Diego",
    "Ruth",
    "Kenji",
]
WORDS = [
    "printer",
    "offline",
    "reception",
    "laptop",
    "slow",
    "email",
    "outlook",
    "password",
    "reset",
    "vpn",
    "drops",
    "wifi",
    "weak",
    "server",
    "backup",
    "failed",
    "disk",
    "full",
    "firewall",
    "update",
    "licence",
    "renewal",
    "monitor",
    "flickering",
    "phone",
    "extension",
    "voicemail",
    "scanner",
    "shared",
    "drive",
    "permissions",
    "onboarding",
    "new",
    "starter",
    "leaver",
    "account",
    "locked",
    "mfa",
    "token",
    "teams",
    "meeting",
    "audio",
    "camera",
    "broken",
    "keyboard",
    "sage",
    "payroll",
    "crashes",
    "quickbooks",
    "sync",
    "calendar",
    "invite",
    "spam",
    "phishing",
    "warning",
    "browser",
    "certificate",
    "expired",
    "domain",
    "dns",
    "website",
    "down",
    "router",
    "reboot",
    "switch",
    "port",
    "cabling",
    "office",
    "move",
]
PRODUCTS = ("Managed Backup", "Microsoft 365", "Security Suite", "Helpdesk Plus", "Network Care")
COMMON = "printer"  # in ~1/1000 of ticket subjects' draws: see _subject


def build(url: str, clients: int, events: int) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    rng = random.Random(SEED)
    with app.app_context():
        db.create_all()
        started = time.perf_counter()
        samples = _clients(rng, clients)
        client_seconds = time.perf_counter() - started
        started = time.perf_counter()
        samples |= _events(rng, clients, events)
        event_seconds = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM ANALYZE"))
        db.session.remove()
        db.engine.dispose()
    return {
        "samples": samples,
        "clients_seconds": round(client_seconds, 1),
        "events_seconds": round(event_seconds, 1),
        "events_per_second": round(events / event_seconds) if events else None,
    }


def _clients(rng: random.Random, count: int) -> dict:
    names, contacts, identities = [], [], []
    for n in range(1, count + 1):
        name = f"{rng.choice(SURNAMES)} {rng.choice(TRADES)} {n}"
        slug = name.lower().replace(" ", "-")
        names.append({"id": n, "slug": slug, "name": name, "timezone": "Europe/London"})
        domain = f"{slug.replace('-', '')}.example"
        for k in range(2):
            first, last = rng.choice(FIRST), rng.choice(SURNAMES)
            phone = f"+44 20 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"
            contacts.append(
                {
                    "client_id": n,
                    "name": f"{first} {last}",
                    "email": f"{first.lower()}.{last.lower()}{k}@{domain}",
                    "phone": phone,
                }
            )
        identities += [
            {"client_id": n, "system": "domain", "external_key": domain},
            {"client_id": n, "system": "account", "external_key": f"ACC-{n:05d}"},
            {"client_id": n, "system": "zendesk", "external_key": str(360000000 + n)},
        ]
    for model, rows in ((Client, names), (Contact, contacts), (Identity, identities)):
        for at in range(0, len(rows), CHUNK):
            db.session.execute(insert(model), rows[at : at + CHUNK])
    db.session.commit()
    picked = rng.sample(names, min(50, count))
    people = rng.sample(contacts, min(50, len(contacts)))
    return {
        "client name": [c["name"] for c in picked],
        "name prefix": [c["name"].split()[0][:4] for c in picked],
        "name typo": [_typo(rng, c["name"].split()[0]) for c in picked],
        "contact name": [c["name"] for c in people],
        "contact e-mail": [c["email"] for c in people],
        "phone": [c["phone"] for c in people],
        "domain": [f"{c['slug'].replace('-', '')}.example" for c in picked],
        "account code": [f"ACC-{rng.randrange(1, count + 1):05d}" for _ in range(50)],
    }


def _typo(rng: random.Random, word: str) -> str:
    at = rng.randrange(1, len(word) - 1)
    return word[:at] + word[at + 1 :]  # one letter left out


def _subject(rng: random.Random) -> str:
    words = [w for w in rng.sample(WORDS, 4) if w != COMMON]
    if rng.random() < 0.001:
        words.insert(0, COMMON)
    return " ".join(words).capitalize()


def _events(rng: random.Random, clients: int, count: int) -> dict:
    tickets, invoices, deals = [], [], []
    rows = []
    for n in range(1, count + 1):
        client_id = rng.randrange(1, clients + 1)
        at = START + timedelta(minutes=n * 2)
        share = n % 10
        row = {"client_id": client_id, "origin": "bench", "external_id": f"e{n}", "occurred_at": at}
        row |= {"detail": None, "thread_type": None, "thread_key": None}
        if share < 5:
            key = str(100000 + n)
            row |= {"kind": "ticket.opened", "source": "tickets", "title": _subject(rng)}
            row |= {"thread_type": "ticket", "thread_key": key, "detail": _subject(rng)}
            tickets.append(key)
        elif share < 7:
            number = f"INV-{n:07d}"
            row |= {"kind": "invoice.issued", "source": "billing", "thread_type": "invoice"}
            row |= {"thread_key": f"in_{n}", "title": f"Invoice {number} finalized: GBP 1,200.00"}
            invoices.append(number)
        elif share < 8:
            deal = f"{rng.choice(SURNAMES)} {rng.choice(PRODUCTS)}"
            row |= {"kind": "quote.sent", "source": "sales", "thread_type": "deal"}
            row |= {"thread_key": f"opp{n}", "title": f"Opportunity created: {deal}"}
            deals.append(deal)
        elif share < 9:
            host = f"srv{rng.randrange(1, 99):02d}"
            row |= {"kind": "alert.raised", "source": "rmm", "thread_type": "alert"}
            row |= {"thread_key": f"{host}:disk", "title": f"Disk space low on {host}"}
        else:
            row |= {"kind": "note", "source": "manual", "title": _subject(rng)}
        rows.append(row)
        if len(rows) == CHUNK:
            _write(rows)
    _write(rows)
    return {
        "ticket id": rng.sample(tickets, min(50, len(tickets))),
        "invoice number": rng.sample(invoices, min(50, len(invoices))),
        "deal name": rng.sample(deals, min(50, len(deals))),
        "common word": [COMMON],
    }


def _write(rows: list[dict]) -> None:
    """One batch, written and indexed as the pipeline's writer does."""
    if rows:
        now = utcnow()
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        columns |= {"attributes": [{}] * len(rows), "received_at": [now] * len(rows)}
        insert_new(db.session, Event.__table__, columns, ("origin", "external_id"))
        index_new_events(db.session.connection())
        db.session.commit()
        rows.clear()


def measure(url: str, samples: dict, runs: int) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        token = api_token()
        db.session.commit()
        http = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        timings: dict[str, list[float]] = {kind: [] for kind in samples}
        for round_ in range(runs):
            for kind, queries in samples.items():
                q = queries[round_ % len(queries)]
                started = time.perf_counter()
                response = http.get("/api/v1/search", query_string={"q": q}, headers=headers)
                timings[kind].append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise SystemExit(f"{kind} {q!r}: {response.status_code} {response.text}")
        db.session.remove()
        db.engine.dispose()
    everything = [t for ts in timings.values() for t in ts]
    return {"kinds": {k: _summary(ts) for k, ts in timings.items()}, "all": _summary(everything)}


def run_engine(url: str, args) -> dict:
    built = build(url, args.clients, args.events)
    samples = built.pop("samples")
    return built | measure(url, samples, args.runs)


def print_report(engine: str, clients: int, events: int, report: dict) -> None:
    print(f"{engine}: {clients:,} clients, {events:,} events")
    print(
        f"  built: clients {report['clients_seconds']} s, events {report['events_seconds']} s"
        f" ({report['events_per_second']:,} rows/s with the index kept by the database)"
    )
    print(f"  {'query':<18}{'median ms':>10}{'p95 ms':>10}")
    for kind, figures in report["kinds"].items():
        print(f"  {kind:<18}{figures['median_ms']:>10.2f}{figures['p95_ms']:>10.2f}")
    every = report["all"]
    figures = f"{every['median_ms']:>10.2f}{every['p95_ms']:>10.2f}"
    print(f"  {'all queries':<18}{figures}  (target: p95 under 100 ms)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200, help="rounds of every kind of query")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.clients < 10 or args.events < 1000:
        parser.error("--clients must be at least 10 and --events at least 1000")
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        report = run_engine(f"sqlite:///{directory / 'search.db'}", args)
        postgres = None
        if os.environ.get("TOUCHLINE_TEST_POSTGRES_URL"):
            from tests.databases import fresh_database

            url = stack.enter_context(fresh_database("postgresql", directory))
            postgres = run_engine(url, args)
    if args.json:
        print(json.dumps(report | {"postgresql": postgres}, indent=2))
        return
    print_report("SQLite", args.clients, args.events, report)
    if postgres:
        print_report("PostgreSQL", args.clients, args.events, postgres)


if __name__ == "__main__":
    main()
