"""Alerts in the generic `rmm` format: what an RMM export calls an alert's
severity, device and check is what the flags read (crm.flags): the thread's
priority, and the `instance` and `alertname` recurrence groups by."""

from datetime import UTC, datetime, timedelta

from crm.clients.directory import DirectoryFilters, client_directory
from tests.factories import make_client, ndjson
from tests.helpers import ingest_file

NOW = datetime(2026, 5, 20, 12, tzinfo=UTC)


def alert(id_: str, days_ago: float, **fields) -> dict:
    when = (NOW - timedelta(days=days_ago)).isoformat()
    return {"id": id_, "system": "ninja", "kind": "alert.raised", "occurred_at": when,
            "account": "HD-1001"} | fields  # fmt: skip


def test_severity_device_and_category_are_what_the_flags_read(runner, session, tmp_path):
    make_client("harbor-dental", identities=[("account", "HD-1001")])
    records = [
        alert("a1", 1, thread="FS01/raid", title="RAID degraded", severity="critical",
              device="HD-FS01", category="raid"),
        *(alert(f"b{n}", days, thread=f"DC01/backup/{n}", title="Backup job failed",
                severity="warning", device="HD-DC01", category="backup")
          for n, days in enumerate((20, 11, 2))),
    ]  # fmt: skip
    summary = ingest_file(runner, "rmm", ndjson(tmp_path / "rmm.ndjson", records))
    assert summary["accepted"] == 4
    [row] = client_directory(session, DirectoryFilters(), now=NOW).rows
    assert set(row.flags) >= {"critical alert", "recurring alert"}
    assert row.critical_alerts == 1


def test_a_priority_given_is_kept_over_the_severity(runner, session, tmp_path):
    make_client("harbor-dental", identities=[("account", "HD-1001")])
    record = alert("c1", 1, thread="FS01/disk", priority="low", severity="critical")
    ingest_file(runner, "rmm", ndjson(tmp_path / "rmm.ndjson", [record]))
    [row] = client_directory(session, DirectoryFilters(), now=NOW).rows
    assert row.critical_alerts == 0
