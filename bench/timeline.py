"""How fast a client's timeline pages, through the app and as bare SQL.

    python bench/timeline.py [--events N] [--heavy H] [--runs R] [--database PATH] [--json]

Builds a SQLite database of N events (default 1,000,000) the way the demo
does: `flask demo load --events` (the demo portfolio plus synthetic alerts
spread over its 44 clients), then tops the busiest client up to H events
(default N / 10) with alerts, tickets and notes of its own through the same
pipeline, a tenth of them sharing their timestamp with another event, as
bursts of alerts do, and the other clients up to N events in all.
(The portfolio alone holds ~5,400 events, so a smaller N gives just that.)
`--database PATH` keeps the database there and reuses it on the next run
when it already holds N events.

Then it times, in the same run and interleaved, the first page of that
client's timeline and a page 50,000 events deep (following a cursor, as
the "Older" link does):

- through the app: `GET /api/v1/clients/<slug>/timeline?limit=50[&cursor=]`
  with Flask's test client, the full request including the JSON;
- as bare SQL: the very statement the app runs (the slug resolved by a
  subquery, as in the app), on the driver's own cursor (sqlite3, psycopg),
  executed and fetched, nothing else.

It prints the medians and 95th percentiles in milliseconds, the ratio of
the app to bare SQL on the first page, and the deep page's median over the
first page's. `--json` prints one object with `first_page_ratio`,
`first_page_p95_ms` and `deep_vs_first` and the details.

When TOUCHLINE_TEST_POSTGRES_URL is set, the same database is also built in
a throwaway PostgreSQL database next to it (then ANALYZEd, as autovacuum
would soon do) and measured there; its figures go under `postgresql`.

It only measures and prints; it does not judge the figures.
"""

import argparse
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

# `python bench/timeline.py` puts bench/ first on the path, not the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select, text

from connectors import registry
from connectors.pipeline import Pipeline
from crm.accounts.operations import create_user, find_user
from crm.accounts.tokens import create_token
from crm.extensions import db
from crm.models import Client, Event
from crm.timeline.queries import Position, timeline_query
from factory import create_app

LIMIT = 50
DEPTH = 50_000
WARMUP = 200
SEED = 20261123
HISTORY = timedelta(days=365)


# --- the database ------------------------------------------------------------


def build(url: str, events: int, heavy: int, directory: Path) -> dict:
    """Load the demo with synthetic alerts, top the busiest client up to
    `heavy` events, then the others up to `events` in all; what was built."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    started = time.perf_counter()
    with app.app_context():
        db.create_all()
        # The demo portfolio itself holds ~5,400 events; the busiest client's
        # share of the alerts comes back below, as filler for the others.
        bulk = max(0, events - heavy - 5_400)
        result = app.test_cli_runner().invoke(
            args=["demo", "load", "--events", str(bulk), "--dir", str(directory)]
        )
        if result.exit_code != 0:
            raise RuntimeError(f"flask demo load failed:\n{result.output}")
        counts = db.session.execute(
            select(Client.slug, func.count(Event.id))
            .join(Event, Event.client_id == Client.id)
            .group_by(Client.slug)
            .order_by(func.count(Event.id).desc(), Client.slug)
        ).all()
        slug, count = counts[0]
        others = [other for other, _ in counts[1:]]
        pipeline = Pipeline(db.session, app.config["INGEST_BATCH_SIZE"])
        _ingest(pipeline, extra_events([slug], heavy - count, "heavy"))
        total = db.session.scalar(select(func.count()).select_from(Event))
        _ingest(pipeline, extra_events(others, events - total, "filler"))
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        total = db.session.scalar(select(func.count()).select_from(Event))
        db.session.remove()
        db.engine.dispose()
    return {"slug": slug, "events": total, "seconds": time.perf_counter() - started}


def _ingest(pipeline: Pipeline, files: list[tuple[str, bytes]]) -> None:
    for connector, content in files:
        run = pipeline.ingest(registry.get(connector), content, f"{connector}.ndjson", "bench")
        if run.accepted != run.total:
            raise RuntimeError(f"{connector}: only {run.accepted} of {run.total} accepted")


def extra_events(slugs: list[str], count: int, prefix: str) -> list[tuple[str, bytes]]:
    """`count` more events for these clients in turn over the last year: alert
    pairs, tickets and notes, a tenth of them at the second of the one before."""
    rng = random.Random(f"{SEED}-{prefix}")
    end = datetime.combine(datetime.now(UTC).date(), clock(0), UTC)
    span = int(HISTORY.total_seconds()) - 86400
    lines: dict[str, list[str]] = {"rmm": [], "tickets": [], "manual": []}
    made, number, moment = 0, 0, end - HISTORY
    while made < count:
        slug = slugs[number % len(slugs)]
        number += 1
        if rng.random() > 0.1:  # else: the same second as the one before
            moment = end - HISTORY + timedelta(seconds=int(rng.random() * span))
        roll = rng.random()
        if roll < 0.7:
            connector, kinds, title = "rmm", ("alert.raised", "alert.resolved"), "Disk above 90%"
        elif roll < 0.95:
            connector, kinds, title = "tickets", ("ticket.opened", "ticket.resolved"), "VPN drops"
        else:
            connector, kinds, title = "manual", ("note",), "Account note"
        for step, kind in enumerate(kinds[: count - made]):
            when = (moment + timedelta(minutes=37 * step)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
            thread = f',"thread":"{prefix}-{number}"' if len(kinds) > 1 else ""
            lines[connector].append(
                f'{{"id":"{prefix}-{number}-{step}","kind":"{kind}","occurred_at":"{when}",'
                f'"client":"{slug}","title":"{title}","actor":"bench"{thread}}}\n'
            )
            made += 1
    return [(name, "".join(rows).encode()) for name, rows in lines.items() if rows]


# --- the measurement ---------------------------------------------------------


def bare_statement(engine, slug: str, after: Position | None):
    """The app's statement for a page as the driver takes it: SQL and parameters
    converted by their types, exactly as SQLAlchemy sends them."""
    statement, parameters = timeline_query(slug, limit=LIMIT, after=after)
    dialect = engine.dialect
    compiled = statement.compile(dialect=dialect)
    values = {}
    for name, value in compiled.construct_params(parameters).items():
        process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        values[name] = process(value) if process else value
    if compiled.positional:
        return str(compiled), tuple(values[name] for name in compiled.positiontup)
    return str(compiled), values


def measure(url: str, slug: str, runs: int) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        client_id = db.session.scalar(select(Client.id).where(Client.slug == slug))
        own = db.session.scalar(select(func.count()).where(Event.client_id == client_id))
        depth = min(DEPTH, own - LIMIT - 1)
        occurred_at, event_id = db.session.execute(
            select(Event.occurred_at, Event.id)
            .where(Event.client_id == client_id)
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .offset(depth - 1)
            .limit(1)
        ).one()
        deep = Position(occurred_at, event_id)
        headers = {"Authorization": f"Bearer {api_token()}"}
        db.session.commit()
        statements = {
            "first": bare_statement(db.engine, slug, None),
            "deep": bare_statement(db.engine, slug, deep),
        }
        plan = query_plan(statements["deep"])
        db.session.remove()
    urls = {
        "first": f"/api/v1/clients/{slug}/timeline?limit={LIMIT}",
        "deep": f"/api/v1/clients/{slug}/timeline?limit={LIMIT}&cursor={deep.encode()}",
    }
    http = app.test_client()
    gc.freeze()  # as app.py does once the app is built (see there)
    with app.app_context():
        raw = db.engine.raw_connection()
    cursor = raw.cursor()

    def through_app(page: str) -> float:
        started = time.perf_counter()
        response = http.get(urls[page], headers=headers)
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or len(response.json["items"]) != LIMIT:
            raise RuntimeError(f"{urls[page]} answered {response.status_code}")
        return elapsed

    def bare(page: str) -> float:
        sql, parameters = statements[page]
        started = time.perf_counter()
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
        elapsed = time.perf_counter() - started
        if len(rows) != LIMIT + 1:
            raise RuntimeError(f"the bare {page} page fetched {len(rows)} rows")
        return elapsed

    cases = {
        ("first", "app"): lambda: through_app("first"),
        ("first", "bare"): lambda: bare("first"),
        ("deep", "app"): lambda: through_app("deep"),
        ("deep", "bare"): lambda: bare("deep"),
    }
    timings: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
    for round_ in range(WARMUP + runs):
        for case, run in cases.items():  # interleaved: drift hits every case alike
            elapsed = run()
            if round_ >= WARMUP:
                timings[case].append(elapsed)
    raw.close()
    with app.app_context():
        db.engine.dispose()

    figures = {f"{page}_{how}": _summary(values) for (page, how), values in timings.items()}
    return {
        "client_events": own,
        "depth": depth,
        "plan": plan,
        **figures,
        "first_page_ratio": round(
            figures["first_app"]["median_ms"] / figures["first_bare"]["median_ms"], 2
        ),
        "first_page_p95_ms": figures["first_app"]["p95_ms"],
        "deep_vs_first": round(
            figures["deep_app"]["median_ms"] / figures["first_app"]["median_ms"], 3
        ),
        "deep_vs_first_bare": round(
            figures["deep_bare"]["median_ms"] / figures["first_bare"]["median_ms"], 3
        ),
    }


def api_token() -> str:
    """A new API token of the bench's own account (made once; staff may read
    timelines), as a Bearer header sends it. Flushed, not committed."""
    email = "bench@touchline.invalid"
    user = find_user(db.session, email) or create_user(db.session, email, "Bench", ["staff"], None)
    return create_token(db.session, user, "bench/timeline.py")[1]


def query_plan(statement) -> str:
    sql, parameters = statement
    if db.engine.dialect.name == "sqlite":
        rows = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, parameters)
        return "; ".join(row[-1] for row in rows)
    rows = db.session.connection().exec_driver_sql("EXPLAIN " + sql, parameters)
    return "; ".join(row[0].strip() for row in rows)


def _summary(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 4),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 4),
    }


# --- the report --------------------------------------------------------------


def run_engine(url: str, args, directory: Path, reuse: bool) -> dict:
    built = None
    if reuse:
        slug = _reusable(url, args.events)
        if slug:
            built = {"slug": slug, "events": args.events, "seconds": None}
    if built is None:
        built = build(url, args.events, args.heavy, directory)
    report = measure(url, built["slug"], args.runs)
    return {
        "events": built["events"],
        "client": built["slug"],
        "build_seconds": None if built["seconds"] is None else round(built["seconds"], 1),
        "limit": LIMIT,
        "runs": args.runs,
        **report,
    }


def _reusable(url: str, events: int) -> str | None:
    """The busiest client's slug when the database at `url` holds `events` events."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        try:
            if db.session.scalar(select(func.count()).select_from(Event)) != events:
                return None
            return db.session.scalar(
                select(Client.slug)
                .join(Event, Event.client_id == Client.id)
                .group_by(Client.slug)
                .order_by(func.count(Event.id).desc(), Client.slug)
                .limit(1)
            )
        except Exception:
            return None
        finally:
            db.session.remove()
            db.engine.dispose()


def print_report(engine: str, report: dict) -> None:
    built = report["build_seconds"]
    print(
        f"{engine}: {report['events']:,} events; {report['client']} has "
        f"{report['client_events']:,} ({'reused' if built is None else f'built in {built} s'})"
    )
    print(f"  page of {report['limit']}, {report['runs']:,} runs each, deep = {report['depth']:,}")
    print(f"  {'':<28}{'median ms':>10}{'p95 ms':>10}")
    for page in ("first", "deep"):
        for how, label in (("bare", "bare SQL"), ("app", "app (JSON API)")):
            figures = report[f"{page}_{how}"]
            print(
                f"  {page + ' page, ' + label:<28}"
                f"{figures['median_ms']:>10.3f}{figures['p95_ms']:>10.3f}"
            )
    print(f"  {'first page, app / bare SQL':<28}{report['first_page_ratio']:>10.2f}")
    print(f"  {'first page, app p95 (ms)':<28}{report['first_page_p95_ms']:>10.3f}")
    print(f"  {'deep / first page, app':<28}{report['deep_vs_first']:>10.3f}")
    print(f"  {'deep / first page, bare SQL':<28}{report['deep_vs_first_bare']:>10.3f}")
    print(f"  plan of the deep page: {report['plan']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the database")
    parser.add_argument("--heavy", type=int, help="events of the one busy client (default N/10)")
    parser.add_argument("--runs", type=int, default=2000, help="timed requests per case")
    parser.add_argument("--database", type=Path, help="keep the SQLite database here, reuse it")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    args.heavy = args.heavy or args.events // 10
    if args.heavy < LIMIT + 2 or args.heavy > args.events:
        parser.error("--heavy must be more than a page and at most --events")

    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = args.database or directory / "timeline.db"
        report = run_engine(f"sqlite:///{path}", args, directory / "sqlite", bool(args.database))
        postgres = None
        if os.environ.get("TOUCHLINE_TEST_POSTGRES_URL"):
            from tests.databases import fresh_database

            url = stack.enter_context(fresh_database("postgresql", directory))
            postgres = run_engine(url, args, directory / "postgresql", reuse=False)

    if args.json:
        print(json.dumps(report | {"postgresql": postgres}, indent=2))
        return
    print_report("SQLite", report)
    if postgres:
        print_report("PostgreSQL", postgres)


if __name__ == "__main__":
    main()
