"""How fast search answers at a realistic size, on SQLite and PostgreSQL.

    python bench/search.py [--clients C] [--events N[,N2,...]] [--runs R]
                           [--engine both|sqlite|postgresql] [--database URL]
                           [--reindex] [--json]

Builds a database of C clients (default 10,000), each with two contacts
(name, e-mail at the client's domain, phone) and three identities (its
domain, an account code, a Zendesk organization id), and N events (default
1,000,000) spread over them: tickets with subjects made of a few hundred
everyday words ("Printer offline in reception"), invoices numbered
INV-000001 on, deals named after the client and a product, alerts naming a
host, and notes. On SQLite rows go in as the pipeline's writer writes them
(bulk INSERTs, each batch then indexed), so building also shows what the
writer pays; on PostgreSQL they go in with COPY, the search indexes on
events taken off first and built once afterwards (then VACUUM ANALYZE, as
autovacuum would), since loading ten million events is not what is measured.

Several sizes (`--events 1000000,3000000,10000000`) grow one database and
measure at each, then print how the p95 grows with the events.

At each size it times, interleaved after one untimed round, R rounds
(default 200) of queries of each kind drawn from the data: a client's full
name, the first letters of one, a name with a typo, a contact's name,
e-mail and phone, a domain, an account code, a ticket id, an invoice
number, a deal's name, and a common word (a thousandth of the events hold
it). Each query goes through the API (`GET /api/v1/search?q=`, Flask's test
client, a staff token), every kind of hit at once, ten a kind. It prints
each kind's median and p95 and the p95 over all of them, in milliseconds;
the target is a p95 under 100 ms on PostgreSQL.

PostgreSQL runs on a throwaway database next to TOUCHLINE_TEST_POSTGRES_URL's,
or on `--database URL`, which is kept: run again, it is reused (the same
seed draws the same queries) and grown to a larger size; `--reindex` builds
its event index again from crm.search.index, for a database built before
the index changed. It only measures and prints; it does not judge the figures.
"""

import argparse
import json
import random
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, inspect, select, text

from bench.scale import _copy as copy_rows
from bench.scale import postgres_url
from bench.timeline import _summary, api_token
from crm.database import insert_new, storage_columns
from crm.extensions import db
from crm.models import Client, Contact, Event, Identity
from crm.models.types import utcnow
from crm.search.index import create_statements, index_new_events
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


def build(url: str, clients: int, sizes: list[int], reindex: bool = False):
    """Build (or reuse) the database in steps of growing size; yield after
    each step what it took and the queries drawn so far."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    rng = random.Random(SEED)
    with app.app_context():
        if not inspect(db.engine).has_table("events"):
            db.create_all()
        postgres = db.engine.dialect.name == "postgresql"
        held = db.session.scalar(select(func.count()).select_from(Event))
        if postgres and held and reindex:  # built by an older version of the search
            _drop_event_indexes()
            _recreate([s for s in create_statements("postgresql") if " ON events " in s])
            db.session.execute(text("ANALYZE events"))  # the new expression's statistics
            db.session.commit()
        started = time.perf_counter()
        samples = _clients(rng, clients, write=held == 0)
        client_seconds = time.perf_counter() - started
        done = 0
        for size in sizes:
            started = time.perf_counter()
            writing = size > held
            dropped = _drop_event_indexes() if postgres and writing else []
            samples = _merge(samples, _events(rng, clients, done, size, held))
            event_seconds = time.perf_counter() - started
            started = time.perf_counter()
            _recreate(dropped)
            if postgres and writing:
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.execute(text("VACUUM ANALYZE"))
            index_seconds = time.perf_counter() - started
            written = size - max(done, held) if writing else 0
            done = size
            db.session.remove()
            if size < held:  # a reused database holds more: nothing to measure at this size
                continue
            yield (
                size,
                samples,
                {
                    "clients_seconds": round(client_seconds, 1),
                    "events_written": written,
                    "events_seconds": round(event_seconds, 1),
                    "index_seconds": round(index_seconds, 1),
                    "events_per_second": round(written / event_seconds) if written else None,
                },
            )
        db.engine.dispose()


def _merge(old: dict, new: dict) -> dict:
    return {kind: old.get(kind, []) + new.get(kind, []) for kind in {**old, **new}}


def _drop_event_indexes() -> list[str]:
    """PostgreSQL: take the search indexes off events while COPY fills it
    (building a GIN index once is far cheaper than keeping it row by row);
    answers their definitions, for _recreate."""
    found = db.session.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'events' AND indexname LIKE 'search%'"
        )
    ).all()
    for name, _definition in found:
        db.session.execute(text(f"DROP INDEX {name}"))
    db.session.commit()
    return [definition for _name, definition in found]


def _recreate(definitions: list[str]) -> None:
    if definitions:
        db.session.execute(text("SET maintenance_work_mem = '1GB'"))
        for definition in definitions:
            db.session.execute(text(definition.replace("%", "%%")))
        db.session.commit()


def _clients(rng: random.Random, count: int, write: bool) -> dict:
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
        for at in range(0, len(rows), CHUNK) if write else ():
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


def _events(rng: random.Random, clients: int, first: int, last: int, held: int) -> dict:
    """Events first+1 .. last (drawn from `rng` whether written or not, so a
    reused database gets the same queries); those past `held` are written."""
    tickets, invoices, deals = [], [], []
    rows = []
    write = _copy_events if db.engine.dialect.name == "postgresql" else _write
    for n in range(first + 1, last + 1):
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
        if n > held:
            rows.append(row)
        if len(rows) == CHUNK * 10:
            write(rows)
            print(f"  {n:,} events", file=sys.stderr, end="\r")
    write(rows)
    return {
        "ticket id": rng.sample(tickets, min(50, len(tickets))),
        "invoice number": rng.sample(invoices, min(50, len(invoices))),
        "deal name": rng.sample(deals, min(50, len(deals))),
        "common word": [COMMON],
    }


def _columns(rows: list[dict]) -> dict:
    now = utcnow()
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    return columns | {"attributes": [{}] * len(rows), "received_at": [now] * len(rows)}


def _write(rows: list[dict]) -> None:
    """SQLite: one batch, written and indexed as the pipeline's writer does."""
    for at in range(0, len(rows), CHUNK):
        batch = rows[at : at + CHUNK]
        insert_new(db.session, Event.__table__, _columns(batch), ("origin", "external_id"))
        index_new_events(db.session.connection())
        db.session.commit()
    rows.clear()


def _copy_events(rows: list[dict]) -> None:
    """PostgreSQL: COPY, as a bulk load would (the search indexes are built
    once afterwards)."""
    if rows:
        stored = storage_columns(db.engine.dialect, Event.__table__, _columns(rows))
        cursor = db.session.connection().connection.driver_connection.cursor()
        copy_rows(cursor, Event.__table__, stored)
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
        for queries in samples.values():  # a warm-up round, not timed
            http.get("/api/v1/search", query_string={"q": queries[-1]}, headers=headers)
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


def run_engine(engine: str, url: str, args) -> list[dict]:
    """Each size's build figures and timings, smallest first."""
    reports = []
    for size, samples, built in build(url, args.clients, args.events, args.reindex):
        timed = measure(url, samples, args.runs)
        reports.append({"engine": engine, "events": size} | built | timed)
        print_report(reports[-1], args.clients, file=sys.stderr)
    return reports


def print_report(report: dict, clients: int, file=None) -> None:
    print(f"{report['engine']}: {clients:,} clients, {report['events']:,} events", file=file)
    rate = report["events_per_second"]
    if report["events_written"]:
        print(
            f"  built: clients {report['clients_seconds']} s, {report['events_written']:,} events"
            f" {report['events_seconds']} s ({rate:,} rows/s), search index and ANALYZE"
            f" {report['index_seconds']} s",
            file=file,
        )
    else:
        print("  reused the database as it was", file=file)
    print(f"  {'query':<18}{'median ms':>10}{'p95 ms':>10}", file=file)
    for kind, figures in report["kinds"].items():
        print(f"  {kind:<18}{figures['median_ms']:>10.2f}{figures['p95_ms']:>10.2f}", file=file)
    every = report["all"]
    figures = f"{every['median_ms']:>10.2f}{every['p95_ms']:>10.2f}"
    print(f"  {'all queries':<18}{figures}  (target: p95 under 100 ms)", file=file)


def _sizes(value: str) -> list[int]:
    sizes = sorted({int(part.replace("_", "")) for part in value.split(",") if part.strip()})
    if not sizes or sizes[0] < 1000:
        raise argparse.ArgumentTypeError("sizes of at least 1000 events, e.g. 1000000,3000000")
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument(
        "--events",
        type=_sizes,
        default=[1_000_000],
        help="events, or growing sizes: 1000000,3000000",
    )
    parser.add_argument("--runs", type=int, default=200, help="rounds of every kind of query")
    parser.add_argument("--engine", choices=("both", "sqlite", "postgresql"), default="both")
    parser.add_argument("--database", help="a PostgreSQL URL to build in and reuse")
    parser.add_argument(
        "--reindex", action="store_true", help="build a reused database's event index again"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.clients < 10:
        parser.error("--clients must be at least 10")
    reports = []
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        urls = []
        if args.engine in ("both", "sqlite"):
            urls.append(("SQLite", f"sqlite:///{directory / 'search.db'}"))
        if args.engine in ("both", "postgresql"):
            urls.append(("PostgreSQL", postgres_url(stack, parser, args.database, directory)))
        for engine, url in urls:
            reports += run_engine(engine, url, args)
    if args.json:
        print(json.dumps(reports, indent=2))
        return
    for report in reports:
        print_report(report, args.clients)
    _print_growth(reports)


def _print_growth(reports: list[dict]) -> None:
    """How the p95 over all queries grows with the events, per engine."""
    for engine in dict.fromkeys(r["engine"] for r in reports):
        steps = [r for r in reports if r["engine"] == engine]
        if len(steps) > 1:
            growth = ", ".join(f"{r['events']:,}: {r['all']['p95_ms']:.1f} ms" for r in steps)
            print(f"{engine} p95 as events grow: {growth}")


if __name__ == "__main__":
    main()
