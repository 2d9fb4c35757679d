"""How long a client's briefing takes, as HTML and as PDF, for a client of 10,000 events.

    python bench/briefing.py [--events N] [--runs R] [--database PATH] [--profile] [--json]

Builds a SQLite database the way the demo does (`flask demo load`: 44
clients, a year of billing, monitoring, tickets, marketing, sales and
notes) and tops one key client up to N events (default 10,000) with more of
the same: the demo's own generators, run again under other seeds for copies
of the client (its account, contacts, devices and time zone), so the mix of
sources is the demo's. The copies bring everyday work only (threads that
were closed, and touches): the client's open problems, renewals, meetings
and recent installations are its own, so it has as many flags as a real
client (a copy's meetings would also cut the briefing's period, which runs
from the last one). All of it goes in through the ingest pipeline. When the
copies overshoot N, their oldest events are left out; a shortfall is made up
with account notes.
`--database PATH` keeps the database there and reuses it when it already
holds that client with N events.

Then, in the same run:

- `html_ms`: the briefing as HTML, read from the database and rendered
  (client lookup, `build_briefing`, `briefing_html`), the median of R runs;
- `pdf_ms`: the same, rendered to PDF by WeasyPrint (`briefing_pdf`), the
  median of a few runs; WeasyPrint is imported beforehand (a PDF worker
  does that at start);
- `trivial_pdf_ms`: WeasyPrint alone on a one-page "hello" document, the
  floor any PDF pays;
- `pages`: the briefing PDF's page count.

`--profile` also prints where the HTML's time goes (cProfile, top 25).
It only measures and prints; it does not judge the figures.
"""

import argparse
import cProfile
import dataclasses
import gc
import io
import json
import pstats
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

# `python bench/briefing.py` puts bench/ first on the path, not the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select

from connectors import registry
from connectors.pipeline import Pipeline
from crm.extensions import db
from crm.formatting import zone as client_zone
from crm.models import Client, Event
from crm.vocabulary import CLOSES, ENTITY_TYPES, KINDS
from demo.campaigns import UNKNOWN_PROSPECT
from demo.portfolio import DEFAULT_SEED, SOURCES
from demo.roster import DemoClient, build_roster
from demo.world import Calendar
from factory import create_app
from reports.briefing.build import briefing_window, build_briefing
from reports.briefing.frames import load_frames
from reports.briefing.render import briefing_html, briefing_pdf
from reports.pdf import preload, render_pdf

FIRST_COPY_SEED = 1000
INSTALL = "install"  # the demo's category of installation tickets
PDF_RUNS = 3
TRIVIAL_HTML = '<!doctype html><html lang="en"><body><p>Hello.</p></body></html>'


# --- the database ------------------------------------------------------------


def build(url: str, events: int, directory: Path) -> dict:
    """The demo, with one key client topped up to `events` events."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    started = time.perf_counter()
    with app.app_context():
        db.create_all()
        result = app.test_cli_runner().invoke(args=["demo", "load", "--dir", str(directory)])
        if result.exit_code != 0:
            raise RuntimeError(f"flask demo load failed:\n{result.output}")
        target = _target()
        client_id = db.session.scalar(select(Client.id).where(Client.slug == target.slug))
        have = _count(client_id)
        today = datetime.now(UTC).date()
        records = copies_of(target, events - have, Calendar(today))
        pipeline = Pipeline(db.session, app.config["INGEST_BATCH_SIZE"])
        _ingest(pipeline, records)
        short = events - _count(client_id)
        if short > 0:
            _ingest(pipeline, {"manual": notes(target, short, today)})
        total = _count(client_id)
        db.session.remove()
        db.engine.dispose()
    return {"slug": target.slug, "events": total, "seconds": time.perf_counter() - started}


def _target() -> DemoClient:
    """The demo's first key client by slug: the kind of client with the busiest history."""
    return min((c for c in build_roster(DEFAULT_SEED) if c.tier == "key"), key=lambda c: c.slug)


def _count(client_id: int) -> int:
    return db.session.scalar(select(func.count()).where(Event.client_id == client_id))


def copies_of(target: DemoClient, count: int, calendar: Calendar) -> dict[str, list[dict]]:
    """The newest `count` records of the demo's generators run for copies of
    `target` (whole rosters under other seeds, renamed to it), per connector."""
    drawn: list[tuple[str, dict]] = []
    seed = FIRST_COPY_SEED
    while len(drawn) < count:
        roster = [_as(target, other) for other in build_roster(seed)]
        batch = []
        for connector, (_, generate) in SOURCES.items():
            # one copy hears the campaigns: the client has one set of contacts
            hearing = roster[:1] if connector == "marketing" else roster
            batch += [(connector, record) for record in generate(hearing, seed, calendar)]
        drawn += everyday(batch)
        seed += 1
    drawn.sort(key=lambda item: datetime.fromisoformat(item[1]["occurred_at"]))
    by_connector: dict[str, list[dict]] = {}
    for connector, record in drawn[len(drawn) - count :]:
        by_connector.setdefault(connector, []).append(record)
    return by_connector


def everyday(records: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """The copies' everyday work: threads that were closed (tickets solved,
    invoices paid, alerts cleared...) and touches without a thread. Their open
    problems, meetings and the installations the demo finishes in the last
    fortnight are left out: the client has those once, from its own history,
    so its briefing flags as much as a real client's would."""
    closed = {
        record["thread"]
        for _, record in records
        if record.get("thread") and KINDS[record["kind"]].stage == CLOSES
    }
    installs = {record.get("thread") for _, record in records if record.get("category") == INSTALL}

    def kept(record: dict) -> bool:
        kind = KINDS[record["kind"]]
        if record["kind"] == "meeting" or record.get("email") == UNKNOWN_PROSPECT:
            return False
        if record.get("thread") in installs:
            return False
        return kind.thread not in ENTITY_TYPES or record.get("thread") in closed

    return [(connector, record) for connector, record in records if kept(record)]


def _as(target: DemoClient, other: DemoClient) -> DemoClient:
    """`other`'s history (its tier, fees, products, what happened when)
    happening to `target`."""
    return dataclasses.replace(
        other,
        account=target.account,
        zone=target.zone,
        domain=target.domain,
        contacts=target.contacts,
        devices=target.devices,
        manager=target.manager,
        customer_days=max(other.customer_days, 400),
        extra_identities=(),
    )


def notes(target: DemoClient, count: int, today) -> list[dict]:
    end = datetime.combine(today, datetime.min.time(), UTC)
    return [
        {
            "id": f"bench-note-{number}",
            "kind": "note",
            "occurred_at": (end - timedelta(hours=7 * number + 1)).isoformat(),
            "account": target.account,
            "title": "Account note",
            "actor": target.manager,
        }
        for number in range(count)
    ]


def _ingest(pipeline: Pipeline, records: dict[str, list[dict]]) -> None:
    for connector, rows in records.items():
        content = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
        run = pipeline.ingest(registry.get(connector), content, f"{connector}.ndjson", "bench")
        if run.accepted != run.total:
            raise RuntimeError(f"{connector}: only {run.accepted} of {run.total} accepted")


def _reusable(url: str, events: int) -> str | None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    slug = _target().slug
    with app.app_context():
        try:
            client_id = db.session.scalar(select(Client.id).where(Client.slug == slug))
            return slug if client_id and _count(client_id) == events else None
        except Exception:
            return None
        finally:
            db.session.remove()
            db.engine.dispose()


# --- the measurement ---------------------------------------------------------


def measure(url: str, slug: str, runs: int, profile: bool, pdf: bool = True) -> dict:
    """The figures for `slug`'s briefing; `pdf=False` times the HTML only."""
    from pypdf import PdfReader

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        if pdf:
            preload()

        def html() -> str:
            client = db.session.scalar(select(Client).where(Client.slug == slug))
            return briefing_html(build_briefing(db.session, client))

        def make_pdf() -> bytes:
            client = db.session.scalar(select(Client).where(Client.slug == slug))
            return briefing_pdf(build_briefing(db.session, client))

        html()  # warm up: templates compiled, statements cached
        gc.freeze()  # as app.py does once the app is built (see there)
        html_times = _times(html, runs)
        client = db.session.scalar(select(Client).where(Client.slug == slug))
        briefing = build_briefing(db.session, client)
        own = _count(client.id)
        zone = client_zone(client.timezone)
        frames = load_frames(db.session, client.id, briefing_window(briefing.period, zone))
        report = {
            "client_events": own,
            "events_read": len(frames.events),
            "entities_read": len(frames.entities),
            "flags": len(briefing.flags),
            "period_days": briefing.period.days,
            "runs": runs,
            "pdf_runs": PDF_RUNS,
            "html_ms": _median_ms(html_times),
            "html_p95_ms": round(sorted(html_times)[int(len(html_times) * 0.95) - 1] * 1000, 1),
        }
        if pdf:
            pdf_times = _times(make_pdf, PDF_RUNS, warm_up=1)
            trivial_times = _times(lambda: render_pdf(TRIVIAL_HTML), PDF_RUNS, warm_up=1)
            document = make_pdf()
            report |= {
                "pdf_ms": _median_ms(pdf_times),
                "trivial_pdf_ms": _median_ms(trivial_times),
                "pages": len(PdfReader(io.BytesIO(document)).pages),
                "pdf_bytes": len(document),
            }
        if profile:
            profiler = cProfile.Profile()
            profiler.runcall(html)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
            report["profile"] = out.getvalue()
        db.session.remove()
        db.engine.dispose()
    return report


def _times(run, count: int, warm_up: int = 0) -> list[float]:
    for _ in range(warm_up):
        run()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
        db.session.expire_all()  # each run reads the database afresh
    return times


def _median_ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 1)


# --- the report --------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000, help="the client's events")
    parser.add_argument("--runs", type=int, default=15, help="timed HTML briefings")
    parser.add_argument("--database", type=Path, help="keep the SQLite database here, reuse it")
    parser.add_argument("--profile", action="store_true", help="profile one HTML briefing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = args.database or directory / "briefing.db"
        url = f"sqlite:///{path}"
        slug = _reusable(url, args.events) if args.database and path.exists() else None
        built = {"slug": slug, "seconds": None} if slug else build(url, args.events, directory)
        report = {
            "client": built["slug"],
            "build_seconds": None if built["seconds"] is None else round(built["seconds"], 1),
            **measure(url, built["slug"], args.runs, args.profile),
        }

    profile = report.pop("profile", None)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    if profile:
        print(profile, file=sys.stderr if args.json else sys.stdout)


def print_report(report: dict) -> None:
    built = report["build_seconds"]
    print(
        f"SQLite: {report['client']} has {report['client_events']:,} events "
        f"({'reused' if built is None else f'built in {built} s'}); a briefing reads "
        f"{report['events_read']:,} events and {report['entities_read']:,} threads, "
        f"covers {report['period_days']} days and raises {report['flags']} flags"
    )
    print(f"  briefing HTML (build + render), median of {report['runs']}: {report['html_ms']} ms")
    print(f"  briefing HTML, p95:{'':>30}{report['html_p95_ms']} ms")
    print(
        f"  briefing PDF (build + WeasyPrint), median of {report['pdf_runs']}: "
        f"{report['pdf_ms']} ms, {report['pages']} pages, {report['pdf_bytes']:,} bytes"
    )
    print(f"  trivial one-page PDF, median of {report['pdf_runs']}: {report['trivial_pdf_ms']} ms")


if __name__ == "__main__":
    main()
