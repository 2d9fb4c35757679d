"""How long the portfolio report takes to build at scale, on PostgreSQL.

    python bench/portfolio.py [--clients C] [--events N] [--runs R]
                              [--database URL] [--json]

Builds a PostgreSQL database of C clients (default 1,000) sharing N events
(default 200,000; ~1 minute in all on a small machine): tickets, invoices and
payments, alerts, campaigns and deals as bench/ingest.py generates them over
the last year, converted by the generic connector and folded into thread
states as the pipeline does, written with COPY (bench/scale.py's load_bulk;
loading is not what is measured). Then VACUUM ANALYZE, one warm-up, and R
timed builds (default 5) of the report of the last twelve months
(reports.portfolio.build_portfolio, everything the page, PDF, CSV and API
show), each split into its reading of the frames (the SQL) and the rest.

It prints the median and worst build time and their ratio to the issue's
target (issue 19: under 1 s at 10,000 clients and 10 million events on
PostgreSQL); it judges nothing. The issue's case, which takes ~30-60 minutes
to build on two cores (keep it with --database to measure it again):

    createdb portfolio_bench
    python bench/portfolio.py --clients 10000 --events 10000000 \\
        --database postgresql+psycopg://postgres@127.0.0.1:5432/portfolio_bench

`--database URL` keeps the database and reuses it when it already holds N
events; without it a throwaway database is made next to
TOUCHLINE_TEST_POSTGRES_URL's and dropped at the end.
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

# `python bench/portfolio.py` puts bench/ first on the path, not the project.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, inspect, select

from bench.scale import SEED, add_clients, load_bulk, postgres_url, vacuum
from crm.extensions import db
from crm.flags import FlagSettings
from crm.models import Client, CollectedMonth, Event
from factory import create_app
from reports.portfolio import frames as portfolio_frames
from reports.portfolio.period import last_twelve_months
from reports.portfolio.render import portfolio_csv, portfolio_html
from reports.portfolio.report import build_portfolio
from reports.portfolio.views import period_args

TARGET_SECONDS = 1.0
PREFIX = "portfolio"


def build(url: str, clients: int, events: int) -> float:
    """The clients and their events, unless the database already holds them."""
    started = time.perf_counter()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        if inspect(db.engine).has_table(Event.__tablename__):
            if not inspect(db.engine).has_table(CollectedMonth.__tablename__):
                sys.exit(
                    f"{url} predates migration 0021: run `flask db stamp 0020` and"
                    " `flask db upgrade` on it (DATABASE_URL), or build it again"
                )
            if db.session.scalar(select(func.count()).select_from(Event)) == events:
                return 0.0
        else:
            db.create_all()
        accounts = add_clients(clients, PREFIX)
        load_bulk(accounts, events, random.Random(SEED))
        db.session.commit()
        vacuum()
        db.session.remove()
        db.engine.dispose()
    return time.perf_counter() - started


def measure(url: str, runs: int) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context(), app.test_request_context("/reports/portfolio"):
        now = datetime.now(UTC)
        period = last_twelve_months(now.date())
        settings = FlagSettings.from_config(app.config)
        counts = {
            "clients": db.session.scalar(select(func.count()).select_from(Client)),
            "events": db.session.scalar(select(func.count()).select_from(Event)),
        }

        def page() -> str:
            report = build_portfolio(db.session, period, now, settings)
            return portfolio_html(
                report,
                "reports/portfolio.html",
                errors={},
                form={},
                period_args=period_args(period),
            )

        def csv() -> str:
            return portfolio_csv(build_portfolio(db.session, period, now, settings))

        build_portfolio(db.session, period, now, settings)  # warm-up
        html_bytes = len(page().encode())
        totals, reads, pages, csvs = [], [], [], []
        for _ in range(runs):
            started = time.perf_counter()
            portfolio_frames.read_frames(db.session, period, now, settings)
            reads.append(time.perf_counter() - started)
            started = time.perf_counter()
            report = build_portfolio(db.session, period, now, settings)
            totals.append(time.perf_counter() - started)
            for make, times in ((page, pages), (csv, csvs)):
                started = time.perf_counter()
                make()
                times.append(time.perf_counter() - started)
            db.session.rollback()
        db.session.remove()
        db.engine.dispose()
    median = statistics.median(totals)
    return counts | {
        "report_clients": len(report.clients),
        "flags": report.flags_total,
        "flags_listed": len(report.flags),
        "build_median_s": round(median, 3),
        "build_worst_s": round(max(totals), 3),
        "frames_median_s": round(statistics.median(reads), 3),
        "html_median_s": round(statistics.median(pages), 3),
        "html_bytes": html_bytes,
        "csv_median_s": round(statistics.median(csvs), 3),
        "target_s": TARGET_SECONDS,
        "median_vs_target": round(median / TARGET_SECONDS, 2),
        "html_vs_target": round(statistics.median(pages) / TARGET_SECONDS, 2),
        "csv_vs_target": round(statistics.median(csvs) / TARGET_SECONDS, 2),
    }


def print_report(report: dict) -> None:
    built = report["load_seconds"]
    print(
        f"PostgreSQL: {report['clients']:,} clients, {report['events']:,} events"
        f" ({f'built in {built} s' if built else 'reused'})"
    )
    print(
        f"  portfolio report: {report['report_clients']:,} clients, {report['flags']:,} open flags"
        f" ({report['flags_listed']} listed)"
    )
    print(
        f"  build: median {report['build_median_s']} s, worst {report['build_worst_s']} s"
        f" (of which reading the frames: median {report['frames_median_s']} s)"
    )
    print(f"  median / target ({report['target_s']} s): {report['median_vs_target']}")
    print(
        f"  page (build + HTML, {report['html_bytes']:,} bytes): median {report['html_median_s']} s"
        f" ({report['html_vs_target']}x the target); CSV: median {report['csv_median_s']} s"
        f" ({report['csv_vs_target']}x)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1_000, help="clients in the database")
    parser.add_argument("--events", type=int, default=200_000, help="events in the database")
    parser.add_argument("--runs", type=int, default=5, help="timed builds of the report")
    parser.add_argument("--database", help="a PostgreSQL URL to build in and reuse")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url = postgres_url(stack, parser, args.database, directory)
        load_seconds = round(build(url, args.clients, args.events), 1)
        report = measure(url, args.runs) | {"load_seconds": load_seconds}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)


if __name__ == "__main__":
    main()
