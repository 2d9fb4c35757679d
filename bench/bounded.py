"""Whether the card, the briefing and a batch stay bounded for a client that is huge.

    python bench/bounded.py [--alerts N] [--done M] [--events E] [--batch K]
                            [--engine postgresql|sqlite] [--database URL] [--json]

Builds a throwaway database (PostgreSQL, the target, next to
TOUCHLINE_TEST_POSTGRES_URL's, dropped at the end; or SQLite) with one client
holding N open alerts (default 10,761, the issue's client: 3 checks on many
devices, every seventh critical, each with its raised event) and M tickets
solved in the last 14 days (default 8,443), written straight to the tables
(the pipeline is bench/ingest.py's business), topped up to E events in all
(default 1,000,000) with a year of everything bench/ingest.py generates
(tickets, invoices, alerts, campaigns, deals, with their thread states),
written with COPY as bench/scale.py does (PostgreSQL only; ~8 minutes on
two busy cores). The briefing of such a client still reads half a year of
its events (some 500,000) and takes minutes: give `--runs 1` to measure
it. `--database URL` keeps the database and reuses it when it already
holds the client. Then, in the same run, it prints:

- the card: its HTML's size (the card's part of the client page) and the
  time to build and render it, median of R runs;
- the briefing: its HTML's size and time (build + render), its PDF's pages;
- with `--batch K`: a combined PDF of K such briefings (the same client's
  data copied to K clients is too slow to build; K light clients plus this
  one), its size and the process's peak memory before and after.

It prints figures and their ratio to the issue's targets (300 ms, 300 KB;
500 MB for 100 briefings); it judges nothing. The issue measured 10,761
alerts at 7.6 MB / 1.1 s for the card and 8,443 items, 1.58 MB / 3.8 s and
178 pages for the briefing.
"""

import argparse
import io
import json
import random
import resource
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import render_template
from sqlalchemy import func, insert, inspect, select, text

from bench.scale import SEED, load_bulk, postgres_url, vacuum
from crm import day_counts, event_caches
from crm.extensions import db
from crm.models import Client, DayCount, Entity, Event, Identity
from crm.timeline.precontact import configured_card
from factory import create_app
from reports.briefing.batch import Selection, find_clients, make_briefings
from reports.briefing.build import build_briefing
from reports.briefing.combined import write_combined_pdf
from reports.briefing.render import briefing_html, briefing_pdf
from reports.pdf import preload

SLUG = "huge-client"
CHECKS = ("DiskFull", "CPUHigh", "BackupFailed")
TARGET_MS, TARGET_BYTES, TARGET_BATCH_MB = 300, 300_000, 500
# The top-up is written by account, this many events each (one COPY round in memory).
EVENTS_PER_ACCOUNT = 100_000


def build(url: str, alerts: int, done: int, batch: int, total_events: int = 0) -> float:
    """The client and its threads, unless the database already holds it; the seconds taken."""
    started = time.perf_counter()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    now = datetime.now(UTC)
    with app.app_context():
        held = inspect(db.engine).has_table(Client.__tablename__) and db.session.scalar(
            select(Client.id).where(Client.slug == SLUG)
        )
        if held:
            _to_0027()
            db.engine.dispose()
            return 0.0
        db.create_all()
        client = Client(slug=SLUG, name="Huge Client", tier="key", timezone="Europe/Berlin")
        db.session.add(client)
        db.session.flush()
        entities, events = [], []
        for n in range(alerts):
            check, device = CHECKS[n % 3], f"host-{n % 400}"
            opened = now - timedelta(minutes=7 * n + 5)
            key = f"al-{n}"
            entities.append(
                _entity(
                    client.id,
                    "alert",
                    key,
                    "firing",
                    f"{check} on {device}",
                    opened,
                    priority="critical" if n % 7 == 0 else "warning",
                    category=check,
                    device=device,  # as the pipeline folds it (crm.threads.device_of)
                )
            )
            events.append(
                _event(
                    client.id,
                    "rmm",
                    "alert.raised",
                    key,
                    opened,
                    f"{check} on {device}",
                    "alert",
                    {"instance": device, "alertname": check},
                )
            )
        for n in range(done):
            opened = now - timedelta(days=20, minutes=n)
            closed = now - timedelta(days=13, minutes=-n)
            key = f"T-{n}"
            entities.append(
                _entity(
                    client.id,
                    "ticket",
                    key,
                    "resolved",
                    f"Install printer {n}",
                    opened,
                    closed_at=closed,
                )
            )
            events.append(
                _event(
                    client.id,
                    "tickets",
                    "ticket.opened",
                    key,
                    opened,
                    f"Install printer {n}",
                    "ticket",
                    {},
                )
            )
            events.append(
                _event(
                    client.id,
                    "tickets",
                    "ticket.resolved",
                    key + ":r",
                    closed,
                    f"Install printer {n}",
                    "ticket",
                    {},
                    thread_key=key,
                )
            )
        for number in range(max(0, batch - 1)):
            db.session.add(Client(slug=f"light-{number:03}", name=f"Light {number:03}", tier="key"))
        db.session.execute(insert(Entity), entities)
        for start in range(0, len(events), 20_000):
            db.session.execute(insert(Event), events[start : start + 20_000])
        db.session.commit()
        _top_up(client.id, total_events - len(events))
        with db.engine.begin() as connection:  # the Core inserts bypassed the caches
            event_caches.rebuild(connection)
        if db.engine.dialect.name == "postgresql":
            vacuum()
        db.engine.dispose()
    return time.perf_counter() - started


def _to_0027() -> None:
    """A database kept from before migration 0027 gets what it adds: the
    daily counts (crm.day_counts) and ix_events_client_kind's columns."""
    if not inspect(db.engine).has_table(DayCount.__tablename__):
        DayCount.__table__.create(db.engine)
        with db.engine.begin() as connection:
            day_counts.rebuild(connection)
    if db.engine.dialect.name != "postgresql":
        return
    index = next(i for i in Event.__table__.indexes if i.name == "ix_events_client_kind")
    with db.engine.begin() as connection:
        definition = connection.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"), {"name": index.name}
        )
        if "INCLUDE" not in definition:
            index.drop(connection)
            index.create(connection)
    vacuum()


def _top_up(client_id: int, events: int) -> None:
    """`events` more events of the client: a year of everything, with their
    thread states, by COPY (bench/scale.py's load_bulk), under accounts of its
    own so that each round's thread keys are new."""
    if events <= 0:
        return
    if db.engine.dialect.name != "postgresql":
        raise SystemExit("--events beyond the alerts and tickets needs --engine postgresql")
    rng = random.Random(SEED)
    rounds = -(-events // EVENTS_PER_ACCOUNT)
    for number in range(rounds):
        account = f"HUGE-{number:03}"
        db.session.add(Identity(system="account", external_key=account, client_id=client_id))
        db.session.commit()
        share = min(EVENTS_PER_ACCOUNT, events - number * EVENTS_PER_ACCOUNT)
        load_bulk([(client_id, account)], share, rng)


def _entity(client_id, type_, key, status, title, opened, **fields):
    return dict(
        client_id=client_id,
        type=type_,
        key=key,
        status=status,
        title=title,
        opened_at=opened,
        last_event_at=fields.get("closed_at") or opened,
        event_count=1,
        **fields,
    )


def _event(client_id, source, kind, key, at, title, thread_type, attributes, thread_key=None):
    return dict(
        client_id=client_id,
        source=source,
        kind=kind,
        origin="bench",
        external_id=key + ":" + kind,
        occurred_at=at,
        title=title,
        thread_type=thread_type,
        thread_key=thread_key or key,
        attributes=attributes,
        received_at=at,
    )


def measure(url: str, runs: int, batch: int) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    report: dict = {}
    with app.app_context(), app.test_request_context(f"/clients/{SLUG}"):
        config = app.config
        huge = db.session.scalar(select(Client.id).where(Client.slug == SLUG))
        report["events"] = db.session.scalar(
            select(func.count()).select_from(Event).where(Event.client_id == huge)
        )

        def card_html() -> str:
            client = db.session.scalar(select(Client).where(Client.slug == SLUG))
            now = datetime.now(UTC)
            card = configured_card(db.session, client, now, config)
            return render_template(
                "timeline/_card.html", client=client, card=card, now=now, actor=""
            )

        def briefing() -> str:
            client = db.session.scalar(select(Client).where(Client.slug == SLUG))
            return briefing_html(build_briefing(db.session, client))

        for name, make in (("card", card_html), ("briefing", briefing)):
            html = make()  # warm up
            times = []
            for _ in range(runs):
                db.session.expire_all()
                started = time.perf_counter()
                make()
                times.append(time.perf_counter() - started)
            ms = round(statistics.median(times) * 1000, 1)
            report[name] = {
                "html_bytes": len(html.encode()),
                "html_ms": ms,
                "ms_ratio_to_target": round(ms / TARGET_MS, 2),
                "bytes_ratio_to_target": round(len(html.encode()) / TARGET_BYTES, 3),
            }
        preload()
        from pypdf import PdfReader

        client = db.session.scalar(select(Client).where(Client.slug == SLUG))
        pdf = briefing_pdf(build_briefing(db.session, client))
        report["briefing"]["pdf_pages"] = len(PdfReader(io.BytesIO(pdf)).pages)
        if batch:
            chosen = find_clients(db.session, Selection(tiers=("key",)))
            before = _peak_mb()
            with tempfile.TemporaryFile() as target:
                started = time.perf_counter()
                write_combined_pdf(
                    chosen,
                    make_briefings(db.session, chosen.clients),
                    target,
                    meeting_date=None,
                    generated_at=datetime.now(UTC),
                )
                seconds = time.perf_counter() - started
                size = target.tell()
            after = _peak_mb()
            report["batch"] = {
                "briefings": len(chosen.clients),
                "pdf_bytes": size,
                "seconds": round(seconds, 1),
                "peak_mb_before": before,
                "peak_mb_after": after,
                "peak_ratio_to_target": round(after / TARGET_BATCH_MB, 2),
            }
        db.engine.dispose()
    return report


def _peak_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=10_761, help="open alerts of the client")
    parser.add_argument("--done", type=int, default=8_443, help="tickets solved in 14 days")
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the client in all")
    parser.add_argument("--engine", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--database", help="a PostgreSQL URL to build in and reuse")
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each")
    parser.add_argument("--batch", type=int, default=0, help="briefings in a combined PDF")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.engine == "sqlite":
            url = f"sqlite:///{directory}/bounded.db"
        else:
            url = postgres_url(stack, parser, args.database, directory)
        seconds = build(url, args.alerts, args.done, args.batch, args.events)
        report = {
            "engine": args.engine,
            "alerts": args.alerts,
            "done": args.done,
            "load_seconds": round(seconds, 1),
            **measure(url, args.runs, args.batch),
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    built = f"built in {report['load_seconds']} s" if report["load_seconds"] else "reused"
    print(
        f"One client: {report['events']:,} events, {args.alerts:,} open alerts, "
        f"{args.done:,} tickets solved lately ({args.engine}, {built})"
    )
    for name in ("card", "briefing"):
        part = report[name]
        print(
            f"  {name:8} HTML {part['html_bytes']:>9,} bytes ({part['bytes_ratio_to_target']}x "
            f"the 300 KB target), {part['html_ms']} ms median ({part['ms_ratio_to_target']}x "
            f"the 300 ms target)"
        )
    print(f"  briefing PDF: {report['briefing']['pdf_pages']} pages")
    if "batch" in report:
        b = report["batch"]
        print(
            f"  combined PDF of {b['briefings']} briefings: {b['pdf_bytes']:,} bytes in "
            f"{b['seconds']} s; peak memory {b['peak_mb_before']} MB before, "
            f"{b['peak_mb_after']} MB after ({b['peak_ratio_to_target']}x the 500 MB target)"
        )


if __name__ == "__main__":
    main()
