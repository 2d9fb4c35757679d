"""The salesforce connector, against Opportunity exports in Salesforce's shapes.

The Data Loader, report and first tree samples are hand-written (see
fixtures/vendors/SOURCES.md); the REST query response is a recorded one, and
the CLI's own tree exports are tested in test_salesforce_export.py.
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
REST = VENDORS / "salesforce_rest_query_opportunities.json"
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


def opened(session) -> dict:
    """Each thread's (opened, closed) times, naive-safe."""
    rows = session.execute(select(Entity.key, Entity.opened_at, Entity.closed_at)).all()
    return {row.key: (naive(row.opened_at), naive(row.closed_at)) for row in rows}


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

    # Each state, and the opening it implies at CreatedDate.
    assert states(session) == {
        ("deal", "0065g00000Qx7mPAAR"): (
            "Proposal/Price Quote", False, day("2025-12-15"), Decimal("12800"), "EUR", 2
        ),
        ("deal", "0065g00000Qx7mQAAR"): ("won", True, None, Decimal("4200"), "EUR", 2),
        ("deal", "0065g00000Qx7mRAAR"): ("lost", True, None, Decimal("23000"), "USD", 2),
        ("renewal", "0065g00000Qx7mSAAR"): (
            "due", False, day("2026-01-31"), Decimal("51000"), "USD", 2
        ),
    }  # fmt: skip
    times = opened(session)
    assert times["0065g00000Qx7mPAAR"] == (datetime(2025, 10, 1, 9, 12, 44, tzinfo=UTC), None)
    assert times["0065g00000Qx7mQAAR"] == (
        datetime(2025, 9, 2, 11, 0, 5, tzinfo=UTC),
        datetime(2025, 10, 20, 16, 45, 31, tzinfo=UTC),  # LastModifiedDate, after CloseDate
    )
    assert times["0065g00000Qx7mSAAR"][0] == datetime(2025, 10, 15, 13, 20, tzinfo=UTC)
    opening = session.scalars(
        select(Event).where(Event.external_id == "0065g00000Qx7mQAAR:created")
    ).one()
    assert opening.kind == "quote.sent" and opening.title.startswith("Opportunity created:")
    assert opening.attributes["implied_by"] == "0065g00000Qx7mQAAR:Closed Won:4200:2025-10-20"


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
    # First seen renewed, the renewal still opened when it was created.
    assert opened(session)[renewal.thread_key] == (day("2025-09-15"), day("2025-11-28"))
    opening = session.scalars(select(Event).where(Event.external_id.endswith(":created")))
    kinds = {e.thread_key: e.kind for e in opening}
    assert kinds[renewal.thread_key] == "renewal.due"


def test_exports_without_ids_reimport_idempotently_across_shapes(runner, session):
    clients()
    ingest(runner, REPORT)
    rows, before = timeline(session), states(session)
    assert counts(ingest(runner, REPORT)) == (0, 3, 0, 0, 0)
    assert timeline(session) == rows and states(session) == before

    # The tree export names the same Endpoint Security opportunity (same
    # account, name and created day), now at a later stage: one thread, one
    # opening (the tree's CreatedDate has a time, the report's only a day:
    # the opening is one moment whatever its precision), and the later state.
    security = next(e.thread_key for e in session.scalars(select(Event)) if "Endpoint" in e.title)
    assert counts(ingest(runner, TREE)) == (2, 0, 0, 0, 0)
    assert states(session)[("deal", security)] == (
        "Proposal/Price Quote", False, day("2025-12-19"), Decimal("9600"), "EUR", 3
    )  # fmt: skip
    assert opened(session)[security] == (day("2025-10-06"), None)
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
    assert set(session.scalars(select(Event.client_id))) == {northwind.id}
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
    # E has no close date: an open opportunity without a due date.
    assert counts(ingest(runner, path)) == (3, 0, 0, 3, 0)
    undated = session.scalars(select(Entity).where(Entity.title.contains(": E"))).one()
    assert undated.status == "Prospecting" and undated.due_at is None
    lost = session.scalars(select(Event).where(Event.kind == "deal.lost")).one()
    assert (lost.amount, lost.currency) == (Decimal("1200.50"), "EUR")
    assert naive(lost.occurred_at) == day("2026-01-02")
    assert lost.thread_key == "006000000000002AAA"
    rows = inbox_by_locator(session)
    assert (rows["line 4"].field, rows["line 5"].field) == ("CloseDate", "Amount")
    assert "02.01.2026" in rows["line 4"].reason
    assert rows["line 7"].field == "AccountId"


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
        {"attributes": {"type": "Contact", "referenceId": "ContactRef1"}, "LastName": "Lima"},
    ]
    path.write_text(json.dumps(records))
    assert counts(ingest(runner, path)) == (2, 0, 1, 0, 0)
    events = {e.thread_key: e for e in session.scalars(select(Event))}
    signed = events["006000000000007AAA"]
    assert signed.kind == "deal.won" and signed.currency == "GBP"
    assert signed.attributes["currency_assumed"] is True
    assert events["006000000000008AAA"].kind == "quote.sent"
    skipped = next(r for r in inbox_by_locator(session).values() if r.status == "skipped")
    assert "Contact records are not mapped" in skipped.reason


# --- when things happened --------------------------------------------------------


def test_a_recorded_rest_response_opens_each_deal_when_it_was_created(runner, session):
    """Salesforce's sample opportunities as the REST query API returned them
    (2014): the account is named by its parent's url, every deal was created
    on 2013-12-20, most are already won when we first see them."""
    edge = make_client("edge", identities=[("salesforce", "001i000000XSd1FAAT")])
    before = datetime.now(UTC)
    summary = counts(ingest(runner, REST))
    after = datetime.now(UTC)
    assert summary == (4, 0, 0, 0, 27)  # Edge Communications' four; the rest wait

    created = datetime(2013, 12, 20, 4, 13, 7, tzinfo=UTC)
    events = session.scalars(select(Event).order_by(Event.occurred_at, Event.external_id)).all()
    assert {event.client_id for event in events} == {edge.id}
    by_thread = {}
    for event in events:
        by_thread.setdefault(event.thread_key, []).append(event)
    won = [e.kind for e in by_thread["006i000000EtpkyAAB"]]
    assert won == ["quote.sent", "deal.won"]  # the opening it implies, then the win
    assert by_thread["006i000000EtpkyAAB"][0].actor == "Paula Gates"
    assert opened(session)["006i000000EtpkyAAB"] == (created, day("2014-08-15"))

    # Still open: created in 2013, its state (no LastModifiedDate) as of now.
    opening, state = by_thread["006i000000EtplCAAR"]
    assert naive(opening.occurred_at) == created and opening.external_id.endswith(":created")
    assert before <= naive(state.occurred_at) <= after
    assert states(session)[("deal", "006i000000EtplCAAR")][:3] == (
        "Id. Decision Makers", False, day("2014-06-30")
    )  # fmt: skip
    # Again: what went in and what waits are both duplicates.
    assert counts(ingest(runner, REST)) == (0, 31, 0, 0, 0)


def test_an_open_state_without_dates_is_dated_when_received_never_at_its_close_date(
    runner, session, tmp_path
):
    """A quote or renewal closing years ahead, exported without CreatedDate or
    LastModifiedDate, happens when received; its close date is its due date.
    A deal already won with its close date ahead was won by then too."""
    clients()
    path = tmp_path / "ahead.csv"
    path.write_text(
        "Id,AccountId,Name,StageName,Amount,CloseDate,CurrencyIsoCode,Type\n"
        f"006000000000011,{NORTHWIND},Firewall,Proposal/Price Quote,900,2099-03-01,EUR,\n"
        f"006000000000012,{NORTHWIND},Support 2099,Negotiation/Review,5000,2099-06-30,EUR,Renewal\n"
        f"006000000000013,{NORTHWIND},Backup,Closed Won,400,2099-01-15,EUR,\n"
    )
    before = datetime.now(UTC)
    assert counts(ingest(runner, path)) == (3, 0, 0, 0, 0)
    after = datetime.now(UTC)
    events = {e.thread_key: e for e in session.scalars(select(Event))}
    assert all(before <= naive(event.occurred_at) <= after for event in events.values())
    assert [events[f"00600000000001{n}AAA"].kind for n in (1, 2, 3)] == [
        "quote.sent", "renewal.due", "deal.won"
    ]  # fmt: skip
    found = states(session)
    assert found[("deal", "006000000000011AAA")][:3] == (
        "Proposal/Price Quote", False, day("2099-03-01")
    )  # fmt: skip
    assert found[("renewal", "006000000000012AAA")][:3] == ("due", False, day("2099-06-30"))
    assert found[("deal", "006000000000013AAA")][:2] == ("won", True)

    # The same export again is a duplicate: each state keeps the time it was first seen.
    times = opened(session)
    assert counts(ingest(runner, path)) == (0, 3, 0, 0, 0)
    assert opened(session) == times


def test_a_state_exported_before_any_change_is_the_opening_itself(runner, session, tmp_path):
    """LastModifiedDate equal to CreatedDate: the opportunity as created. A
    later export implies that same opening, so the thread has it once, in
    either order of import."""
    clients()
    header = HEADER.rstrip("\n") + ",CreatedDate\n"
    created = "2025-09-01T08:00:00Z"
    row = "006000000000021AAA,{a},Firewall,{stage},1000,2025-12-01,EUR,{modified},{created}"
    first = row.format(a=NORTHWIND, stage="Prospecting", modified=created, created=created)
    later = row.format(
        a=NORTHWIND, stage="Negotiation/Review", modified="2025-10-01T08:00:00Z", created=created
    )
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    one.write_text(header + first + "\n")
    two.write_text(header + later + "\n")

    assert counts(ingest(runner, one)) == (1, 0, 0, 0, 0)
    assert session.scalars(select(Event.external_id)).all() == ["006000000000021AAA:created"]
    assert counts(ingest(runner, two)) == (1, 0, 0, 0, 0)
    title = select(Event.title).where(Event.external_id.endswith(":created"))
    assert session.scalars(title).one().startswith("Opportunity Prospecting")
    in_order = states(session), opened(session)
    assert in_order[0][("deal", "006000000000021AAA")][0] == "Negotiation/Review"
    assert in_order[0][("deal", "006000000000021AAA")][-1] == 2

    session.execute(Entity.__table__.delete())
    session.execute(Event.__table__.delete())
    session.commit()
    assert counts(ingest(runner, two)) == (1, 0, 0, 0, 0)
    assert counts(ingest(runner, one)) == (0, 1, 0, 0, 0)  # the opening `two` implied
    assert (states(session), opened(session)) == in_order


# --- fields that are missing or extra --------------------------------------------


def test_a_missing_field_rejects_only_when_nothing_can_stand_in(runner, session, tmp_path):
    clients()
    base = {"AccountId": NORTHWIND, "Name": "X", "Amount": 10, "CurrencyIsoCode": "EUR"}
    records = [
        # No stage: the flags say won.
        base
        | {"Id": "006000000000031", "IsClosed": True, "IsWon": True, "CloseDate": "2025-05-01"},
        # No stage and no flags: nothing says whether it is open or won.
        base | {"Id": "006000000000032", "CloseDate": "2025-05-01"},
        # Closed without a close date: LastModifiedDate dates it.
        base
        | {
            "Id": "006000000000033",
            "StageName": "Closed Lost",
            "LastModifiedDate": "2025-06-02T10:00:00.000+0000",
        },
        # Closed with neither: nothing says when.
        base | {"Id": "006000000000034", "StageName": "Closed Lost"},
        # Fields and parents we do not read, and a child list, never reject.
        base
        | {
            "Id": "006000000000035",
            "StageName": "Prospecting",
            "CloseDate": "2025-07-01",
            "Owner": {"attributes": {"type": "User"}, "Name": "Sam Okafor"},
            "Pricebook2": {"attributes": {"type": "Pricebook2"}, "Name": "Standard"},
            "Margin__c": 0.31,
            "OpportunityLineItems": {
                "records": [{"attributes": {"type": "OpportunityLineItem"}, "Quantity": 3}]
            },
        },
    ]
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(records))
    assert counts(ingest(runner, path)) == (3, 0, 1, 2, 0)
    rows = inbox_by_locator(session)
    assert (rows["index 1"].field, rows["index 3"].field) == ("StageName", "CloseDate")
    assert "without LastModifiedDate" in rows["index 3"].reason
    child = rows["index 4.OpportunityLineItems[0]"]
    assert "OpportunityLineItem records are not mapped" in child.reason
    events = {e.thread_key: e for e in session.scalars(select(Event))}
    assert events["006000000000031AAA"].kind == "deal.won"
    lost = events["006000000000033AAA"]
    assert naive(lost.occurred_at) == datetime(2025, 6, 2, 10, tzinfo=UTC)
    extra = events["006000000000035AAA"]
    assert extra.actor == "Sam Okafor"
    assert extra.attributes["salesforce_fields"]["Margin__c"] == "0.31"  # exact, as text
    assert "OpportunityLineItems" not in extra.attributes["salesforce_fields"]
