"""The briefing's sums across currencies: converted into the reporting currency
by crm.money at the stated rates, beside the per-currency figures, on the page,
in the PDF and in the JSON."""

import io
from datetime import timedelta
from decimal import Decimal

from pypdf import PdfReader

from crm.extensions import db
from crm.models.types import utcnow
from crm.money import Rates
from reports.briefing.model import AgingBucket, BucketTotal, Revenue
from reports.briefing.money import money_totals
from tests.factories import make_client, stored_event

RATES = Rates("USD", {"BRL": Decimal("0.20")})


def revenue(currency, invoiced, collected, refunded="0"):
    zero = Decimal(0)
    return Revenue(currency, Decimal(invoiced), Decimal(collected), Decimal(refunded), zero, zero)


def test_each_bucket_and_each_revenue_figure_is_added_at_the_rates():
    aging = [
        AgingBucket("1-30", 2, [BucketTotal("BRL", Decimal("20620")), BucketTotal("USD", 4120)]),
        AgingBucket("31-60", 1, [BucketTotal("JPY", Decimal("5000"))]),
        AgingBucket("61-90", 0, []),
    ]
    totals = money_totals(aging, [revenue("BRL", "1000", "500"), revenue("USD", "10", "0")], RATES)
    # BRL 20,620 is USD 4,124: it no longer outranks USD 4,120 by its bare number
    assert [bucket.amount for bucket in totals.aging] == [
        Decimal("8244.00"),
        Decimal("0.00"),
        Decimal("0.00"),
    ]
    assert totals.aging[1].unconverted == {"JPY": Decimal("5000")}
    assert totals.overdue.amount == Decimal("8244.00")
    assert totals.overdue.unconverted == {"JPY": Decimal("5000")}
    assert (totals.invoiced.amount, totals.collected.amount) == (
        Decimal("210.00"),
        Decimal("100.00"),
    )
    assert totals.rates_stated == "In USD at 1 BRL = 0.20 USD."
    assert totals.aging_converted and totals.revenue_converted


def test_nothing_to_convert_in_the_reporting_currency_alone():
    aging = [AgingBucket("1-30", 1, [BucketTotal("USD", Decimal("10"))])]
    totals = money_totals(aging, [revenue("USD", "10", "10")], RATES)
    assert not totals.aging_converted and not totals.revenue_converted
    # one currency that is not the reporting currency is converted too
    assert money_totals(aging, [revenue("BRL", "10", "10")], RATES).revenue_converted


def test_the_page_the_pdf_and_the_api_add_currencies_at_the_stated_rate(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "EXCHANGE_RATES", "BRL=0.20")
    rio = make_client("rio", name="Rio Dental", tier="standard")
    now = utcnow()
    for key, amount, currency in (("in_1", "20620.00", "BRL"), ("in_2", "4120.00", "USD")):
        stored_event(
            rio,
            "invoice.issued",
            now - timedelta(days=40),
            thread=key,
            amount=Decimal(amount),
            currency=currency,
            due_at=now - timedelta(days=10),
        )
    stored_event(
        rio, "payment.received", now - timedelta(days=5), amount=Decimal("1000"), currency="BRL"
    )
    stored_event(
        rio, "payment.received", now - timedelta(days=4), amount=Decimal("50"), currency="USD"
    )
    db.session.commit()

    page = client.get("/clients/rio/briefing").get_data(as_text=True)
    assert "Overdue in all: ≈ USD 8,244.00. In USD at 1 BRL = 0.20 USD." in page
    assert "≈ USD: all currencies together. In USD at 1 BRL = 0.20 USD." in page
    assert "8,244.00" in page and "250.00" in page  # invoiced 4,124 + 4,120; collected 200 + 50

    body = client.get("/api/v1/clients/rio/briefing").get_json()
    assert body["money"]["overdue"] == {
        "currency": "USD",
        "amount": "8244.00",
        "unconverted": {},
        "complete": True,
    }
    assert body["money"]["collected"]["amount"] == "250.00"
    assert body["money"]["rates_stated"] == "In USD at 1 BRL = 0.20 USD."

    pdf = client.get("/clients/rio/briefing.pdf")
    assert pdf.status_code == 200
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "1 BRL = 0.20 USD" in " ".join(text.split())
    assert "8,244.00" in text
