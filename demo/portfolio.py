"""Write the demo portfolio as the files other systems would export.

The demo goes in through the same connectors and pipeline as real data, so
it shows what Touchline makes of real exports, and loading it is a test of
them. The sources use all three formats the generic connectors read.
"""

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from demo.alerts import alert_events
from demo.billing import billing_events
from demo.campaigns import marketing_events
from demo.roster import DemoClient, build_roster, client_row
from demo.sales import sales_events
from demo.tickets import ticket_events
from demo.touches import touch_events
from demo.world import Calendar

DEFAULT_SEED = 7

Generator = Callable[[list[DemoClient], int, Calendar], list[dict]]
# connector -> (file name, generator), in the order they are loaded.
SOURCES: dict[str, tuple[str, Generator]] = {
    "billing": ("billing.csv", billing_events),
    "rmm": ("rmm.ndjson", alert_events),
    "tickets": ("tickets.json", ticket_events),
    "marketing": ("marketing.csv", marketing_events),
    "sales": ("sales.ndjson", sales_events),
    "manual": ("touches.csv", touch_events),
}


@dataclass(frozen=True)
class DemoFile:
    connector: str
    path: Path


def write_portfolio(directory: Path, today: date, seed: int = DEFAULT_SEED) -> list[DemoFile]:
    """Write clients.csv and one file per source; return them, clients first.

    The same seed and day give the same bytes; the same seed on another day
    gives the same ids with dates moved along.
    """
    directory.mkdir(parents=True, exist_ok=True)
    calendar = Calendar(today)
    roster = build_roster(seed)
    files = [DemoFile("clients", directory / "clients.csv")]
    _write(files[0].path, [client_row(client, today) for client in roster])
    for connector, (name, generate) in SOURCES.items():
        path = directory / name
        _write(path, chronological(generate(roster, seed, calendar)))
        files.append(DemoFile(connector, path))
    return files


def chronological(records: list[dict]) -> list[dict]:
    """Oldest first, as exports usually are (ties keep their drawn order)."""
    return sorted(records, key=lambda record: datetime.fromisoformat(record["occurred_at"]))


def _write(path: Path, records: list[dict]) -> None:
    writers = {".csv": _csv, ".json": _json_array, ".ndjson": _ndjson}
    path.write_text(writers[path.suffix](records), encoding="utf-8", newline="")


def _csv(records: list[dict]) -> str:
    """Columns are the union of the records' fields; extra ones become attributes."""
    columns = list(dict.fromkeys(name for record in records for name in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def _json_array(records: list[dict]) -> str:
    lines = ",\n".join(f"  {json.dumps(record, ensure_ascii=False)}" for record in records)
    return f"[\n{lines}\n]\n"


def _ndjson(records: list[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
