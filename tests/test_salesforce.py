"""The salesforce connector, against Opportunity exports in Salesforce's shapes.

The samples are hand-written (see fixtures/vendors/SOURCES.md): Salesforce
publishes no sample exports.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from crm.models import Entity, Event
from tests.factories import make_client
from tests.helpers import inbox_by_locator, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
DATALOADER = VENDORS / "salesforce_opportunities_dataloader.csv"
REPORT = VENDORS / "salesforce_opportunities_report.csv"
TREE = VENDORS / "salesforce_opportunities_sfdx_tree.json"
NORTHWIND, CONTOSO = "0015g00000Lm2QaAAJ", "0015g00000Pq9ZbAAJ"
HEADER = "Id,AccountId,Name,StageName,Amount,CloseDate,CurrencyIsoCode,LastModifiedDate\n"


def ingest(runner, path) -> dict:
    return ingest_file(runner, "salesforce", path)


def counts(summary: dict) -> tuple:
    return tuple(
        summary[name] for name in ("accepted", "duplicate", "skipped", "rejected", "unmatched")
    )


def clients():
    return (
        make_client("northwind", identities=[("salesforce", NORTHWIND)]),
        make_client("contoso", identities=[("salesforce", CONTOSO)]),
    )


def states(session) -> dict:
    rows = session.execute(
        select(
            Entity.type,
            Entity.key,
            Entity.status,
            Entity.closed_at,
            Entity.due_at,
            Entity.amount,
            Entity.currency,
            Entity.event_count,
        )
    ).all()
    return {
        (row.type, row.key): (
            row.status,
            row.closed_at is not None,
            naive(row.due_at),
            row.amount,
            row.currency,
            row.event_count,
        )
        for row in rows
    }


def timeline(session) -> list[tuple]:
    return session.execute(
        select(Event.external_id, Event.client_id, Event.kind, Event.amount).order_by(
            Event.external_id
        )
    ).all()


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def naive(value: datetime | None):
    """SQLite gives naive datetimes back, PostgreSQL aware ones."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def test_data_loader_export(runner, session):
    northwind, contoso = clients()
    assert counts(ingest(runner, DATALOADER)) == (4, 0, 0, 0, 0)

    events = {e.thread_key: e for e in session.scalars(select(Event))}
    firewall = events["0065g00000Qx7mPAAR"]
    assert firewall.kind == "quote.sent" and firewall.client_id == northwind.id
    assert firewall.external_id == "0065g00000Qx7mPAAR:Proposal/Price Quote:12800:2025-12-15"
    assert firewall.title == (
        "Opportunity Proposal/Price Quote: Northwind - Managed Firewall, 3 sites (EUR 12,800.00)"
    )
    assert firewall.detail.endswith("Includes 24x7 monitoring.")  # a multi-line cell
    assert naive(firewall.occurred_at) == datetime(2025, 11, 3, 14, 22, 10, tzinfo=UTC)
    assert (firewall.amount, firewall.currency) == (Decimal("12800"), "EUR")
    assert events["0065g00000Qx7mSAAR"].client_id == contoso.id

    assert states(session) == {
        ("deal", "0065g00000Qx7mPAAR"): (
            "Proposal/Price Quote", False, day("2025-12-15"), Decimal("12800"), "EUR", 1
        ),
        ("deal", "0065g00000Qx7mQAAR"): ("won", True, None, Decimal("4200"), "EUR", 1),
        ("deal", "0065g00000Qx7mRAAR"): ("lost", True, None, Decimal("23000"), "USD", 1),
        ("renewal", "0065g00000Qx7mSAAR"): (
            "due", False, day("2026-01-31"), Decimal("51000"), "USD", 1
        ),
    }  # fmt: skip


def test_report_export_with_labels_us_dates_and_footer(runner, session):
    northwind, contoso = clients()
    summary = counts(ingest(runner, REPORT))
    assert summary == (3, 0, 0, 0, 0)  # the footer lines are not records
    events = {e.title: e for e in session.scalars(select(Event))}
    security = events["Opportunity Qualification: Northwind - Endpoint Security (EUR 9,600.00)"]
    assert security.client_id == northwind.id  # a 15-character id, extended
    assert security.thread_key.startswith("nokey-")
    assert security.actor == "Sam Okafor"
    assert security.attributes["salesforce_fields"]["Fiscal Period"] == "Q4-2025"
    renewal = events["Renewal won: Contoso - Support Renewal 2025 (USD 18,000.00)"]
    assert renewal.kind == "renewal.renewed" and renewal.client_id == contoso.id
    assert naive(renewal.occurred_at) == day("2025-11-28")
    assert {s[0] for s in states(session).values()} == {"Qualification", "won", "renewed"}


def test_exports_without_ids_reimport_idempotently_across_shapes(runner, session):
    clients()
    ingest(runner, REPORT)
    rows, before = timeline(session), states(session)
    assert counts(ingest(runner, REPORT)) == (0, 3, 0, 0, 0)
    assert timeline(session) == rows and states(session) == before

    # The tree export names the same Endpoint Security opportunity (same
    # account, name and created day), now at a later stage: one thread.
    assert counts(ingest(runner, TREE)) == (2, 0, 0, 0, 0)
    security = [s for s in states(session).values() if s[-1] == 2]
    assert security == [
        ("Proposal/Price Quote", False, day("2025-12-19"), Decimal("9600"), "EUR", 2)
    ]
    assert counts(ingest(runner, TREE)) == (0, 2, 0, 0, 0)


def test_reverse_order_gives_the_same_states(runner, session, tmp_path):
    clients()
    history = tmp_path / "history.csv"
    rows = [
        "006000000000001AAA,{a},Firewall,Prospecting,1000,2025-12-01,EUR,2025-10-01T09:00:00Z",
        "006000000000001AAA,{a},Firewall,Negotiation/Review,1200,2025-12-01,EUR,2025-11-01T09:00:00Z",
        # Won with a close date set before the last open state was seen.
        "006000000000001AAA,{a},Firewall,Closed Won,1150,2025-10-15,EUR,2025-11-20T09:00:00Z",
    ]
    lines = [row.format(a=NORTHWIND) for row in rows]
    history.write_text(HEADER + "\n".join(lines) + "\n")
    assert counts(ingest(runner, history)) == (3, 0, 0, 0, 0)
    in_order = states(session)
    assert in_order[("deal", "006000000000001AAA")][0] == "won"
    assert in_order[("deal", "006000000000001AAA")][3:] == (Decimal("1150"), "EUR", 3)

    session.execute(Entity.__table__.delete())
    session.execute(Event.__table__.delete())
    session.commit()
    history.write_text(HEADER + "\n".join(lines[::-1]) + "\n")
    ingest(runner, history)
    assert states(session) == in_order


def test_unmatched_until_the_account_is_mapped_then_replayed(runner, session):
    northwind = make_client("northwind")
    assert counts(ingest(runner, TREE)) == (0, 0, 0, 0, 2)
    result = runner.invoke(args=["identities", "map", "salesforce", NORTHWIND, "northwind"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.scalars(select(Event.client_id)).all() == [northwind.id]
    statuses = sorted(row.status for row in inbox_by_locator(session).values())
    assert statuses == ["replayed", "unmatched"]  # Contoso still waits


def test_headers_in_any_case_and_dates_in_us_or_iso_form(runner, session, tmp_path):
    clients()
    path = tmp_path / "odd.csv"
    path.write_text(
        "opportunity id,ACCOUNT_ID,opportunity_name,Stage Name,AMOUNT,close date\n"
        f'006000000000002,{NORTHWIND},A,Closed Lost,"EUR 1,200.50",1/2/2026\n'
        f"006000000000003,{NORTHWIND},B,Prospecting,10,2026-01-02\n"
        f"006000000000004,{NORTHWIND},C,Prospecting,10,02.01.2026\n"
        f"006000000000005,{NORTHWIND},D,Prospecting,ten,2026-01-02\n"
        f",{NORTHWIND},E,Prospecting,10,\n"
        f"006000000000006,,F,Prospecting,10,2026-01-02\n"
    )
    assert counts(ingest(runner, path)) == (2, 0, 0, 4, 0)
    lost = session.scalars(select(Event).where(Event.kind == "deal.lost")).one()
    assert (lost.amount, lost.currency) == (Decimal("1200.50"), "EUR")
    assert naive(lost.occurred_at) == day("2026-01-02")
    assert lost.thread_key == "006000000000002AAA"
    rows = inbox_by_locator(session)
    assert (rows["line 4"].field, rows["line 5"].field) == ("CloseDate", "Amount")
    assert "02.01.2026" in rows["line 4"].reason
    assert (rows["line 6"].field, rows["line 7"].field) == ("CloseDate", "AccountId")


def test_currency_assumed_from_the_setting_and_flags_beat_stage_names(
    app, runner, session, tmp_path
):
    clients()
    app.config["TOUCHLINE_SALESFORCE_CURRENCY"] = "gbp"
    path = tmp_path / "flags.json"
    base = {"AccountId": NORTHWIND, "Amount": 500, "CloseDate": "2025-12-01", "Name": "X"}
    won, still_open = {"IsWon": True, "IsClosed": True}, {"IsWon": "false", "IsClosed": "0"}
    records = [
        base | won | {"Id": "006000000000007", "StageName": "Signed"},
        base | still_open | {"Id": "006000000000008", "StageName": "Closed Won"},
        {"attributes": {"type": "Account", "referenceId": "AccountRef1"}, "Name": "Acme"},
    ]
    path.write_text(json.dumps(records))
    assert counts(ingest(runner, path)) == (2, 0, 1, 0, 0)
    events = {e.thread_key: e for e in session.scalars(select(Event))}
    signed = events["006000000000007AAA"]
    assert signed.kind == "deal.won" and signed.currency == "GBP"
    assert signed.attributes["currency_assumed"] is True
    assert events["006000000000008AAA"].kind == "quote.sent"
    skipped = next(r for r in inbox_by_locator(session).values() if r.status == "skipped")
    assert "Account" in skipped.reason
