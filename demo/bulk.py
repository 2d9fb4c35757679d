"""Extra synthetic events for benchmarks: monitoring noise over the demo clients.

Alerts are what arrives in bulk at an MSP, and they exercise the whole
pipeline: client resolution, inserts and a thread per occurrence. Each pair
of lines is one occurrence (raised, then resolved), so most threads fold in
one batch. Ids come from the seed and the count, so the same command loaded
twice gives duplicates and a different count adds a fresh set.

Lines are built with f-strings from JSON-safe pieces (account codes, device
and check names hold no quotes or backslashes) and written in chunks: a
million events take a few seconds, not minutes.
"""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from demo.alerts import CHECKS
from demo.portfolio import DEFAULT_SEED, DemoFile
from demo.roster import build_roster
from demo.world import stream

BULK_CONNECTOR = "rmm"
CHUNK_LINES = 20_000
HISTORY_SECONDS = 365 * 24 * 3600


def write_bulk_events(path: Path, count: int, today: date, seed: int = DEFAULT_SEED) -> DemoFile:
    """Write `count` alert events as NDJSON to `path`, spread over the last year."""
    rng = stream(seed, f"bulk-{count}")
    roster = build_roster(seed)
    targets = [(client.account, device) for client in roster for device in client.devices]
    checks = [(name, severity) for name, (severity, _) in sorted(CHECKS.items())]
    midnight = datetime.combine(today, time(0), UTC)
    start = midnight.timestamp() - HISTORY_SECONDS
    prefix = f"bulk-{seed}-{count}-"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        lines: list[str] = []
        for number in range(0, count, 2):
            account, device = targets[int(rng.random() * len(targets))]
            alertname, severity = checks[int(rng.random() * len(checks))]
            raised = start + int(rng.random() * (HISTORY_SECONDS - 6 * 3600))
            cleared = raised + 60 * (3 + int(rng.random() * 240))
            tail = (
                f'"account":"{account}","thread":"{prefix}{number}",'
                f'"attributes":{{"instance":"{device}","alertname":"{alertname}",'
                f'"severity":"{severity}"}}}}\n'
            )
            lines.append(
                f'{{"id":"{prefix}{number}","kind":"alert.raised",'
                f'"occurred_at":"{_iso(raised)}","title":"{alertname} on {device}",{tail}'
            )
            if number + 1 < count:
                lines.append(
                    f'{{"id":"{prefix}{number + 1}","kind":"alert.resolved",'
                    f'"occurred_at":"{_iso(cleared)}","title":"Resolved: {alertname} on '
                    f'{device}",{tail}'
                )
            if len(lines) >= CHUNK_LINES:
                out.write("".join(lines))
                lines.clear()
        out.write("".join(lines))
    return DemoFile(BULK_CONNECTOR, path)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _iso(timestamp: int | float) -> str:
    return (_EPOCH + timedelta(seconds=int(timestamp))).strftime("%Y-%m-%dT%H:%M:%S+00:00")
