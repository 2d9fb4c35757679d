"""How fast a live sync backfills, next to ingesting the same records from a file.

    python bench/sync.py [--records N] [--vendor zendesk|stripe|all]
                         [--limit L --window SECONDS --limited-requests R]

A fake vendor server (a WSGI app in a thread of this process, no rate limit)
serves the records of bench/vendor_payloads.py (N per vendor, 100,000 by
default) through the vendor's own API: Zendesk's cursor-based incremental
ticket export in pages of 1,000 with users side-loaded, Stripe's `/v1/events`
newest first in pages of 100 (its backfill lists empty). A connection syncs
them all (connectors/connections/sync.py: the real source, transport, pipeline
and per-page commits) into a fresh SQLite database, and in the same run the
pipeline ingests the same records from the file `flask ingest` would read.
Printed: both rates and their ratio (the target is at least 0.5: the pipeline,
not the HTTP, sets the pace), and the proportional resident memory of the
process and its sync's workers after each quarter of the sync's pages (flat, not
growing with what has been synced). Both sides use the processes
TOUCHLINE_INGEST_PROCESSES gives (`flask sync` and `flask ingest` alike).

Then, with the vendor's published limit switched on in the same server
(Zendesk's incremental exports: 10 requests a minute, answered beyond it
with 429 and Retry-After, as Zendesk does), R requests of the ticket export
are synced, and the time they took is set against the time the limit alone
requires for them (the target: at least 90% of the allowed rate).
`--window 6` scales the minute down to six seconds for a quick look; the
default is the vendor's own minute.

It only measures and prints; it does not judge the figures.
"""

import argparse
import contextlib
import json
import logging
import math
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from sqlalchemy import func, select
from werkzeug.serving import make_server

from bench.ingest import CLIENTS, SEED, Settings, add_clients, run_pipeline
from bench.vendor_payloads import VENDORS, Workload
from connectors.connections import operations
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sync import sync
from crm.extensions import db
from crm.models import Event
from factory import create_app

CREDENTIALS = {
    "zendesk": {"email": "bench@touchline.test", "api_token": "bench"},
    "stripe": {"api_key": "sk_test_bench"},
}
EMPTY_ZENDESK = {
    "/api/v2/incremental/organizations.json": {
        "organizations": [],
        "end_time": 0,
        "end_of_stream": True,
    },
    "/api/v2/incremental/ticket_events.json": {
        "ticket_events": [],
        "end_time": 0,
        "end_of_stream": True,
    },
    "/api/v2/incremental/users/cursor.json": {
        "users": [],
        "after_cursor": None,
        "end_of_stream": True,
    },
}
TICKETS = "/api/v2/incremental/tickets/cursor.json"


class FakeVendor:
    """Recorded-shape pages by request, each serialised once beforehand (so the
    server's own cost is a dictionary lookup), with an optional fixed-window
    limit: `limit` requests per `window` seconds, then 429 + Retry-After."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], bytes] = {}
        self.limit: tuple[int, float] | None = None
        self.served = self.refused = 0
        self._window_start, self._in_window = 0.0, 0
        self._lock = threading.Lock()

    def add(self, path: str, query: str, document: dict) -> None:
        self.routes[(path, query)] = json.dumps(document).encode()

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        params = parse_qs(environ.get("QUERY_STRING", ""))
        key = params.get("cursor", params.get("starting_after", [""]))[0]
        wait = self._admit()
        if wait:
            start_response("429 Too Many Requests", [("Retry-After", str(wait))])
            return [b'{"error": "APIRateLimitExceeded"}']
        body = self.routes.get((path, key)) or self.routes.get((path, "*"))
        if body is None:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "InvalidEndpoint"}']
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    def _admit(self) -> int:
        """0 to serve this request, else the whole seconds until the next window."""
        with self._lock:
            if self.limit is None:
                self.served += 1
                return 0
            limit, window = self.limit
            now = time.monotonic()
            if now - self._window_start >= window:
                self._window_start, self._in_window = now, 0
            if self._in_window < limit:
                self._in_window += 1
                self.served += 1
                return 0
            self.refused += 1
            return max(1, math.ceil(self._window_start + window - now))


def zendesk_routes(vendor: FakeVendor, workload: Workload) -> int:
    """The workload's export pages chained by cursors c1, c2, ...; how many pages."""
    pages = [json.loads(line) for line in workload.files[0][2].splitlines() if line.strip()]
    for path, document in EMPTY_ZENDESK.items():
        vendor.add(path, "*", document)
    for number, page in enumerate(pages):
        last = number == len(pages) - 1
        page |= {"after_cursor": None if last else f"c{number + 1}", "end_of_stream": last}
        vendor.add(TICKETS, f"c{number}" if number else "*", page)
    return len(pages)


def stripe_routes(vendor: FakeVendor, workload: Workload) -> int:
    """Every event newest first in lists of 100, each after the last id of the
    page before; the backfill lists empty (the events carry every object)."""
    events = [json.loads(line) for line in workload.files[0][2].splitlines() if line.strip()]
    events.reverse()
    for name in ("customers", "invoices", "charges", "disputes", "refunds", "subscriptions"):
        vendor.add(f"/v1/{name}", "*", {"object": "list", "data": [], "has_more": False})
    pages = [events[start : start + 100] for start in range(0, len(events), 100)]
    for number, page in enumerate(pages):
        after = pages[number - 1][-1]["id"] if number else "*"
        listed = {"object": "list", "data": page, "has_more": number < len(pages) - 1}
        vendor.add("/v1/events", after, listed | {"url": "/v1/events"})
    return len(pages)


ROUTES = {"zendesk": zendesk_routes, "stripe": stripe_routes}


def serve(vendor: FakeVendor):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a line per request
    server = make_server("127.0.0.1", 0, vendor, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def resident_mb() -> float:
    """The proportional resident memory (PSS) of this process and its
    children, the sync's workers: pages they share since the fork (the fake
    vendor's, the workload's) count once, not once a process."""
    pids = ["self", *(str(child.pid) for child in multiprocessing.active_children())]
    kilobytes = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as rollup:
            kilobytes += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
    return kilobytes / 1024


def run_sync(url: str, name: str, base_url: str, workload: Workload, pages: int) -> dict:
    """A connection to the fake vendor, synced once into a fresh database at
    `url`: records stored, seconds, and memory after each quarter of the pages."""
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "CREDENTIALS_KEY": Fernet.generate_key().decode()}
    )
    with app.app_context():
        try:
            db.create_all()
            add_clients(CLIENTS, workload)
            data = NewConnectionSchema().load(
                {
                    "vendor": name,
                    "name": name,
                    "base_url": base_url,
                    "credentials": CREDENTIALS[name],
                }
            )
            connection = operations.add(db.session, data)
            db.session.commit()
            seen, memory = [0], []
            marks = {max(1, round(pages * q / 4)) for q in range(1, 5)}

            def progress(count: int) -> None:
                seen[0] += 1
                if seen[0] in marks:
                    memory.append(round(resident_mb()))

            started = time.perf_counter()
            # As many processes as the file ingest beside it (`flask sync`
            # and `flask ingest` both take TOUCHLINE_INGEST_PROCESSES).
            processes = app.config["INGEST_PROCESSES"]
            run = sync(db.session, connection, "bench", on_progress=progress, processes=processes)
            seconds = time.perf_counter() - started
            stored = db.session.scalar(select(func.count()).select_from(Event))
            if run.status != "finished":
                raise SystemExit(f"{name}: the sync {run.status}: {run.error}")
        finally:
            db.session.remove()
            db.engine.dispose()
    return {"rows": stored, "seconds": seconds, "memory_mb": memory}


def measure(name: str, records: int, folder: Path) -> dict:
    workload = VENDORS[name](records, SEED, CLIENTS)
    vendor = FakeVendor()
    pages = ROUTES[name](vendor, workload)
    server, base_url = serve(vendor)
    try:
        synced = run_sync(
            f"sqlite:///{folder / f'{name}-sync.db'}", name, base_url, workload, pages
        )
    finally:
        server.shutdown()
    filed = run_pipeline(
        f"sqlite:///{folder / f'{name}-file.db'}", workload, Settings(repeat=1), name
    )
    sync_rate, file_rate = synced["rows"] / synced["seconds"], filed["rows"] / filed["seconds"]
    return {
        "records": records,
        "requests": vendor.served,
        "sync_rows": synced["rows"],
        "file_rows": filed["rows"],
        "sync_per_s": round(sync_rate),
        "file_per_s": round(file_rate),
        "ratio": round(sync_rate / file_rate, 3),
        "memory_mb_by_quarter": synced["memory_mb"],
    }


def measure_limited(requests: int, limit: int, window: float, folder: Path) -> dict:
    """R pages of the Zendesk ticket export under its limit: requests served a
    second, against what the limit allows in the same time."""
    workload = VENDORS["zendesk"](requests * 1000, SEED, CLIENTS)
    vendor = FakeVendor()
    pages = zendesk_routes(vendor, workload)
    vendor.limit = (limit, window)
    server, base_url = serve(vendor)
    try:
        synced = run_sync(
            f"sqlite:///{folder / 'limited.db'}", "zendesk", base_url, workload, pages
        )
    finally:
        server.shutdown()
    # Fixed windows from the first request: the limit alone makes these
    # requests take this long (the last one waits for its window to open);
    # the share is that over the time they took.
    required = window * ((vendor.served - 1) // limit)
    return {
        "limit": f"{limit} requests per {window:g} s",
        "requests": vendor.served,
        "refused_429": vendor.refused,
        "seconds": round(synced["seconds"], 1),
        "required_seconds": required,
        "of_allowed": round(required / synced["seconds"], 3) if required else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="records per vendor")
    parser.add_argument("--vendor", default="all", choices=[*ROUTES, "all"])
    parser.add_argument("--limit", type=int, default=10, help="requests per window (Zendesk: 10)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds (Zendesk: a minute)")
    parser.add_argument(
        "--limited-requests", type=int, default=25, help="requests under the limit; 0 skips it"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    names = list(ROUTES) if args.vendor == "all" else [args.vendor]
    report: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="touchline-bench-sync-") as folder:
        for name in names:
            report[name] = measure(name, args.records, Path(folder))
            if not args.json:
                r = report[name]
                print(
                    f"{name}: {r['records']:,} records in {r['requests']:,} requests: sync "
                    f"{r['sync_per_s']:,}/s, file {r['file_per_s']:,}/s, ratio {r['ratio']} "
                    f"(target >= 0.5); memory by quarter {r['memory_mb_by_quarter']} MB"
                )
        if args.limited_requests:
            limited = measure_limited(args.limited_requests, args.limit, args.window, Path(folder))
            report["limited"] = limited
            if not args.json:
                print(
                    f"zendesk under {limited['limit']}: {limited['requests']} requests in "
                    f"{limited['seconds']} s ({limited['refused_429']} answered 429); the limit "
                    f"alone needs {limited['required_seconds']:g} s for them: "
                    + (
                        f"{limited['of_allowed']:.0%} of the allowed rate (target >= 90%)"
                        if limited["of_allowed"]
                        else "too few requests to reach the limit (give more)"
                    )
                )
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
