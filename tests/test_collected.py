"""The monthly cache of collected revenue (crm.collected) stays what the rule
recomputed from the events says, whichever door wrote them, and a period
read through it gives what the events alone give."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm import collected
from crm.extensions import db
from crm.models import Client, CollectedMonth
from tests.factories import event, make_client, ndjson, stored_event
from tests.helpers import ingest_file
from tests.helpers import rebuilt as recomputed


def cached(session) -> list[tuple]:
    rows = session.execute(
        select(
            CollectedMonth.client_id,
            CollectedMonth.month,
            CollectedMonth.currency,
            CollectedMonth.amount,
            CollectedMonth.events,
        ).order_by(CollectedMonth.client_id, CollectedMonth.month, CollectedMonth.currency)
    ).all()
    return [tuple(row) for row in rows]


def rebuilt(session) -> list[tuple]:
    return recomputed(session, cached, collected.rebuild)


def money(account: str, n: int, kind: str, day: datetime, amount: str, currency="EUR") -> dict:
    return event(f"{account}-{n}", kind, 0, account=account, amount=amount, currency=currency) | {
        "occurred_at": day.isoformat()
    }


OCT = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
NOV = datetime(2026, 11, 1, 0, 15, tzinfo=UTC)


def test_the_cache_equals_the_events_after_ingest_replay_and_delete(runner, session, tmp_path):
    acme = make_client("acme", identities=[("account", "AC-1")])
    other = make_client("other", identities=[("account", "OT-1")])
    records = [
        money("AC-1", 1, "payment.received", OCT, "100.25"),
        money("AC-1", 2, "refund.issued", OCT, "0.25"),
        money("AC-1", 3, "payment.received", NOV, "40"),
        money("AC-1", 4, "payment.received", NOV, "7", currency="USD"),
        money("AC-1", 5, "invoice.issued", NOV, "999"),
        money("OT-1", 1, "payment.received", NOV, "5"),
        money("OT-1", 2, "refund.issued", NOV, "5"),
        money("NEW-9", 1, "payment.received", OCT, "30"),
    ]
    path = ndjson(tmp_path / "billing.ndjson", records)
    first = ingest_file(runner, "billing", path)
    assert (first["accepted"], first["unmatched"]) == (7, 1)
    assert cached(session) == rebuilt(session)
    assert (acme.id, date(2026, 10, 1), "EUR", Decimal(100), 2) in cached(session)
    # A payment and its refund: money moved, netting to nothing.
    assert (other.id, date(2026, 11, 1), "EUR", Decimal(0), 2) in cached(session)

    # The same file again: duplicates add nothing.
    assert ingest_file(runner, "billing", path)["accepted"] == 0
    assert cached(session) == rebuilt(session)

    # The unmatched record replayed once its account is mapped.
    result = runner.invoke(args=["identities", "map", "account", "NEW-9", "other"])
    assert result.exit_code == 0 and "1 accepted" in result.output, result.output
    assert (other.id, date(2026, 10, 1), "EUR", Decimal(30), 1) in cached(session)
    assert cached(session) == rebuilt(session)

    # An event written through the ORM (as touches and tests write them).
    stored_event(acme, "refund.issued", NOV + timedelta(days=3), amount=Decimal("2.5"))
    db.session.commit()
    assert (acme.id, date(2026, 11, 1), "XXX", Decimal("-2.5"), 1) in cached(session)
    assert cached(session) == rebuilt(session)

    # A client deleted takes its events and their months with it.
    db.session.delete(db.session.get(Client, other.id))
    db.session.commit()
    assert {row[0] for row in cached(session)} == {acme.id}
    assert cached(session) == rebuilt(session)


def test_the_rule_counts_payments_less_refunds_with_an_amount():
    assert collected.signed("payment.received", Decimal("3")) == Decimal("3")
    assert collected.signed("refund.issued", Decimal("3")) == Decimal("-3")
    assert collected.signed("payment.received", None) is None
    assert collected.signed("invoice.issued", Decimal("3")) is None


def moment(day: str, hour: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("starts", "ends"),
    [
        ("2026-01-01", "2027-01-01"),  # whole months only
        ("2025-12-07", "2026-12-07"),  # partial months at both ends
        ("2026-03-01", "2026-07-19"),  # partial last month
        ("2026-03-14", "2026-07-01"),  # partial first month
        ("2026-05-03", "2026-05-29"),  # inside one month
        ("2026-05-31", "2026-06-02"),  # across one month's end, no whole month
        ("2026-06-01", "2026-06-01"),  # nothing
    ],
)
def test_a_period_read_through_the_cache_is_the_events_sum(session, starts, ends):
    clients = [make_client(f"c{n}") for n in range(3)]
    day = moment("2025-11-20", 13)
    n = 0
    while day < moment("2027-01-10"):
        for position, client in enumerate(clients):
            n += 1
            kind = "refund.issued" if n % 7 == 0 else "payment.received"
            currency = (None, "EUR", "USD")[(n + position) % 3]
            amount = Decimal(n % 50) + Decimal("0.0125")
            stored_event(client, kind, day, amount=amount, currency=currency)
        day += timedelta(days=3, hours=5)
    stored_event(clients[0], "payment.received", moment("2026-06-01"))  # no amount
    db.session.flush()
    start, end = moment(starts), moment(ends)
    expected = collected.recomputed(session, start, end)
    assert collected.collected_in(session, start, end) == expected
    if starts != ends:
        assert expected
