"""Records that say when their object was opened or closed imply those moments.

The generic formats' `opened_at` and `closed_at` (docs/formats.md): an export
of a PSA's tickets gives each ticket once, as it stands, with the times it
was created and solved.
"""

import csv
import io

from sqlalchemy import select

from crm.models import Entity, Event, InboxRecord
from tests.factories import make_client
from tests.helpers import ingest_file

HEADER = ["id", "kind", "occurred_at", "client", "thread", "title", "opened_at", "closed_at"]


def write_csv(path, rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_text(buffer.getvalue())
    return path


def test_an_export_of_current_states_opens_and_closes_threads_at_their_own_times(
    runner, session, tmp_path
):
    acme = make_client("acme")
    export = write_csv(
        tmp_path / "tickets.csv",
        [
            # Still open: last touched in March, opened in January.
            ["T-1@3", "ticket.updated", "2026-03-10T10:00Z", "acme", "T-1", "VPN drops",
             "2026-01-05T08:00Z", ""],
            # Solved on 2 Feb, closed by the PSA's automation a week later.
            ["T-2@9", "ticket.resolved", "2026-02-09T00:00Z", "acme", "T-2", "New laptop",
             "2026-01-20T12:00Z", "2026-02-02T16:30Z"],
        ],
    )  # fmt: skip
    summary = ingest_file(runner, "tickets", export)
    assert summary["accepted"] == 2
    tickets = {t.key: t for t in session.scalars(select(Entity))}
    assert tickets["T-1"].opened_at.isoformat() == "2026-01-05T08:00:00+00:00"
    assert tickets["T-1"].is_open
    assert tickets["T-2"].opened_at.isoformat() == "2026-01-20T12:00:00+00:00"
    assert tickets["T-2"].closed_at.isoformat() == "2026-02-02T16:30:00+00:00"
    assert all(t.client_id == acme.id for t in tickets.values())
    timeline = session.execute(
        select(Event.external_id, Event.kind, Event.attributes).order_by(Event.occurred_at)
    ).all()
    assert [(external_id, kind) for external_id, kind, _ in timeline] == [
        ("T-1:opened", "ticket.opened"),
        ("T-2:opened", "ticket.opened"),
        ("T-2:closed", "ticket.resolved"),
        ("T-2@9", "ticket.resolved"),
        ("T-1@3", "ticket.updated"),
    ]
    implied_by = {external_id: a.get("implied_by") for external_id, _, a in timeline}
    assert implied_by["T-2:closed"] == "T-2@9"
    assert implied_by["T-1@3"] is None

    # The next export of the same tickets adds their changes, not a second opening.
    later = write_csv(
        tmp_path / "later.csv",
        [["T-1@4", "ticket.resolved", "2026-03-20T10:00Z", "acme", "T-1", "VPN drops",
          "2026-01-05T08:00Z", "2026-03-19T17:00Z"]],
    )  # fmt: skip
    assert ingest_file(runner, "tickets", later)["accepted"] == 1
    openings = session.scalars(select(Event).where(Event.thread_key == "T-1")).all()
    assert sorted(e.kind for e in openings) == [
        "ticket.opened",
        "ticket.resolved",
        "ticket.resolved",
        "ticket.updated",
    ]
    first = session.scalars(select(Entity).where(Entity.key == "T-1")).one()
    assert first.closed_at.isoformat() == "2026-03-19T17:00:00+00:00"


def test_times_that_cannot_be_read_as_a_threads_are_rejected_naming_them(runner, session, tmp_path):
    make_client("acme")
    export = write_csv(
        tmp_path / "bad.csv",
        [
            ["N-1", "ticket.updated", "2026-03-10T10:00Z", "acme", "", "No thread",
             "2026-01-05T08:00Z", ""],
            ["N-2", "ticket.updated", "2026-03-10T10:00Z", "acme", "T-9", "Not closing",
             "", "2026-03-01T00:00Z"],
            ["N-3", "ticket.updated", "2026-03-10T10:00Z", "acme", "T-9", "Bad time",
             "last Tuesday", ""],
        ],
    )  # fmt: skip
    assert ingest_file(runner, "tickets", export)["rejected"] == 3
    rows = {r.natural_key: (r.field, r.reason) for r in session.scalars(select(InboxRecord))}
    assert rows["tickets:N-1"][0] == "opened_at"
    assert rows["tickets:N-2"][0] == "closed_at"
    assert rows["tickets:N-3"] == ("opened_at", "opened_at is not an ISO 8601 date or time")
