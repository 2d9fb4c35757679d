"""Suggested tiers calibrated on the portfolio (reports.portfolio.tiers): the top
decile by revenue in the reporting currency, the top decile by tickets, each
with the figure and the cut-off that made it."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd

from crm.extensions import db
from crm.money import Rates
from reports.portfolio.frames import CLIENT_COLUMNS, REVENUE_COLUMNS, TICKET_COLUMNS
from reports.portfolio.period import Period
from reports.portfolio.tiers import suggest_tiers, top_cutoff
from tests.factories import make_client, stored_event

YEAR = {"from": "2025-07-01", "to": "2026-06-30"}
LONG_AGO = date(2020, 1, 1)
PAID_AT = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)


def test_the_cutoff_is_the_figure_of_the_client_at_the_decile_rank():
    assert top_cutoff(list(range(1, 31))) == 28  # 30 clients: the top 3
    assert top_cutoff(list(range(1, 12))) == 10  # 11 clients: the top 2 (rounded up)
    assert top_cutoff([0, 0, 0, 5]) == 5  # only positive figures rank
    assert top_cutoff([0, 0]) is None
    assert top_cutoff([7], population=40) == 7  # fewer contributors than the rank
    # ties across the boundary are left out: never more than the share
    assert top_cutoff([9, 5, 5, 5] + [0] * 16) == 9  # 20 clients: the top 2
    assert top_cutoff([1] * 20) is None


def frames(rows):
    """rows: (client_id, tier, customer_since, [(currency, amount)], tickets)."""
    clients = pd.DataFrame(
        [(i, f"c{i}", f"C{i}", tier, since, "UTC", "en", None) for i, tier, since, _, _ in rows],
        columns=list(CLIENT_COLUMNS),
    )
    revenue = pd.DataFrame(
        [(i, code, Decimal(amount)) for i, _, _, paid, _ in rows for code, amount in paid],
        columns=list(REVENUE_COLUMNS),
    )
    tickets = pd.DataFrame(
        [(i, count) for i, _, _, _, count in rows if count], columns=list(TICKET_COLUMNS)
    )
    return clients, revenue, tickets


def test_demotions_new_clients_and_money_without_a_rate():
    end = date(2026, 6, 30)
    period = Period(date(2026, 1, 1), end)
    rows = [(i, "standard", LONG_AGO, [("USD", 100 * i)], 1) for i in range(1, 9)]
    rows += [
        (9, "key", LONG_AGO, [("USD", 50)], 0),  # key, below the median client
        (10, "problem", LONG_AGO, [("USD", 500)], 0),  # problem with no tickets
        (11, "new", end - timedelta(days=120), [], 0),
        (12, "standard", end - timedelta(days=10), [("USD", 99999)], 50),  # too new to judge
        (13, "standard", LONG_AGO, [("JPY", 900000)], 0),  # no rate: cannot rank
    ]
    table = suggest_tiers(*frames(rows), Rates("USD"), period).set_index("client_id")
    # the top decile of 13 clients is 2: client 12 (new) and client 8
    assert table.loc[12, "suggested_tier"] == "new"
    assert table.loc[12, "reason"] == "a customer for 10 days (new under 90)"
    assert table.loc[8, "suggested_tier"] == "key"
    assert table.loc[8, "reason"] == (
        "revenue USD 800.00 from 01 Jan 2026 to 30 Jun 2026, top 10% of clients "
        "(cut-off USD 800.00)"
    )
    assert table.loc[7, "suggested_tier"] == "standard"
    assert table.loc[9, "suggested_tier"] == "standard"
    assert table.loc[9, "reason"] == (
        "revenue USD 50.00 from 01 Jan 2026 to 30 Jun 2026, below the median client "
        "(median USD 400.00)"
    )
    assert table.loc[10, "suggested_tier"] == "standard"
    assert table.loc[11, "suggested_tier"] == "standard"
    assert table.loc[11, "reason"] == "a customer for 120 days, no longer new"
    assert table.loc[13, "suggested_tier"] == "standard"
    assert "not counting JPY 900,000.00: no exchange rate" in table.loc[13, "reason"]
    assert table.loc[13, "revenue_total"] == Decimal("0.00")


def test_a_flat_portfolio_moves_only_its_top_deciles(app, client, monkeypatch):
    """30 standard clients whose revenue is spread evenly: the 80/20 revenue
    circle holds most of them (the old rule made all of those "key"); the
    calibrated rule suggests the top three by revenue, in USD, and the top
    three by tickets."""
    monkeypatch.setitem(app.config, "EXCHANGE_RATES", "BRL=0.20")
    made = {
        n: make_client(f"c{n:02d}", tier="standard", customer_since=LONG_AGO) for n in range(1, 31)
    }
    for n in range(1, 28):
        stored_event(made[n], "payment.received", PAID_AT, amount=Decimal(1000 * n), currency="USD")
    # BRL 200,000 is USD 40,000, the most; BRL 100,000 is USD 20,000, outside the decile
    stored_event(made[28], "payment.received", PAID_AT, amount=Decimal(200000), currency="BRL")
    stored_event(made[29], "payment.received", PAID_AT, amount=Decimal(100000), currency="BRL")
    for n, count in ((30, 10), (1, 5), (2, 3), (3, 1), (4, 1)):
        for number in range(count):
            stored_event(made[n], "ticket.opened", PAID_AT, thread=f"T-{n}-{number}")
    db.session.commit()

    report = client.get("/api/v1/reports/portfolio", query_string=YEAR).get_json()
    usd_circle = next(c for c in report["revenue"] if c["currency"] == "USD")
    assert usd_circle["size"] >= 15  # what "key: in the revenue circle" moved

    changes = {row["slug"]: row for row in report["tier_changes"]}
    assert {slug: row["suggested_tier"] for slug, row in changes.items()} == {
        "c28": "key",
        "c27": "key",
        "c26": "key",
        "c30": "problem",
        "c01": "problem",
        "c02": "problem",
    }
    assert changes["c28"]["reason"] == (
        "revenue USD 40,000.00 in the last 12 months, top 10% of clients (cut-off USD 26,000.00)"
    )
    assert changes["c02"]["reason"] == (
        "3 tickets opened in the last 12 months, top 10% of clients (cut-off 3)"
    )
    figures = {row["slug"]: row for row in report["clients"]}
    assert figures["c29"]["suggested_tier"] == "standard"  # 100,000 in BRL is not the most
    assert figures["c29"]["revenue_total"] == "20000.00"
    assert figures["c29"]["reporting_currency"] == "USD"

    page = client.get("/reports/portfolio", query_string=YEAR).get_data(as_text=True)
    assert "top 10% of clients (cut-off USD 26,000.00)" in page

    download = client.get("/reports/portfolio.csv", query_string=YEAR).get_data(as_text=True)
    rows = {row["slug"]: row for row in csv.DictReader(io.StringIO(download))}
    assert rows["c29"]["reporting_currency"] == "USD"
    assert rows["c29"]["revenue_total"] == "20000.00"
    assert rows["c29"]["revenue_BRL"] == "100000.00"  # the original currency too
    assert rows["c29"]["exchange_rates"] == "In USD at 1 BRL = 0.20 USD."
    assert rows["c28"]["suggested_tier"] == "key"
