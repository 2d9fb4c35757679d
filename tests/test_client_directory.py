"""The client directory: what each row says, the filters and the sort orders,
on a small portfolio whose events go in through the generic connectors."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.clients.directory import Amount, DirectoryFilters, client_directory
from crm.extensions import db
from crm.flags import FlagSettings
from crm.models import Group
from crm.money import parse_rates
from tests.factories import BASE_TIME, event, make_client, ndjson
from tests.helpers import ingest_file

NOW = BASE_TIME + timedelta(days=60)
DAY = 24  # hours, for event()


def _iso(hours: float) -> str:
    return (BASE_TIME + timedelta(hours=hours)).isoformat()


@pytest.fixture
def portfolio(runner, tmp_path):
    """Eight clients, each with one reason to be flagged or none.

    Times are hours after BASE_TIME; the directory is read at NOW (day 60).
    """
    make_client("acme-dental", name="Acme Dental", tier="key", account_manager="Ana Lima")
    make_client("bolt-legal", name="Bolt Legal", tier="standard", account_manager="Mark Hughes")
    make_client("cedar-logistics", name="Cedar Logistics", tier="problem")
    make_client("delta-hotels", name="Delta Hotels", tier="new", account_manager="Ana Lima")
    make_client("echo-architects", name="Echo Architects", tier="standard")
    make_client("fox-retail", name="Fox Retail", tier="standard")
    make_client("gamma-clinic", name="Gamma Clinic", tier="key")
    make_client("harbor-law", name="Harbor Law", tier="standard")
    dental = Group(kind="industry", name="Dental")
    legal = Group(kind="industry", name="Legal")
    clients = _by_slug()
    clients["acme-dental"].groups = [dental]
    clients["gamma-clinic"].groups = [dental]
    clients["bolt-legal"].groups = [legal]
    db.session.commit()

    due = _iso(30 * DAY)
    billing = [
        # acme: two overdue invoices in two currencies
        event("a1", "invoice.issued", 0, client="acme-dental", thread="in_a1", amount="500.00",
              currency="EUR", due_at=due),
        event("a2", "invoice.issued", 1, client="acme-dental", thread="in_a2", amount="100.00",
              currency="GBP", due_at=due),
        # bolt: one paid, one not yet due
        event("b1", "invoice.issued", 0, client="bolt-legal", thread="in_b1", amount="900.00",
              currency="EUR", due_at=due),
        event("b1p", "payment.received", 5 * DAY, client="bolt-legal", thread="in_b1",
              amount="900.00", currency="EUR"),
        event("b2", "invoice.issued", 50 * DAY, client="bolt-legal", thread="in_b2",
              amount="700.00", currency="EUR", due_at=_iso(80 * DAY)),
        # cedar: overdue after a failed payment, and a dispute
        event("c1", "invoice.issued", 0, client="cedar-logistics", thread="in_c1",
              amount="2000.00", currency="EUR", due_at=due),
        event("c1f", "payment.failed", 3 * DAY, client="cedar-logistics", thread="in_c1",
              amount="2000.00", currency="EUR"),
        event("c2", "dispute.opened", 10 * DAY, client="cedar-logistics", thread="dp_c2",
              amount="80.00", currency="EUR", status="needs_response"),
        # cedar: a payment that failed on an invoice not yet due
        event("c3", "invoice.issued", 50 * DAY, client="cedar-logistics", thread="in_c3",
              amount="300.00", currency="EUR", due_at=_iso(80 * DAY)),
        event("c3f", "payment.failed", 55 * DAY, client="cedar-logistics", thread="in_c3"),
    ]  # fmt: skip
    tickets = [
        # acme: a fresh ticket well within its SLA
        event("t-a", "ticket.opened", 59 * DAY, client="acme-dental", thread="T1",
              sla_due_at=_iso(62 * DAY)),
        # bolt: two open tickets, neither late
        event("t-b1", "ticket.opened", 58 * DAY, client="bolt-legal", thread="T2"),
        event("t-b2", "ticket.opened", 58 * DAY + 1, client="bolt-legal", thread="T3"),
        # bolt: an old one that was solved
        event("t-b3", "ticket.opened", 0, client="bolt-legal", thread="T4"),
        event("t-b3r", "ticket.resolved", 2, client="bolt-legal", thread="T4"),
        # fox: open for two months
        event("t-f", "ticket.opened", 0, client="fox-retail", thread="T5"),
        # harbor: opened yesterday, SLA passed
        event("t-h", "ticket.opened", 59 * DAY, client="harbor-law", thread="T6",
              priority="urgent", sla_due_at=_iso(59 * DAY + 4)),
    ]  # fmt: skip
    rmm = [
        # the severity is the alert's priority (as Alertmanager's connector has it)
        event("al-g", "alert.raised", 59 * DAY, client="gamma-clinic", thread="fp-g",
              priority="critical", attributes={"alertname": "HostUnreachable"}),
        event("al-a", "alert.raised", 59 * DAY, client="acme-dental", thread="fp-a",
              priority="warning", attributes={"alertname": "HighCPU"}),
        # an old critical alert of bolt's, cleared
        event("al-b", "alert.raised", 0, client="bolt-legal", thread="fp-b",
              priority="critical"),
        event("al-br", "alert.resolved", 1, client="bolt-legal", thread="fp-b"),
    ]  # fmt: skip
    # gamma's NAS fails its backup again and again: three times in the last 30
    # days (and once before), each occurrence a thread that cleared; its other
    # check fired twice only
    for n, (day, check) in enumerate(
        ((20, "BackupFailed"), (35, "BackupFailed"), (45, "BackupFailed"), (58, "BackupFailed"),
         (40, "HighCPU"), (50, "HighCPU"))
    ):  # fmt: skip
        device = {"instance": "GC-NAS01", "alertname": check}
        rmm.append(
            event(
                f"rec-{n}",
                "alert.raised",
                day * DAY,
                client="gamma-clinic",
                thread=f"fp-rec-{n}",
                priority="warning",
                attributes=device,
            )
        )
        rmm.append(event(f"rec-{n}r", "alert.resolved", day * DAY + 1, client="gamma-clinic",
                         thread=f"fp-rec-{n}"))  # fmt: skip
    sales = [
        event("r-a1", "renewal.due", 40 * DAY, client="acme-dental", thread="REN-A1",
              due_at=_iso(90 * DAY)),
        event("r-a2", "renewal.due", 41 * DAY, client="acme-dental", thread="REN-A2",
              due_at=_iso(75 * DAY)),
        event("r-a3", "renewal.due", 0, client="acme-dental", thread="REN-A3",
              due_at=_iso(20 * DAY)),
        event("r-a3r", "renewal.renewed", 15 * DAY, client="acme-dental", thread="REN-A3"),
        # dated at its renewal day, ten days from NOW: its only event is ahead
        event("r-a4", "renewal.due", 70 * DAY, client="acme-dental", thread="REN-A4",
              due_at=_iso(70 * DAY)),
    ]  # fmt: skip
    manual = [
        event("m-a", "note", 59.5 * DAY, client="acme-dental", title="Asked about backups"),
        event("m-e", "commitment.made", 5 * DAY, client="echo-architects", thread="CMT-1",
              title="Send the report", due_at=_iso(10 * DAY)),
        event("m-e2", "commitment.made", 5 * DAY, client="echo-architects", thread="CMT-2",
              title="Call back", due_at=_iso(70 * DAY)),
    ]  # fmt: skip
    for connector, records in (
        ("billing", billing),
        ("tickets", tickets),
        ("rmm", rmm),
        ("sales", sales),
        ("manual", manual),
    ):
        summary = ingest_file(runner, connector, ndjson(tmp_path / f"{connector}.ndjson", records))
        assert summary["accepted"] == len(records), summary
    return clients


def _by_slug():
    from crm.models import Client

    return {client.slug: client for client in db.session.scalars(select(Client))}


def _directory(rates=None, **filters):
    return client_directory(db.session, DirectoryFilters(**filters), now=NOW, rates=rates)


def _slugs(rates=None, **filters) -> list[str]:
    return [row.slug for row in _directory(rates, **filters).rows]


def test_each_row_says_what_needs_attention(portfolio):
    rows = {row.slug: row for row in _directory().rows}
    acme = rows["acme-dental"]
    assert (acme.name, acme.tier, acme.status) == ("Acme Dental", "key", "active")
    assert [(g.kind, g.name) for g in acme.groups] == [("industry", "Dental")]
    assert acme.open_tickets == 1 and acme.late_tickets == 0
    assert acme.overdue == [Amount("EUR", Decimal("500.00")), Amount("GBP", Decimal("100.00"))]
    assert acme.last_touch == BASE_TIME + timedelta(days=59.5)
    # the earliest open renewal, though its thread opens only on its day;
    # the renewed one no longer counts
    assert acme.next_renewal == BASE_TIME + timedelta(days=70)
    assert acme.flags == ["overdue invoice"]  # a warning alert is no flag

    cedar = rows["cedar-logistics"]
    # the invoice overdue after a failed payment is one flag: an overdue
    # invoice; the failed payment on the one not yet due is the other
    assert (cedar.open_disputes, cedar.overdue_invoices, cedar.failed_payments) == (1, 1, 1)
    assert cedar.overdue == [Amount("EUR", Decimal("2000.00"))]
    assert cedar.flags == ["open dispute", "failed payment", "overdue invoice"]

    bolt = rows["bolt-legal"]
    assert (bolt.open_tickets, bolt.overdue, bolt.flags) == (2, [], [])
    assert bolt.next_renewal is None

    assert rows["echo-architects"].overdue_commitments == 1
    assert rows["echo-architects"].flags == ["overdue commitment"]
    assert rows["fox-retail"].flags == ["late ticket"]
    assert rows["harbor-law"].flags == ["late ticket"]
    gamma = rows["gamma-clinic"]
    assert (gamma.critical_alerts, gamma.recurring_alerts) == (1, 1)
    assert gamma.flags == ["critical alert", "recurring alert"]
    delta = rows["delta-hotels"]
    assert (delta.last_touch, delta.open_tickets, delta.flags) == (None, 0, [])


def test_has_open_flags_keeps_exactly_the_flagged_clients(portfolio):
    flagged = {"acme-dental", "cedar-logistics", "echo-architects", "fox-retail"}
    flagged |= {"gamma-clinic", "harbor-law"}
    assert set(_slugs(flagged=True)) == flagged
    assert _slugs(flagged=False) == ["bolt-legal", "delta-hotels"]
    # read before the invoices fell due, acme owes nothing yet
    early = client_directory(db.session, DirectoryFilters(flagged=True), now=BASE_TIME)
    assert "acme-dental" not in {row.slug for row in early.rows}


def test_the_stale_ticket_days_are_a_setting(portfolio):
    def late(days: int) -> dict[str, int]:
        page = client_directory(
            db.session, DirectoryFilters(), now=NOW, settings=FlagSettings(stale_ticket_days=days)
        )
        return {row.slug: row.late_tickets for row in page.rows if row.late_tickets}

    # fox's ticket has been open 60 days; harbor's is past its SLA
    assert late(60) == {"fox-retail": 1, "harbor-law": 1}
    assert late(61) == {"harbor-law": 1}


def test_a_recurrence_is_three_occurrences_within_the_30_days(portfolio):
    def recurring(days: float) -> int:
        page = client_directory(
            db.session, DirectoryFilters(q="gamma"), now=BASE_TIME + timedelta(days=days)
        )
        return page.rows[0].recurring_alerts

    # on day 59 the occurrences of days 35, 45 and 58 count (and day 20's is
    # more than 30 days old); 30 days after day 35, its occurrence has left
    assert (recurring(59), recurring(64.9), recurring(65)) == (1, 1, 0)
    assert recurring(57) == 0  # day 58's has not happened yet


def test_sort_by_overdue_amount_converts_to_the_reporting_currency(portfolio):
    # acme owes EUR 500 + GBP 100, cedar EUR 2,000: at these (made-up) rates
    # acme's GBP is worth more than cedar's EUR, and acme comes first
    rates = parse_rates("USD", "EUR=1.10, GBP=30")
    assert _slugs(sort="overdue", rates=rates)[:2] == ["acme-dental", "cedar-logistics"]
    rates = parse_rates("USD", "EUR=1.10, GBP=1.30")
    assert _slugs(sort="overdue", rates=rates)[:2] == ["cedar-logistics", "acme-dental"]
    ascending = _slugs(sort="overdue", direction="asc", rates=rates)
    assert ascending[-2:] == ["acme-dental", "cedar-logistics"]
    # those owing nothing come in name order
    assert ascending[:6] == sorted(ascending[:6])


def test_sort_by_open_tickets_and_last_touch(portfolio):
    assert _slugs(sort="open_tickets")[:3] == ["bolt-legal", "acme-dental", "fox-retail"]
    by_touch = _slugs(sort="last_touch")
    assert by_touch[0] == "acme-dental"  # the note at day 59.5
    assert by_touch[-1] == "delta-hotels"  # never touched: last, newest first
    assert _slugs(sort="last_touch", direction="asc")[0] == "delta-hotels"
    assert _slugs(sort="name", direction="desc")[0] == "harbor-law"


def test_filters_by_name_tier_group_and_manager(portfolio):
    dental = db.session.scalar(select(Group).where(Group.name == "Dental"))
    assert _slugs(q="dent") == ["acme-dental"]
    assert _slugs(q="HARBOR") == ["harbor-law"]
    assert _slugs(q="fox-ret") == ["fox-retail"]  # the slug matches too
    assert _slugs(q="50%") == []  # LIKE wildcards are text
    assert _slugs(tiers=("key",)) == ["acme-dental", "gamma-clinic"]
    assert _slugs(tiers=("new", "problem")) == ["cedar-logistics", "delta-hotels"]
    assert _slugs(group=str(dental.id)) == ["acme-dental", "gamma-clinic"]
    assert _slugs(group="industry:legal") == ["bolt-legal"]
    assert _slugs(group="industry:Nothing") == []
    assert _slugs(account_manager="ana lima") == ["acme-dental", "delta-hotels"]
    assert _slugs(tiers=("key",), flagged=True, group="industry: Dental") == [
        "acme-dental",
        "gamma-clinic",
    ]


def test_pages(portfolio):
    first = _directory(per_page=3)
    assert (first.total, first.pages, first.has_next) == (8, 3, True)
    assert [row.slug for row in first.rows] == ["acme-dental", "bolt-legal", "cedar-logistics"]
    last = _directory(per_page=3, page=3)
    assert [row.slug for row in last.rows] == ["gamma-clinic", "harbor-law"]
    assert not last.has_next and last.has_previous
    beyond = _directory(per_page=3, page=9)
    assert (beyond.rows, beyond.total) == ([], 8)


def test_directory_page_lists_and_links_clients(app, client, portfolio, monkeypatch):
    # Read at NOW, as the other tests: acme's ticket passes its SLA on day 62.
    monkeypatch.setattr("crm.clients.views.utcnow", lambda: NOW)
    monkeypatch.setitem(app.config, "EXCHANGE_RATES", "EUR=1.10, GBP=1.30")
    page = client.get("/clients?flagged=true&sort=overdue").get_data(as_text=True)
    assert page.index("Cedar Logistics") < page.index("Acme Dental")
    assert 'href="/clients/acme-dental"' in page
    assert "Bolt Legal" not in page
    assert "EUR 2,000.00" in page and "GBP 100.00" in page
    assert "tier-problem" in page
    assert "1 overdue promise" in page
    assert 'title="overdue invoice"' in page
    assert 'aria-sort="descending"' in page
    # the header links keep the filters and turn the order around
    assert "flagged=true" in page and "direction=asc" in page


def test_directory_page_filters_from_the_query_string(client, portfolio):
    page = client.get("/clients?q=&tier=key&group=&account_manager=").get_data(as_text=True)
    assert "Acme Dental" in page and "Gamma Clinic" in page
    assert "Bolt Legal" not in page
    assert "2 clients" in page


def test_bad_filters_are_named_and_the_rest_still_apply(client, portfolio):
    response = client.get("/clients?tier=gold&q=acme")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "tier" in page and "Must be one of" in page
    assert "Acme Dental" in page and "Bolt Legal" not in page


def test_empty_directory_says_how_to_add_clients(client):
    page = client.get("/clients").get_data(as_text=True)
    assert "No clients yet" in page
    assert 'href="/clients/new"' in page
