"""Issue 23's "done when", walked end to end for one MSP client.

Paulsen Medical Supplies is known to three systems, linked by its identities:
QuickBooks Online customer 15, ConnectWise PSA company 2 and NinjaOne
organization 2. Its billing comes from files, its tickets and alerts live:

- from files (`flask ingest quickbooks FILE`): the invoices of
  quickbooks_query_invoices_DOCUMENTED_SHAPE.json (invoice 130 open and past
  due), the customer and payment 131 of
  quickbooks_customer_payment_creditmemo_DOCUMENTED_SHAPE.json, and the
  recurring invoice templates of quickbooks_recurring_transactions_DOCUMENTED_SHAPE.json;
- live (`flask sync NAME`): a ConnectWise connection answering with
  django-connectwise's recorded company 2, ticket 69 and its note (time
  entries, agreements and configurations empty, so that the MRR is the
  accounting system's alone), and a NinjaOne connection answering with the
  organizations, the recorded device 7, the recorded alert (of device 33,
  which no organization here owns: it waits, unmatched) and the
  documented-shape activities of device 7, all replayed with `responses` by
  tests/live_psa_apis.py.

Each file's provenance is in tests/fixtures/vendors/SOURCES.md. What the
provider then sees is read through the doors users use, signed in as the
`client` fixture is: the client's timeline page, its briefing (page and
API) and the portfolio report (API, CSV and page). Every expected value is
read from the fixture files here.
"""

import calendar
import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
import responses

from tests import live_psa_apis as api
from tests.factories import make_client
from tests.helpers import ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
INVOICES = VENDORS / "quickbooks_query_invoices_DOCUMENTED_SHAPE.json"
PAYMENTS = VENDORS / "quickbooks_customer_payment_creditmemo_DOCUMENTED_SHAPE.json"
RECURRING = VENDORS / "quickbooks_recurring_transactions_DOCUMENTED_SHAPE.json"
ORGANIZATIONS = "ninjaone_organizations_DOCUMENTED_SHAPE.json"  # read by tests/live_psa_apis.py
BRIEFING_DAY = "2026-12-01"  # after every recurring template's start


def read(path: Path):
    return json.loads(path.read_text())


def customer() -> dict:
    return next(item["Customer"] for item in read(PAYMENTS) if "Customer" in item)


def payments() -> list[dict]:
    return [item["Payment"] for item in read(PAYMENTS) if "Payment" in item]


def overdue_invoice() -> dict:
    """The customer's invoice still owed: a balance left, past its due date."""
    invoices = read(INVOICES)["QueryResponse"]["Invoice"]
    (owed,) = [i for i in invoices if i["Balance"] and i["DueDate"] < BRIEFING_DAY]
    return owed


def monthly_recurring() -> Decimal:
    """The customer's templates, before tax, to a month (weekly: 52 a year)."""
    per_year = {"Monthly": 12, "Weekly": 52, "Yearly": 1}
    total = Decimal(0)
    for found in read(RECURRING)["QueryResponse"]["RecurringTransaction"]:
        template = found.get("Invoice")
        if not template or template["CustomerRef"]["value"] != customer()["Id"]:
            continue
        schedule = template["RecurringInfo"]["ScheduleInfo"]
        tax = (template.get("TxnTaxDetail") or {}).get("TotalTax") or 0
        net = Decimal(str(template["TotalAmt"])) - Decimal(str(tax))
        total += net * per_year[schedule["IntervalType"]] / schedule["NumInterval"] / 12
    return total.quantize(Decimal("0.01"))


def ticket() -> dict:
    return api.vendor("connectwise_djconnectwise_service_ticket.json")


def raised_alerts() -> list[dict]:
    """NinjaOne's activities that raise an alert on the organization's device."""
    return [a for a in api.activities() if a.get("statusCode") == "TRIGGERED"]


def synced(runner, name: str) -> None:
    """`flask sync NAME`, finished with nothing rejected."""
    result = runner.invoke(args=["sync", name])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{name}: run ") and " finished: " in result.output
    assert "rejected 0" in result.output, result.output


@pytest.fixture
def paulsen(app, runner, session, monkeypatch):
    """The client, its billing ingested from files, its PSA and RMM synced live."""
    api.keyed(app, monkeypatch)
    company = ticket()["company"]["id"]
    organization = api.vendor(ORGANIZATIONS)[0]["id"]
    linked = make_client(
        "paulsen",
        name=customer()["DisplayName"],
        identities=[
            ("quickbooks", customer()["Id"]),
            ("connectwise", str(company)),
            ("ninjaone", str(organization)),
        ],
    )
    for path in (INVOICES, PAYMENTS, RECURRING):
        summary = ingest_file(runner, "quickbooks", path)
        assert summary["rejected"] == 0, summary  # Amy's templates wait: not ours

    psa = api.connect(session, "connectwise")
    with responses.RequestsMock() as mock:
        api.cw_list(
            mock, "/company/companies", [[api.vendor("connectwise_djconnectwise_company.json")]]
        )
        api.cw_list(mock, "/service/tickets", [[ticket()]])
        api.cw_notes(
            mock, ticket()["id"], api.vendor("connectwise_djconnectwise_ticket_notes.json")
        )
        api.cw_empty(mock, "/time/entries", "/finance/agreements", "/company/configurations")
        synced(runner, psa.name)

    rmm = api.connect(session, "ninjaone")
    with responses.RequestsMock() as mock:
        api.ninja_token(mock)
        api.ninja_list(mock, "/v2/organizations", [api.vendor(ORGANIZATIONS)])
        api.ninja_list(
            mock, "/v2/devices-detailed", [api.vendor("ninjaone_api_devices_RECORDED.json")]
        )
        mock.get(f"{api.NINJAONE}/v2/alerts", json=api.vendor("ninjaone_api_alerts_RECORDED.json"))
        api.ninja_activities(mock, [api.activities()], 0)
        synced(runner, rmm.name)
    return linked


def critical_alert() -> dict:
    """The one series NinjaOne raised as CRITICAL that nothing reset since."""
    reset = {a["seriesUid"] for a in api.activities() if a.get("statusCode") == "RESET"}
    (found,) = [
        a
        for a in api.activities()
        if a.get("statusCode") == "TRIGGERED"
        and a.get("severity") == "CRITICAL"
        and a["seriesUid"] not in reset
    ]
    return found


def thread(kind: str, key) -> str:
    return f"/clients/paulsen/threads/{kind}/{key}"


def test_the_timeline_shows_the_invoice_the_ticket_and_the_alert(client, paulsen):
    owed, found = overdue_invoice(), ticket()
    (note,) = api.vendor("connectwise_djconnectwise_ticket_notes.json")
    page = client.get("/clients/paulsen").get_data(as_text=True)
    # QuickBooks, from the file: the invoice issued, and the one paid by payment 131
    assert f"Invoice {owed['DocNumber']} issued: USD {owed['TotalAmt']}" in page
    assert thread("invoice", f"invoice-{owed['Id']}") in page
    (paid,) = payments()
    (paid_invoice,) = [
        i
        for i in read(INVOICES)["QueryResponse"]["Invoice"]
        if i["Id"] == paid["Line"][0]["LinkedTxn"][0]["TxnId"]
    ]
    assert f"Invoice {paid_invoice['DocNumber']} paid in full" in page
    # ConnectWise, synced: the ticket and its note
    assert found["summary"] in page and thread("ticket", found["id"]) in page
    assert f"Internal note on ticket #{found['id']}: {note['text']}" in page
    # NinjaOne, synced: every series it raised on the organization's device
    for raised in raised_alerts():
        assert thread("alert", raised["seriesUid"]) in page
    items = client.get("/api/v1/clients/paulsen/timeline?limit=100").get_json()["items"]
    origins = {item["origin"] for item in items}
    assert {"quickbooks", "connectwise", "ninjaone"} <= origins


def test_the_briefing_flags_the_overdue_invoice_the_late_ticket_and_the_critical_alert(
    client, paulsen
):
    owed, found, alert = overdue_invoice(), ticket(), critical_alert()
    body = client.get(f"/api/v1/clients/paulsen/briefing?date={BRIEFING_DAY}").get_json()
    flags = {flag["kind"]: flag for flag in body["flags"]}
    assert set(flags) == {"overdue_invoice", "late_ticket", "critical_alert"}
    invoice = flags["overdue_invoice"]
    assert invoice["thread_key"] == f"invoice-{owed['Id']}"
    assert (Decimal(invoice["amount"]), invoice["currency"]) == (
        Decimal(str(owed["Balance"])),
        owed["CurrencyRef"]["value"],
    )
    assert invoice["due_at"].startswith(owed["DueDate"])
    late = flags["late_ticket"]
    assert (late["thread_key"], late["title"]) == (str(found["id"]), found["summary"])
    assert late["opened_at"].startswith(found["_info"]["dateEntered"][:19])
    assert late["facets"] == ["open_too_long"]  # open since 2005, far past the stale limit
    critical = flags["critical_alert"]
    assert critical["thread_key"] == alert["seriesUid"]
    assert critical["title"] == alert["message"]
    assert body["mrr"]["by_currency"] == {"USD": str(monthly_recurring())}
    page = client.get(f"/clients/paulsen/briefing?date={BRIEFING_DAY}").get_data(as_text=True)
    for key in (f"invoice/invoice-{owed['Id']}", f"ticket/{found['id']}"):
        assert f"/clients/paulsen/threads/{key}" in page
    assert f"/clients/paulsen/threads/alert/{alert['seriesUid']}" in page
    words = " ".join(re.sub(r"<[^>]+>", " ", page).split())  # the text a reader sees
    assert "3 flags, most severe first: 3 critical" in words
    assert f"USD {owed['Balance']} was due" in words
    mrr_table = "Recurring revenue (MRR) Currency Per month now At the period's start"
    assert f"{mrr_table} USD {monthly_recurring():,}" in words


def test_the_portfolio_counts_collected_revenue_and_mrr_from_quickbooks(client, paulsen):
    (paid,) = payments()
    year, month = (int(part) for part in paid["TxnDate"].split("-")[:2])
    last = calendar.monthrange(year, month)[1]
    period = {"from": f"{year}-{month:02d}-01", "to": f"{year}-{month:02d}-{last}"}
    collected = Decimal(str(paid["TotalAmt"])).quantize(Decimal("0.01"))
    mrr = str(monthly_recurring())  # 1,500 a month before tax and 60 every two weeks
    report = client.get("/api/v1/reports/portfolio", query_string=period).get_json()
    (row,) = report["clients"]
    assert row["slug"] == "paulsen"
    assert (row["revenue_total"], row["mrr_total"]) == (str(collected), mrr)
    assert row["mrr"] == [{"currency": "USD", "amount": mrr}]
    assert row["flags"] == {"overdue_invoice": 1, "late_ticket": 1, "critical_alert": 1}
    assert report["revenue_total"]["amount"] == str(collected)
    table = client.get("/reports/portfolio.csv", query_string=period).get_data(as_text=True)
    (line,) = csv.DictReader(io.StringIO(table))
    assert (line["slug"], line["revenue_total"], line["mrr_total"]) == (
        "paulsen",
        str(collected),
        mrr,
    )
    page = client.get("/reports/portfolio", query_string=period).get_data(as_text=True)
    assert f"USD {collected:,}" in page and f"USD {Decimal(mrr):,}" in page
