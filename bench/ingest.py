"""How fast the ingest pipeline writes events, next to raw sqlite3.

    python bench/ingest.py [--events N] [--batch-size B] [--processes P] [--repeat R]
                           [--connector NAME] [--json]

Generates N generic NDJSON events (default 200,000) for 1,000 clients, one
file per source with a realistic mix of threaded and plain kinds, and times
the pipeline end to end over all files: parsing, validation, conversion,
client resolution, duplicate detection, the insert and the thread state,
with the app's batch size and processes per file (`flask ingest`'s) unless
--batch-size or --processes say otherwise.

In the same run it reads the events back exactly as the pipeline stored them
and times a raw `sqlite3.executemany` of those rows, in the order the input
gives them, into a fresh database with the identical schema, indexes and
PRAGMAs. The ratio of the two rates says how much the pipeline costs on top
of writing its rows. Each side is timed R times (default 3), interleaved,
and its best time counts: this machine's speed wanders by a fifth from one
minute to the next.

`--connector NAME` measures a vendor connector instead (stripe, zendesk,
alertmanager, sendgrid, salesforce): N records in that vendor's own shape
(see bench/vendor_payloads.py), for 1,000 clients known by the identities
that connector resolves them by, timed exactly as the generic run and set
against the raw insert of the rows it stored. `--connector all` measures
generic and every vendor connector, one line (or, with --json, one entry of
an object keyed by connector name) each. A vendor connector that does not
exist, cannot be imported or crashes is skipped with a note on stderr. Any
record that does not end up on the timeline is an error naming the connector.

When TOUCHLINE_TEST_POSTGRES_URL is set, the pipeline also runs against a
throwaway PostgreSQL database created next to it, and that rate is printed.

It only measures and prints; it does not judge the figures.
"""

import argparse
import importlib
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

# `python bench/ingest.py` puts bench/ first on the path, not the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select

from bench.vendor_payloads import VENDORS, Workload
from connectors import registry
from connectors.pipeline import Pipeline
from crm.database import SQLITE_PRAGMAS
from crm.extensions import db
from crm.models import Client, Contact, Event, Identity, InboxRecord
from factory import create_app

CLIENTS = 1000
SEED = 20261001
START = datetime(2025, 1, 1, tzinfo=UTC)
# Share of the events each source's file carries.
SOURCES = {"tickets": 0.35, "billing": 0.25, "rmm": 0.2, "marketing": 0.12, "sales": 0.08}


# --- the input ---------------------------------------------------------------


def account(number: int) -> str:
    return f"ACC-{number:04d}"


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ticket(rng: random.Random, n: int, opened: datetime) -> list[dict]:
    thread = f"T-{n}"
    first = {
        "kind": "ticket.opened",
        "title": rng.choice(["Printer offline", "VPN drops", "New starter laptop", "Mail bounce"]),
        "priority": rng.choice(["low", "normal", "high", "urgent"]),
        "category": rng.choice(["hardware", "network", "email", "access"]),
        "assignee": rng.choice(["ana", "ben", "chloe", "dev"]),
        "actor": "portal",
    }
    steps = [(opened, first)]
    when = opened
    for _ in range(rng.randint(0, 2)):
        when += timedelta(hours=rng.uniform(0.5, 30))
        steps.append((when, {"kind": "ticket.updated", "status": "pending", "actor": "ana"}))
    if rng.random() < 0.85:
        when += timedelta(hours=rng.uniform(0.5, 48))
        steps.append((when, {"kind": "ticket.resolved", "detail": "Fixed remotely."}))
    return [fields | {"occurred_at": w, "thread": thread} for w, fields in steps]


def _billing(rng: random.Random, n: int, issued: datetime) -> list[dict]:
    if rng.random() < 0.15:
        return [{"kind": "subscription.updated", "occurred_at": issued, "plan": "managed-plus"}]
    thread = f"INV-{n}"
    amount = f"{rng.randint(50, 20000)}.{rng.randint(0, 99):02d}"
    currency = rng.choice(["EUR", "EUR", "GBP", "USD"])
    due = issued + timedelta(days=30)
    events = [
        {"kind": "invoice.issued", "occurred_at": issued, "amount": amount, "due_at": _stamp(due)}
    ]
    when = issued + timedelta(days=rng.uniform(1, 40))
    if rng.random() < 0.1:
        events.append({"kind": "payment.failed", "occurred_at": when, "amount": amount})
        when += timedelta(days=rng.uniform(1, 5))
    if rng.random() < 0.8:
        events.append({"kind": "payment.received", "occurred_at": when, "amount": amount})
    return [e | {"thread": thread, "currency": currency} for e in events]


def _rmm(rng: random.Random, n: int, raised: datetime) -> list[dict]:
    thread = f"ALERT-{n}"
    extra = {"device": f"srv-{rng.randint(1, 40):02d}", "severity": rng.choice(["warn", "crit"])}
    events = [{"kind": "alert.raised", "occurred_at": raised, "title": "Disk above 90%"} | extra]
    if rng.random() < 0.9:
        cleared = raised + timedelta(minutes=rng.uniform(5, 600))
        events.append({"kind": "alert.resolved", "occurred_at": cleared} | extra)
    return [e | {"thread": thread} for e in events]


def _marketing(rng: random.Random, n: int, sent: datetime) -> list[dict]:
    campaign = f"newsletter-{sent:%Y-%m}"
    kinds = ["email.delivered", "email.opened", "email.clicked"][: rng.randint(1, 3)]
    return [
        {"kind": kind, "occurred_at": sent + timedelta(minutes=10 * i), "campaign": campaign}
        for i, kind in enumerate(kinds)
    ]


def _sales(rng: random.Random, n: int, sent: datetime) -> list[dict]:
    if rng.random() < 0.3:
        thread = f"REN-{n}"
        events = [{"kind": "renewal.due", "occurred_at": sent, "title": "Managed services"}]
        if rng.random() < 0.7:
            events.append({"kind": "renewal.renewed", "occurred_at": sent + timedelta(days=20)})
        return [e | {"thread": thread} for e in events]
    thread = f"DEAL-{n}"
    amount = f"{rng.randint(1000, 90000)}.00"
    events = [
        {"kind": "quote.sent", "occurred_at": sent, "amount": amount, "currency": "EUR"},
    ]
    if rng.random() < 0.6:
        outcome = rng.choice(["deal.won", "deal.lost"])
        events.append({"kind": outcome, "occurred_at": sent + timedelta(days=rng.uniform(2, 60))})
    return [e | {"thread": thread} for e in events]


THREADS = {
    "tickets": _ticket,
    "billing": _billing,
    "rmm": _rmm,
    "marketing": _marketing,
    "sales": _sales,
}


def generate(events: int, seed: int = SEED) -> dict[str, bytes]:
    """NDJSON content per source, `events` records in all, each file in time order.

    A thread's events lie hours to weeks apart, so many threads span batches
    and the pipeline folds them again from stored events, as it would in use.
    """
    rng = random.Random(seed)
    quotas = {source: int(events * share) for source, share in SOURCES.items()}
    quotas["tickets"] += events - sum(quotas.values())
    files = {}
    for source, quota in quotas.items():
        records: list[dict] = []
        n = 0
        while len(records) < quota:
            n += 1
            client = account(rng.randrange(CLIENTS))
            started = START + timedelta(minutes=rng.uniform(0, 365 * 24 * 60))
            for i, record in enumerate(THREADS[source](rng, n, started)):
                record["id"] = f"{source}-{n}-{i}"
                record["account"] = client
                records.append(record)
        records = records[:quota]
        records.sort(key=lambda r: r["occurred_at"])
        lines = (json.dumps(r | {"occurred_at": _stamp(r["occurred_at"])}) for r in records)
        files[source] = ("\n".join(lines) + "\n").encode()
    return files


def generic(events: int, seed: int = SEED, clients: int = CLIENTS) -> Workload:
    """The generic run: one NDJSON file per source, clients known by `account`."""
    files = generate(events, seed)
    return Workload(
        files=[(source, "events.ndjson", content) for source, content in files.items()],
        records=sum(content.count(b"\n") for content in files.values()),
        identities=[("account", account(i), i) for i in range(clients)],
    )


WORKLOADS = {"generic": generic, **VENDORS}


# --- the pipeline ------------------------------------------------------------


class NotAccepted(Exception):
    """Some generated record did not end up on the timeline."""


def add_clients(count: int, workload: Workload) -> None:
    """The clients the records name, with the identities and contacts the
    workload resolves them by (not timed)."""
    db.session.execute(
        insert(Client),
        [{"slug": f"client-{i}", "name": f"Client {i}"} for i in range(count)],
    )
    ids = dict(db.session.execute(select(Client.slug, Client.id)).all())
    if workload.identities:
        db.session.execute(
            insert(Identity),
            [
                {"system": system, "external_key": key, "client_id": ids[f"client-{i}"]}
                for system, key, i in workload.identities
            ],
        )
    if workload.contacts:
        db.session.execute(
            insert(Contact),
            [
                {"client_id": ids[f"client-{i}"], "name": name, "email": email}
                for i, name, email in workload.contacts
            ],
        )
    db.session.commit()


@dataclass(frozen=True)
class Settings:
    """How the pipeline runs: batch size and processes (None: the app's
    settings), and how many times each side is timed (the best time counts)."""

    batch_size: int | None = None
    processes: int | None = None
    repeat: int = 3


def run_pipeline(url: str, workload: Workload, settings: Settings, name: str) -> dict:
    """Create the schema and clients at `url`, then time ingesting every file.

    Raises NotAccepted unless every record was accepted, by its run or by the
    replay of waiting records that the same `ingest` call makes.
    """
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        try:
            db.create_all()
            add_clients(CLIENTS, workload)
            pipeline = Pipeline(
                db.session,
                settings.batch_size or app.config["INGEST_BATCH_SIZE"],
                processes=settings.processes or app.config["INGEST_PROCESSES"],
            )
            started = time.perf_counter()
            inputs = [
                (registry.get(connector), content, filename)
                for connector, filename, content in workload.files
            ]
            with pipeline:
                runs = pipeline.ingest_all(inputs, "bench")
            seconds = time.perf_counter() - started
            counts = {key: sum(run.counts()[key] for run in runs) for key in runs[0].counts()}
            stored = db.session.scalar(select(func.count()).select_from(Event))
            inbox = dict(
                db.session.execute(
                    select(InboxRecord.status, func.count()).group_by(InboxRecord.status)
                ).all()
            )
            replayed = inbox.pop("replayed", 0)
            examples = db.session.execute(
                select(InboxRecord.connector, InboxRecord.locator, InboxRecord.reason)
                .where(InboxRecord.status != "replayed")
                .order_by(InboxRecord.id)
                .limit(3)
            ).all()
        finally:
            db.session.remove()
            db.engine.dispose()
    total = workload.records
    # Every record on the timeline, none left waiting. (A record that an
    # earlier one implied, such as an opening, counts as a duplicate: the
    # rows stored, not the accepted count, say whether all arrived.)
    if stored != total or inbox:
        shown = "; ".join(f"{c} {locator}: {reason}" for c, locator, reason in examples)
        raise NotAccepted(
            f"{name}: the pipeline accepted {counts} (then replayed {replayed}) and stored "
            f"{stored} of {total} records" + (f"; e.g. {shown}" if shown else "")
        )
    return {"rows": stored, "seconds": seconds, "replayed": replayed}


# --- the raw baseline --------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    """A connection with the PRAGMAs the app sets on every SQLite connection."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        connection.execute(f"PRAGMA {pragma}")
    return connection


def _schema(source: sqlite3.Connection, tables: list[str]) -> list[str]:
    marks = ", ".join("?" * len(tables))
    return [
        sql
        for (sql,) in source.execute(
            f"SELECT sql FROM sqlite_master WHERE tbl_name IN ({marks}) AND sql IS NOT NULL"
            " ORDER BY type = 'index', rowid",
            tables,
        )
    ]


def run_raw(pipeline_db: Path, raw_db: Path) -> dict:
    """Time executemany of the stored event rows into an identical empty schema.

    The tables `events` references are created and filled first (not timed),
    so foreign keys are checked against the same rows as in the pipeline run.

    Then, apart, the thread states the pipeline derived (`entities`) are
    inserted the same way: no pipeline can write them for less, so the events
    and entities together bound the ratio any design of it can reach.
    """
    source = _connect(pipeline_db)
    referenced = sorted({row[2] for row in source.execute("PRAGMA foreign_key_list(events)")})
    target = _connect(raw_db)
    for statement in _schema(source, [*referenced, "events", "entities"]):
        target.execute(statement)
    for table in referenced:
        copied = source.execute(f"SELECT * FROM {table}").fetchall()
        if copied:
            marks = ", ".join("?" * len(copied[0]))
            target.executemany(f"INSERT INTO {table} VALUES ({marks})", copied)
    events = _time_insert(source, target, "events", INPUT_ORDER)
    entities = _time_insert(source, target, "entities", "id")
    source.close()
    target.close()
    return {"rows": events["rows"], "seconds": events["seconds"], "entities": entities}


# The order of the events in the input: file by file, each file in time order
# as every workload writes it. (The pipeline writes each batch client by
# client instead, which its inserts gain by; the raw insert takes the rows as
# they come.)
INPUT_ORDER = "payload_id, occurred_at, id"


def _time_insert(
    source: sqlite3.Connection, target: sqlite3.Connection, table: str, order: str
) -> dict:
    """Copy `table`'s rows (but their ids) in `order`, in one transaction;
    how long it took."""
    columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})") if row[1] != "id"]
    names = ", ".join(columns)
    rows = source.execute(f"SELECT {names} FROM {table} ORDER BY {order}").fetchall()
    statement = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
    started = time.perf_counter()
    target.execute("BEGIN")
    target.executemany(statement, rows)
    target.execute("COMMIT")
    return {"rows": len(rows), "seconds": time.perf_counter() - started}


# --- PostgreSQL --------------------------------------------------------------


def run_postgres(workload: Workload, settings: Settings, name: str) -> dict:
    from tests.databases import fresh_database

    with (
        tempfile.TemporaryDirectory() as directory,
        fresh_database("postgresql", Path(directory)) as url,
    ):
        return run_pipeline(url, workload, settings, name)


# --- one connector -------------------------------------------------------------


def _rate(result: dict) -> float:
    return result["rows"] / result["seconds"]


def unavailable(name: str) -> str | None:
    """Why a vendor connector cannot be measured now, or None if it can."""
    module = f"connectors.{name}"
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name == module:
            return f"connectors/{name}.py does not exist"
        return f"connectors/{name}.py cannot be imported ({error})"
    except Exception as error:
        return f"connectors/{name}.py cannot be imported ({type(error).__name__}: {error})"
    if name not in registry.names():
        return f"connectors/{name}.py registers no connector named {name!r}"
    return None


def measure(name: str, events: int, settings: Settings) -> dict:
    """Generate `events` records for connector `name`, time the pipeline on
    them, then raw executemany of the rows it stored; the report dict.

    Both are timed `settings.repeat` times, one after the other, and each
    side's best time counts: this machine's speed wanders by a fifth from one
    minute to the next, and the best of a few runs is the figure that
    wanders least.
    """
    workload = WORKLOADS[name](events, SEED, CLIENTS)
    pipelines, raws = [], []
    for _ in range(settings.repeat):
        with tempfile.TemporaryDirectory() as directory:
            pipeline_db = Path(directory) / "pipeline.db"
            pipelines.append(run_pipeline(f"sqlite:///{pipeline_db}", workload, settings, name))
            raws.append(run_raw(pipeline_db, Path(directory) / "raw.db"))
    pipeline = min(pipelines, key=lambda result: result["seconds"])
    raw = min(raws, key=lambda result: result["seconds"])
    postgres = None
    if os.environ.get("TOUCHLINE_TEST_POSTGRES_URL"):
        postgres = run_postgres(workload, settings, name)
    if pipeline["replayed"]:
        print(
            f"note: {name}: {pipeline['replayed']:,} records waited as unmatched and were "
            "replayed by the same ingest (they name an identity an earlier record of their "
            "batch taught the pipeline)",
            file=sys.stderr,
        )
    return {
        "events": pipeline["rows"],
        "seconds": round(pipeline["seconds"], 3),
        "pipeline_rows_per_s": round(_rate(pipeline)),
        "raw_seconds": round(raw["seconds"], 3),
        "raw_rows_per_s": round(_rate(raw)),
        "ratio": round(_rate(pipeline) / _rate(raw), 3),
        "raw_entity_rows": raw["entities"]["rows"],
        "raw_entities_seconds": round(raw["entities"]["seconds"], 3),
        # The best ratio a pipeline that must also write these entities can reach.
        "ratio_ceiling": round(raw["seconds"] / (raw["seconds"] + raw["entities"]["seconds"]), 3),
        "postgresql_seconds": round(postgres["seconds"], 3) if postgres else None,
        "postgresql_rows_per_s": round(_rate(postgres)) if postgres else None,
    }


def measure_or_skip(name: str, events: int, settings: Settings) -> dict | str:
    """The report, or why a vendor connector was skipped (missing, or broken:
    it cannot be imported or its run raised). NotAccepted goes through."""
    if name != "generic" and (reason := unavailable(name)):
        return reason
    try:
        return measure(name, events, settings)
    except NotAccepted:
        raise
    except Exception as error:
        if name == "generic":
            raise
        return f"its run raised {type(error).__name__}: {error}"


# --- the report --------------------------------------------------------------


def print_one(name: str, report: dict) -> None:
    if name != "generic":
        print(f"connector              {name:>10}")
    print(f"events                 {report['events']:>10,}")
    print(f"pipeline (SQLite)      {report['pipeline_rows_per_s']:>10,} rows/s")
    print(f"raw executemany        {report['raw_rows_per_s']:>10,} rows/s")
    print(f"ratio                  {report['ratio']:>10.3f}")
    print(
        f"ratio ceiling          {report['ratio_ceiling']:>10.3f}"
        f"  (raw events + the {report['raw_entity_rows']:,} thread states)"
    )
    if report["postgresql_rows_per_s"] is not None:
        print(f"pipeline (PostgreSQL)  {report['postgresql_rows_per_s']:>10,} rows/s")


def print_table(reports: dict[str, dict]) -> None:
    postgres = any(r["postgresql_rows_per_s"] is not None for r in reports.values())
    header = f"{'connector':<14}{'events':>10}{'pipeline rows/s':>17}{'raw rows/s':>12}{'ratio':>8}"
    print(header + (f"{'PostgreSQL rows/s':>19}" if postgres else ""))
    for name, r in reports.items():
        line = (
            f"{name:<14}{r['events']:>10,}{r['pipeline_rows_per_s']:>17,}"
            f"{r['raw_rows_per_s']:>12,}{r['ratio']:>8.3f}"
        )
        if postgres:
            line += f"{r['postgresql_rows_per_s'] or 0:>19,}"
        print(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="records per connector")
    parser.add_argument("--batch-size", type=int, help="records per batch (default: the app's)")
    parser.add_argument(
        "--processes", type=int, help="processes per input (default: the app's, see README)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="times each side is timed; the best counts"
    )
    parser.add_argument(
        "--connector",
        default="generic",
        choices=[*WORKLOADS, "all"],
        help="whose input to ingest: generic (default), a vendor connector, or all of them",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    settings = Settings(args.batch_size, args.processes, max(1, args.repeat))
    names = list(WORKLOADS) if args.connector == "all" else [args.connector]
    reports: dict[str, dict] = {}
    failures = []
    for name in names:
        try:
            result = measure_or_skip(name, args.events, settings)
        except NotAccepted as error:
            failures.append(str(error))
            continue
        if isinstance(result, str):
            print(f"note: {name} skipped: {result}", file=sys.stderr)
            continue
        reports[name] = result

    if args.connector != "all":
        if reports:
            if args.json:
                print(json.dumps(reports[args.connector]))
            else:
                print_one(args.connector, reports[args.connector])
    elif args.json:
        print(json.dumps(reports))
    elif reports:
        print_table(reports)
    if failures:
        sys.exit("\n".join(failures))
    if not reports:
        sys.exit(f"nothing measured: {args.connector} was skipped")


if __name__ == "__main__":
    main()
