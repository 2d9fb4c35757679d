"""The daily counts per kind (crm.day_counts) stay what the events recounted
say, whichever door wrote them, and the events between any two moments read
through them are what the events alone give."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm import day_counts
from crm.day_counts import Cut, between, kinds_at, recounted
from crm.extensions import db
from crm.models import Client, DayCount
from tests.factories import event, make_client, ndjson, stored_event
from tests.helpers import ingest_file
from tests.helpers import rebuilt as recomputed


def cached(session) -> list[tuple]:
    rows = session.execute(
        select(DayCount.client_id, DayCount.day, DayCount.kind, DayCount.events).order_by(
            DayCount.client_id, DayCount.day, DayCount.kind
        )
    ).all()
    return [tuple(row) for row in rows]


def rebuilt(session) -> list[tuple]:
    return recomputed(session, cached, day_counts.rebuild)


LATE = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
EARLY = datetime(2026, 11, 1, 0, 15, tzinfo=UTC)


def test_the_cache_equals_the_events_after_ingest_replay_and_delete(runner, session, tmp_path):
    acme = make_client("acme", identities=[("account", "AC-1")])
    other = make_client("other", identities=[("account", "OT-1")])

    def record(account, n, kind, at):
        return event(f"{account}-{n}", kind, 0, account=account) | {"occurred_at": at.isoformat()}

    records = [
        record("AC-1", 1, "ticket.opened", LATE),
        record("AC-1", 2, "ticket.opened", LATE),
        record("AC-1", 3, "ticket.opened", EARLY),
        record("OT-1", 1, "ticket.opened", EARLY),
        record("NEW-9", 1, "ticket.opened", LATE),
    ]
    path = ndjson(tmp_path / "tickets.ndjson", records)
    assert ingest_file(runner, "tickets", path)["accepted"] == 4
    assert cached(session) == rebuilt(session)
    assert (acme.id, LATE.date(), "ticket.opened", 2) in cached(session)
    assert ingest_file(runner, "tickets", path)["accepted"] == 0  # duplicates add nothing
    assert cached(session) == rebuilt(session)

    # The unmatched record replayed once its account is mapped.
    result = runner.invoke(args=["identities", "map", "account", "NEW-9", "other"])
    assert result.exit_code == 0 and "1 accepted" in result.output, result.output
    assert (other.id, LATE.date(), "ticket.opened", 1) in cached(session)
    assert cached(session) == rebuilt(session)

    # An event written through the ORM (as touches and tests write them).
    stored_event(acme, "ticket.opened", EARLY + timedelta(days=3))
    db.session.commit()
    assert cached(session) == rebuilt(session)

    # A client deleted takes its events and their days with it.
    db.session.delete(db.session.get(Client, other.id))
    db.session.commit()
    assert {row[0] for row in cached(session)} == {acme.id}
    assert cached(session) == rebuilt(session)


START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (timedelta(days=3), timedelta(days=12)),  # midnights: no hours of the events
        (timedelta(days=3, hours=2), timedelta(days=12, hours=21)),  # near a midnight
        (timedelta(days=3, hours=14), timedelta(days=12, hours=9)),  # near the next one
        (timedelta(days=5, hours=5), timedelta(days=5, hours=7)),  # within one day
        (timedelta(days=5, hours=7), timedelta(days=5, hours=7)),  # nothing, or what is at it
    ],
)
@pytest.mark.parametrize("through", [(False, False), (True, True), (False, True)])
def test_between_two_moments_through_the_cache_is_the_events_count(session, first, last, through):
    client, other = make_client("counted"), make_client("beside")
    moment, n = START, 0
    while moment < START + timedelta(days=14):
        n += 1
        kind = ("ticket.opened", "alert.raised", "invoice.issued")[n % 3]
        stored_event(client, kind, moment)
        if n % 6 == 0:
            stored_event(other, "ticket.opened", moment)
        moment += timedelta(hours=1)  # one at each cut: its side matters
    db.session.flush()
    start, end = Cut(START + first, through[0]), Cut(START + last, through[1])
    counted = kinds_at(session, client.id, [start, end])
    expected = recounted(session, client.id, start, end)
    assert between(counted, start, end) == expected
    if last - first > timedelta(hours=3):
        assert sum(expected.values()) > 3
