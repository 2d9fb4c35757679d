"""Touchline at scale on PostgreSQL: ten million events, and Celery workers.

    python bench/scale.py [--events N] [--clients C] [--heavy H] [--database URL]
                          [--runs R] [--ingest-events M] [--json]

Builds a PostgreSQL database of N events (default 10,000,000) across C
clients (default 5,000), one of them with H events (default 200,000):

- the demo portfolio, with its first key client topped up to H events of
  the demo's own kinds through the ingest pipeline (bench/briefing.py's
  build), so that client's briefing has real open problems to find;
- C - 44 more clients with the remaining events, ~2,000 each: tickets,
  invoices, alerts, campaigns and deals as bench/ingest.py generates them,
  checked and converted by the generic connector and folded into thread
  states exactly as the pipeline does (crm.entities.plan_threads), but
  written with COPY: loading ten million events is not what is measured.

Then it runs VACUUM ANALYZE and measures, in one run:

- that client's timeline, first page and a page 50,000 events deep, through
  the app's JSON API and as bare SQL (bench/timeline.py's measure): median
  and p95, after a warm-up;
- that client's briefing as HTML, read and rendered (bench/briefing.py's
  measure): median and p95;
- ingest throughput through real Celery workers on Redis (REDIS_URL, else
  127.0.0.1:6379): M new events (default 400,000) for 1,000 of the bulk
  clients, in generic NDJSON files (8 groups of clients, a file per source
  each) queued as ingest jobs, timed from the first job queued to the last
  one done, with one worker process and then with two (fresh events each
  time); the ratio of the two rates.

`--database URL` keeps the database and reuses it when it already holds N
events (the ingest measurement adds its events; they are taken out again
afterwards). Without it a throwaway database is made next to
TOUCHLINE_TEST_POSTGRES_URL's and dropped at the end.

It only measures and prints; it does not judge the figures.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

# `python bench/scale.py` puts bench/ first on the path, not the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, func, insert, select, text

from bench import briefing as briefing_bench
from bench import timeline as timeline_bench
from bench.ingest import SOURCES, THREADS
from connectors import registry
from connectors.pipeline import Pipeline
from connectors.readers import Record
from connectors.tasks import queue_payload
from connectors.writers import event_rows, thread_facts
from crm import event_caches
from crm.database import storage_columns
from crm.entities import plan_threads
from crm.extensions import db
from crm.jobs.models import Job
from crm.models import Client, Entity, Event, Identity, InboxRecord, IngestRun, RawPayload
from crm.models.types import utcnow
from factory import create_app

ROOT = Path(__file__).resolve().parents[1]
SEED = 20261202
# Clients written per COPY round: whole threads each, so their states are final.
CLIENTS_PER_ROUND = 100
# Groups of clients per ingest round; each group's events come in one file per source.
INGEST_GROUPS = 8
BULK_PREFIX = "scale"
REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")


# --- the database ------------------------------------------------------------


def build(url: str, events: int, clients: int, heavy: int, directory: Path) -> dict:
    """The demo with one client of `heavy` events, then the bulk clients."""
    started = time.perf_counter()
    heavy_client = briefing_bench.build(url, heavy, directory)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        have = db.session.scalar(select(func.count()).select_from(Event))
        have_clients = db.session.scalar(select(func.count()).select_from(Client))
        bulk_clients = add_clients(clients - have_clients, BULK_PREFIX)
        load_bulk(bulk_clients, events - have, random.Random(SEED))
        db.session.commit()
        vacuum()
        total = db.session.scalar(select(func.count()).select_from(Event))
        db.session.remove()
        db.engine.dispose()
    return {"slug": heavy_client["slug"], "events": total, "seconds": time.perf_counter() - started}


def add_clients(count: int, prefix: str) -> list[tuple[int, str]]:
    """`count` clients known by an account code each; (id, account) of each."""
    slugs = [f"{prefix}-{n:05d}" for n in range(count)]
    db.session.execute(
        insert(Client), [{"slug": slug, "name": slug.replace("-", " ").title()} for slug in slugs]
    )
    ids = dict(
        db.session.execute(select(Client.slug, Client.id).where(Client.slug.in_(slugs))).all()
    )
    accounts = [(ids[slug], slug.upper()) for slug in slugs]
    db.session.execute(
        insert(Identity),
        [{"system": "account", "external_key": code, "client_id": i} for i, code in accounts],
    )
    db.session.commit()
    return accounts


def records_for(accounts: list[tuple[int, str]], count: int, rng, prefix: str) -> dict:
    """`count` generic records for these clients, whole threads, by source:
    each client's share of each source, as bench/ingest.py makes them."""
    by_source: dict[str, list[dict]] = {source: [] for source in SOURCES}
    start = datetime.now(UTC) - timedelta(days=365)
    per_client = count // len(accounts)
    for index, (_, account) in enumerate(accounts):
        wanted = per_client + (1 if index < count % len(accounts) else 0)
        made = 0
        while made < wanted:
            source = rng.choices(list(SOURCES), weights=list(SOURCES.values()))[0]
            number = f"{prefix}-{account}-{made}"
            when = start + timedelta(minutes=rng.uniform(0, 364 * 24 * 60))
            thread = THREADS[source](rng, 0, when)[: wanted - made]
            for step, record in enumerate(thread):
                key = record.get("thread")
                record |= {
                    "id": f"{number}-{step}",
                    "account": account,
                    "occurred_at": record["occurred_at"].isoformat(),
                }
                if key:
                    record["thread"] = f"{key}-{number}"
                by_source[source].append(record)
            made += len(thread)
    return by_source


def load_bulk(accounts: list[tuple[int, str]], events: int, rng) -> None:
    """`events` events for these clients, written with COPY, their thread
    states with them."""
    if events <= 0 or not accounts:
        return
    dialect = db.engine.dialect
    client_of = {account: client_id for client_id, account in accounts}
    pooled = db.engine.raw_connection()
    raw = pooled.driver_connection
    cursor = raw.cursor()
    received = utcnow()
    done = 0
    for start in range(0, len(accounts), CLIENTS_PER_ROUND):
        group = accounts[start : start + CLIENTS_PER_ROUND]
        share = (events - done) * len(group) // (len(accounts) - start)
        for source, records in records_for(group, share, rng, "bulk").items():
            if not records:
                continue
            converted = registry.get(source).convert_batch(
                [Record(i, f"line {i}", record) for i, record in enumerate(records)]
            )
            if converted.failed:
                raise RuntimeError(f"{source}: {next(iter(converted.failed.values()))}")
            columns = converted.events
            client_ids = [client_of[hints.identities[0][1]] for hints in columns["hints"]]
            rows = event_rows(columns, client_ids) | {
                "payload_id": [None] * len(columns),
                "received_at": [received] * len(columns),
            }
            _copy(cursor, Event.__table__, storage_columns(dialect, Event.__table__, rows))
            plan = plan_threads(dialect, thread_facts(columns, client_ids))
            _copy(cursor, Entity.__table__, plan.rows)
        done += share
        raw.commit()
        print(f"  {done:,} bulk events written", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    pooled.close()
    # COPY bypasses the pipeline, which keeps the caches of the events
    # (crm.event_caches): rebuild them from the events.
    with db.engine.begin() as connection:
        event_caches.rebuild(connection)


def _copy(cursor, table, columns: dict) -> None:
    names = ", ".join(columns)
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in zip(*columns.values(), strict=True):
            copy.write_row(row)


def _reusable(url: str, events: int) -> str | None:
    """The heavy client's slug when the database at `url` holds `events` events."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        try:
            if db.session.scalar(select(func.count()).select_from(Event)) != events:
                return None
        except Exception:
            return None
        finally:
            db.session.remove()
            db.engine.dispose()
    return briefing_bench._target().slug


# --- ingest through Celery workers --------------------------------------------


def ingest_throughput(url: str, workers: int, events: int, round_name: str) -> dict:
    """Queue `events` new events in INGEST_FILES files as ingest jobs and time
    `workers` worker processes (one task at a time each) taking them all."""
    redis = urllib.parse.urlparse(REDIS)._replace(path=f"/{random.randint(1, 15)}").geturl()
    queue = f"touchline-bench-{uuid.uuid4().hex}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis, "CELERY_QUEUE": queue})
    env = dict(os.environ) | {
        "DATABASE_URL": url,
        "REDIS_URL": redis,
        "TOUCHLINE_CELERY_QUEUE": queue,
    }
    command = [
        sys.executable, "-m", "celery", "-A", "worker", "worker", "--pool=solo",
        "--without-gossip", "--without-mingle", "--loglevel=WARNING", "-Q", queue,
    ]  # fmt: skip
    processes = [
        subprocess.Popen(
            [*command, "-n", f"bench{n}-{queue}@%h"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
        )
        for n in range(workers)
    ]
    try:
        with app.app_context():
            celery = app.extensions["celery"]
            _wait_for_workers(celery, workers)
            accounts = [
                (client_id, account)
                for client_id, account in db.session.execute(
                    select(Identity.client_id, Identity.external_key)
                    .where(Identity.system == "account", Identity.external_key.like("SCALE-%"))
                    .order_by(Identity.external_key)
                    .limit(1000)
                )
            ]
            files = _ingest_files(accounts, events, round_name)
            pipeline = Pipeline(db.session)
            payloads = [
                pipeline.store_payload(registry.get(source), content, name)
                for source, name, content in files
            ]
            started = time.perf_counter()
            jobs = [queue_payload(p, "ingest", "bench", "bench").id for p in payloads]
            finished = _wait_for_jobs(jobs)
            seconds = time.perf_counter() - started
            accepted = sum(job.result["accepted"] for job in finished)
            celery.connection_for_write().default_channel.client.delete(queue)
            db.session.remove()
            db.engine.dispose()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    if accepted != events:
        raise RuntimeError(f"{workers} workers accepted {accepted} of {events} events")
    return {"workers": workers, "events": accepted, "seconds": round(seconds, 2),
            "rows_per_s": round(accepted / seconds)}  # fmt: skip


def _ingest_files(accounts, events: int, round_name: str) -> list[tuple[str, str, bytes]]:
    """NDJSON files of new threads for these clients: INGEST_GROUPS groups of
    clients, one file per source each."""
    rng = random.Random(f"{SEED}-{round_name}")
    per_group = events // INGEST_GROUPS
    files = []
    for number in range(INGEST_GROUPS):
        count = per_group + (events - per_group * INGEST_GROUPS if number == 0 else 0)
        group = accounts[number::INGEST_GROUPS]
        records = records_for(group, count, rng, f"{round_name}-{number}")
        for source, rows in records.items():
            if rows:
                content = "".join(json.dumps(row) + "\n" for row in rows).encode()
                files.append((source, f"{round_name}-{number}-{source}.ndjson", content))
    return files


def _wait_for_workers(celery, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(celery.control.ping(timeout=1) or []) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} Celery workers did not start within {timeout} s")


def _wait_for_jobs(ids: list[int], timeout: float = 3600) -> list[Job]:
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()  # end the read: see what the workers commit
        jobs = db.session.scalars(select(Job).where(Job.id.in_(ids))).all()
        failed = [job for job in jobs if job.status == "failed"]
        if failed:
            raise RuntimeError(f"job {failed[0].id} failed: {failed[0].error}")
        if all(job.status == "done" for job in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise RuntimeError("the ingest jobs did not finish in time")
        time.sleep(0.1)


def forget_ingest(url: str, since: datetime) -> None:
    """Take what the ingest measurement wrote out again, so that a reused
    database keeps its N events: its payloads, their events and their
    threads (all new), runs, inbox rows and jobs."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        payloads = select(IngestRun.payload_id).where(IngestRun.started_at >= since)
        db.session.execute(
            text(
                "DELETE FROM entities USING events WHERE events.payload_id IN ("
                "SELECT payload_id FROM ingest_runs WHERE started_at >= :since)"
                " AND entities.client_id = events.client_id"
                " AND entities.type = events.thread_type AND entities.key = events.thread_key"
            ),
            {"since": since},
        )
        db.session.execute(delete(Event).where(Event.payload_id.in_(payloads)))
        runs = select(IngestRun.id).where(IngestRun.started_at >= since)
        db.session.execute(delete(InboxRecord).where(InboxRecord.run_id.in_(runs)))
        stored = db.session.scalars(payloads).all()
        db.session.execute(delete(IngestRun).where(IngestRun.started_at >= since))
        db.session.execute(delete(RawPayload).where(RawPayload.id.in_(stored)))
        db.session.execute(delete(Job).where(Job.created_at >= since))
        db.session.commit()
        vacuum()
        db.session.remove()
        db.engine.dispose()


def vacuum() -> None:
    """VACUUM ANALYZE, as after any bulk load or delete: statistics for the
    planner, and the visibility map that lets PostgreSQL count from an index
    alone (autovacuum does the same in production, after enough inserts)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


# --- the report --------------------------------------------------------------


def run(url: str, args, directory: Path, reuse: bool) -> dict:
    slug = _reusable(url, args.events) if reuse else None
    built = {"slug": slug, "events": args.events, "seconds": None} if slug else None
    if built is None:
        built = build(url, args.events, args.clients, args.heavy, directory)
    timeline = timeline_bench.measure(url, built["slug"], args.runs)
    briefing = briefing_bench.measure(url, built["slug"], args.briefing_runs, False, pdf=False)
    since = utcnow()
    try:
        one = ingest_throughput(url, 1, args.ingest_events, "r1")
        two = ingest_throughput(url, 2, args.ingest_events, "r2")
    finally:
        forget_ingest(url, since)
    return {
        "events": built["events"],
        "client": built["slug"],
        "client_events": timeline["client_events"],
        "build_seconds": None if built["seconds"] is None else round(built["seconds"], 1),
        "timeline_first_p50_ms": timeline["first_app"]["median_ms"],
        "timeline_first_p95_ms": timeline["first_app"]["p95_ms"],
        "timeline_deep_p50_ms": timeline["deep_app"]["median_ms"],
        "timeline_deep_p95_ms": timeline["deep_app"]["p95_ms"],
        # The bare statements, timed interleaved with the app: this machine's
        # speed wanders (by half within minutes), the ratio much less.
        "timeline_bare_first_p50_ms": timeline["first_bare"]["median_ms"],
        "timeline_bare_first_p95_ms": timeline["first_bare"]["p95_ms"],
        "timeline_app_vs_bare": timeline["first_page_ratio"],
        "timeline_depth": timeline["depth"],
        "timeline_plan": timeline["plan"],
        "briefing_html_ms": briefing["html_ms"],
        "briefing_html_p95_ms": briefing["html_p95_ms"],
        "briefing_events_read": briefing["events_read"],
        "briefing_flags": briefing["flags"],
        "ingest_one_worker": one,
        "ingest_two_workers": two,
        "two_vs_one": round(two["rows_per_s"] / one["rows_per_s"], 2),
    }


def print_report(report: dict) -> None:
    built = report["build_seconds"]
    print(
        f"PostgreSQL: {report['events']:,} events; {report['client']} has "
        f"{report['client_events']:,} ({'reused' if built is None else f'built in {built} s'})"
    )
    print(f"  {'':<34}{'median ms':>10}{'p95 ms':>10}")
    for label, key in (("timeline, first page", "first"), ("timeline, deep page", "deep")):
        print(
            f"  {label + ' (app)':<34}{report[f'timeline_{key}_p50_ms']:>10.3f}"
            f"{report[f'timeline_{key}_p95_ms']:>10.3f}"
        )
    print(
        f"  {'timeline, first page (bare SQL)':<34}{report['timeline_bare_first_p50_ms']:>10.3f}"
        f"{report['timeline_bare_first_p95_ms']:>10.3f}"
        f"   (app / bare: {report['timeline_app_vs_bare']})"
    )
    print(
        f"  {'briefing HTML':<34}{report['briefing_html_ms']:>10.1f}"
        f"{report['briefing_html_p95_ms']:>10.1f}"
    )
    for key, label in (("ingest_one_worker", "one"), ("ingest_two_workers", "two")):
        figures = report[key]
        print(
            f"  ingest, {label} worker{'s' if label == 'two' else ''}: "
            f"{figures['rows_per_s']:,} events/s ({figures['events']:,} in {figures['seconds']} s)"
        )
    print(f"  two workers / one: {report['two_vs_one']}")


def postgres_url(stack: ExitStack, parser, database: str | None, directory: Path) -> str:
    """`database` when given, else a throwaway database next to
    TOUCHLINE_TEST_POSTGRES_URL's, dropped when `stack` closes."""
    if database:
        return database
    if not os.environ.get("TOUCHLINE_TEST_POSTGRES_URL"):
        parser.error("give --database or set TOUCHLINE_TEST_POSTGRES_URL")
    from tests.databases import fresh_database

    return stack.enter_context(fresh_database("postgresql", directory))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the database")
    parser.add_argument("--clients", type=int, default=5_000, help="clients in the database")
    parser.add_argument("--heavy", type=int, default=200_000, help="the one busy client's events")
    parser.add_argument("--runs", type=int, default=1000, help="timed timeline requests per case")
    parser.add_argument("--briefing-runs", type=int, default=15, help="timed HTML briefings")
    parser.add_argument(
        "--ingest-events", type=int, default=400_000, help="events per ingest round"
    )
    parser.add_argument("--database", help="a PostgreSQL URL to build in and reuse")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = postgres_url(stack, parser, args.database, directory)
        report = run(url, args, directory, reuse=bool(args.database))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)


if __name__ == "__main__":
    main()
