"""The portfolio report's pages, downloads and API on small hand-made portfolios:
the period, what counts as revenue, accepting a suggested tier, bad input."""

import csv
import io
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pypdf import PdfReader
from sqlalchemy import insert

from crm.extensions import db
from crm.models import Client, Entity
from crm.models.types import utcnow
from reports.portfolio.period import Period, last_twelve_months
from reports.portfolio.schemas import period_from
from tests.factories import make_client, stored_event

PERIOD = {"from": "2026-01-01", "to": "2026-06-30"}
LONG_AGO = date(2020, 1, 1)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def payment(client, when: str, amount: str, currency: str | None = "EUR", kind=None):
    stored_event(
        client,
        kind or "payment.received",
        at(when),
        amount=Decimal(amount),
        currency=currency,
    )


def report_json(client, **query) -> dict:
    response = client.get("/api/v1/reports/portfolio", query_string=PERIOD | query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def revenue_of(report: dict) -> dict:
    return {
        (row["slug"], line["currency"]): line["amount"]
        for row in report["clients"]
        for line in row["revenue"]
    }


def test_revenue_is_payments_minus_refunds_inside_the_period_for_active_clients(client):
    paying = make_client("paying", customer_since=LONG_AGO)
    gone = make_client("gone", status="churned", customer_since=LONG_AGO)
    loose = make_client("loose", customer_since=LONG_AGO)
    payment(paying, "2026-01-01T00:00:00", "100.25")  # the first moment of the period
    payment(paying, "2026-06-30T23:59:59", "50")  # the last second
    payment(paying, "2025-12-31T23:59:59", "1000")  # the day before
    payment(paying, "2026-07-01T00:00:00", "1000")  # the day after
    payment(paying, "2026-03-01T10:00:00", "30.10", kind="refund.issued")
    payment(paying, "2026-02-01T10:00:00", "7", currency="USD")
    payment(gone, "2026-02-01T10:00:00", "500")
    payment(loose, "2026-02-01T10:00:00", "10", currency=None)
    db.session.commit()

    report = report_json(client)
    assert revenue_of(report) == {
        ("paying", "EUR"): "120.1500",
        ("paying", "USD"): "7.0000",
        ("loose", "XXX"): "10.0000",
    }
    assert report["active_clients"] == 2
    assert {row["slug"] for row in report["clients"]} == {"paying", "loose"}
    assert report["period"] == PERIOD


def test_revenue_adds_up_across_currencies_at_the_stated_rates(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "EXCHANGE_RATES", "BRL=0.18")
    rio = make_client("rio", customer_since=LONG_AGO)
    payment(rio, "2026-02-01T10:00:00", "20620", currency="BRL")
    payment(rio, "2026-02-02T10:00:00", "4120", currency="USD")
    payment(rio, "2026-02-03T10:00:00", "50", currency="EUR")  # no rate for EUR
    db.session.commit()

    report = report_json(client)
    assert report["revenue_total"] == {
        "currency": "USD",
        "amount": "7831.60",
        "unconverted": {"EUR": "50.0000"},
        "complete": False,
    }
    assert report["rates_stated"] == "In USD at 1 BRL = 0.18 USD."
    page = client.get("/reports/portfolio", query_string=PERIOD).get_data(as_text=True)
    assert "USD 7,831.60 in all, not counting EUR (no exchange rate)" in page


def test_accepting_a_suggestion_changes_the_tier(client):
    big = make_client("big", name="Big Dental", tier="standard", customer_since=LONG_AGO)
    small = make_client("small", tier="standard", customer_since=LONG_AGO)
    # in the reporting currency: revenue without an exchange rate is not ranked
    payment(big, "2026-02-01T10:00:00", "900", currency="USD")
    payment(small, "2026-02-01T10:00:00", "100", currency="USD")
    db.session.commit()

    page = client.get("/reports/portfolio", query_string=PERIOD).get_data(as_text=True)
    assert 'name="slug" value="big"' in page and 'name="slug" value="small"' not in page
    assert "Make key" in page

    response = client.post("/reports/portfolio/tiers", data={"slug": "big", "tier": "key"} | PERIOD)
    assert response.status_code == 303
    assert response.location.endswith("/reports/portfolio?from=2026-01-01&to=2026-06-30#tiers")
    db.session.expire_all()
    assert db.session.get(Client, big.id).tier == "key"
    assert db.session.get(Client, small.id).tier == "standard"

    after = client.get(response.location).get_data(as_text=True)
    assert "Big Dental is now key (was standard)." in after
    assert "Make key" not in after
    assert "Every client's tier is the one suggested." in after


def test_a_bad_acceptance_changes_nothing_and_says_why(client):
    make_client("steady", tier="standard", customer_since=LONG_AGO)
    cases = [
        ({"slug": "nobody", "tier": "key"}, "there is no client “nobody”"),
        ({"slug": "steady", "tier": "gold"}, "tier: Must be one of: new, standard, problem, key."),
        ({"tier": "key"}, "slug: Missing data for required field."),
    ]
    for form, message in cases:
        response = client.post("/reports/portfolio/tiers", data=form, follow_redirects=True)
        assert response.status_code == 200
        assert message in response.get_data(as_text=True), form
    db.session.expire_all()
    assert db.session.query(Client).one().tier == "standard"


def test_a_bad_period_is_named_and_the_last_12_months_shown_instead(client):
    response = client.get("/reports/portfolio", query_string={"from": "2026-13-01"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<strong>from</strong>: Not a valid date." in page
    assert "Showing the last 12 months instead." in page

    backwards = client.get(
        "/reports/portfolio", query_string={"from": "2026-05-01", "to": "2026-04-01"}
    )
    assert backwards.status_code == 400
    assert "<strong>to</strong>: is before `from`" in backwards.get_data(as_text=True)

    for download in ("/reports/portfolio.csv", "/reports/portfolio.pdf"):
        refused = client.get(download, query_string={"to": "yesterday"})
        assert refused.status_code == 400
        assert "to: Not a valid date." in refused.get_data(as_text=True)

    api = client.get("/api/v1/reports/portfolio", query_string={"from": "soon"})
    assert api.status_code == 422
    assert api.get_json()["field"] == "from"


def test_an_empty_portfolio_says_so(client):
    page = client.get("/reports/portfolio", query_string=PERIOD)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "No payments were collected in this period." in text
    assert "No tickets were opened in this period." in text
    assert "Nothing to flag" in text
    download = client.get("/reports/portfolio.csv", query_string=PERIOD)
    assert download.headers["Content-Disposition"] == (
        'attachment; filename="portfolio-2026-01-01-to-2026-06-30.csv"'
    )
    assert download.get_data(as_text=True).startswith("slug,name,tier,suggested_tier,reason,")


def test_the_csv_cannot_smuggle_a_formula_into_a_spreadsheet(client):
    make_client("sneaky", name='=HYPERLINK("http://x.example")', customer_since=LONG_AGO)
    table = client.get("/reports/portfolio.csv", query_string=PERIOD).get_data(as_text=True)
    (row,) = csv.DictReader(io.StringIO(table))
    assert row["name"] == '\'=HYPERLINK("http://x.example")'


def test_the_pdf_page_size_is_a_setting(app, client):
    make_client("one", customer_since=LONG_AGO)

    def first_page_points(pdf: bytes) -> tuple[int, int]:
        box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
        return round(float(box.width)), round(float(box.height))

    assert first_page_points(client.get("/reports/portfolio.pdf").data) == (595, 842)  # A4
    app.config["PDF_PAGE_SIZE"] = "letter"
    assert first_page_points(client.get("/reports/portfolio.pdf").data) == (612, 792)


def test_the_report_modules_load_pandas_only_when_a_report_is_made():
    check = (
        "import sys; import reports.portfolio.views, reports.portfolio.api; "
        "sys.exit('pandas' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", check], check=False).returncode == 0


def test_the_period_defaults_to_the_twelve_months_up_to_to_or_today():
    today = date(2026, 11, 23)
    assert period_from({}, today) == Period(date(2025, 11, 24), today)
    assert period_from({"end": date(2026, 6, 30)}, today) == Period(
        date(2025, 7, 1), date(2026, 6, 30)
    )
    assert period_from({"start": date(2026, 1, 1)}, today) == Period(date(2026, 1, 1), today)
    # a `from` after today alone is that one day
    assert period_from({"start": date(2027, 1, 1)}, today) == Period(
        date(2027, 1, 1), date(2027, 1, 1)
    )
    leap = last_twelve_months(date(2028, 2, 29))
    assert (leap.start, leap.days) == (date(2027, 3, 1), 366)


def test_the_pages_pdf_button_makes_a_job_whose_page_offers_the_file(app, client, tmp_path):
    """No broker in the tests: the job runs in the request, as with no REDIS_URL."""
    from crm.accounts.models import AuditEntry
    from crm.jobs.models import Job

    app.config["JOB_FILES_DIR"] = str(tmp_path)
    make_client("one", customer_since=LONG_AGO)
    page = client.get("/reports/portfolio", query_string=PERIOD).get_data(as_text=True)
    assert 'action="/reports/portfolio/pdf-jobs"' in page

    asked = client.post("/reports/portfolio/pdf-jobs", data=PERIOD)
    assert asked.status_code == 303
    job = db.session.scalars(db.select(Job)).one()
    assert asked.headers["Location"].endswith(f"/jobs/{job.id}")
    assert (job.kind, job.status, job.done, job.total) == ("portfolio", "done", 2, 2)
    assert "Download portfolio-2026-01-01-to-2026-06-30.pdf" in client.get(
        f"/jobs/{job.id}"
    ).get_data(as_text=True)
    download = client.get(f"/jobs/{job.id}/download")
    assert download.mimetype == "application/pdf"
    pdf = download.data
    download.close()  # the response holds the file open until closed
    assert PdfReader(io.BytesIO(pdf)).pages
    exported = db.session.scalars(
        db.select(AuditEntry).where(AuditEntry.action == "portfolio.export")
    ).one()
    assert exported.detail["job_id"] == job.id and exported.detail["from"] == "2026-01-01"

    refused = client.post("/reports/portfolio/pdf-jobs", data={"from": "soon"})
    assert refused.status_code == 400
    assert db.session.scalar(db.select(db.func.count()).select_from(Job)) == 1


def test_the_report_lists_the_most_severe_flags_and_counts_the_rest(client):
    """A portfolio with more flags than the report lists: the 100 most severe
    (the disputes, critical, before the overdue invoices), the total, each
    client's counts in full, and a link to the flagged clients, paged."""
    now = utcnow()
    busy = make_client("busy", customer_since=LONG_AGO)
    calm = make_client("calm", customer_since=LONG_AGO)
    rows = [
        {"client_id": busy.id, "type": "invoice", "key": f"in_{n:03}", "status": "open"}
        | {"opened_at": now - timedelta(days=40), "due_at": now - timedelta(days=5)}
        for n in range(110)
    ] + [
        {"client_id": calm.id, "type": "dispute", "key": f"dp_{n}", "status": "needs_response"}
        | {"opened_at": now - timedelta(days=1), "due_at": None}
        for n in range(3)
    ]
    db.session.execute(
        insert(Entity),
        [row | {"last_event_at": row["opened_at"], "event_count": 1} for row in rows],
    )
    db.session.commit()
    report = report_json(client)
    assert report["flags_total"] == 113
    assert len(report["flags"]) == 100
    assert [flag["key"] for flag in report["flags"][:3]] == ["dp_0", "dp_1", "dp_2"]
    # medium, 5 days overdue, after the critical disputes; due together: by key
    assert [flag["key"] for flag in report["flags"][3:6]] == ["in_000", "in_001", "in_002"]
    counts = {row["slug"]: row["flags"] for row in report["clients"]}
    assert counts == {"busy": {"overdue_invoice": 110}, "calm": {"open_dispute": 3}}
    page = client.get("/reports/portfolio", query_string=PERIOD).get_data(as_text=True)
    assert "The 100 most severe of 113" in page
    assert "and 13 more" in page
    assert "/clients?flagged=1" in page or "/clients?status=active&amp;flagged=1" in page
    table = list(
        csv.DictReader(
            io.StringIO(
                client.get("/reports/portfolio.csv", query_string=PERIOD).get_data(as_text=True)
            )
        )
    )
    assert {row["slug"]: int(row["flags"]) for row in table} == {"busy": 110, "calm": 3}
