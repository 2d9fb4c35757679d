"""Money across currencies (crm.money): one reporting currency at stated rates,
and amounts without a rate kept apart and flagged, never dropped or mixed in."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm.clients.directory import DirectoryFilters, client_directory
from crm.extensions import db
from crm.models import Client
from crm.money import Rates, RatesError, parse_rates, total
from crm.timeline.precontact import configured_card
from tests.factories import BASE_TIME, event, make_client, ndjson
from tests.helpers import ingest_file

NOW = BASE_TIME + timedelta(days=60)
DUE = (BASE_TIME + timedelta(days=30)).isoformat()


def _invoice(number: str, client: str, amount: str, currency: str) -> dict:
    """An invoice issued on BASE_TIME, overdue by NOW."""
    return event(number, "invoice.issued", 0, client=client, thread=f"in-{number}",
                 amount=amount, currency=currency, due_at=DUE)  # fmt: skip


def test_rates_are_read_from_the_setting():
    rates = parse_rates("usd", "EUR=1.08; gbp = 1.27, BRL=0.18")
    assert rates.reporting == "USD"
    assert rates.rate("eur") == Decimal("1.08")
    assert rates.rate("USD") == 1
    assert rates.rate("JPY") is None
    assert rates.stated() == "In USD at 1 EUR = 1.08 USD, 1 GBP = 1.27 USD, 1 BRL = 0.18 USD."


@pytest.mark.parametrize(
    ("reporting", "text"),
    [("USD", "EUR"), ("USD", "EUR=abc"), ("USD", "EUR=-1"), ("USD", "EURO=1"), ("dollars", "")],
)
def test_a_bad_rate_setting_is_refused_with_the_entry_named(reporting, text):
    with pytest.raises(RatesError):
        parse_rates(reporting, text)


def test_a_total_converts_what_it_can_and_keeps_the_rest_apart():
    rates = parse_rates("EUR", "USD=0.92")
    result = total(
        [("EUR", Decimal("100")), ("USD", Decimal("50")), ("JPY", Decimal("9000")), ("jpy", 1)],
        rates,
    )
    assert result.currency == "EUR"
    assert result.amount == Decimal("146.00")
    assert result.unconverted == {"JPY": Decimal("9001")}
    assert not result.complete
    assert total([("EUR", Decimal("5"))], rates).complete


@pytest.fixture
def owing(runner, tmp_path):
    """Rio owes BRL 20,620 (about USD 3,700); Boston owes USD 4,120."""
    make_client("rio-dental", name="Rio Dental")
    make_client("boston-law", name="Boston Law")
    make_client("osaka-trade", name="Osaka Trade")
    records = [
        _invoice("i1", "rio-dental", "20620.00", "BRL"),
        _invoice("i2", "boston-law", "4120.00", "USD"),
        _invoice("i3", "osaka-trade", "900000", "JPY"),
    ]
    summary = ingest_file(runner, "billing", ndjson(tmp_path / "billing.ndjson", records))
    assert summary["accepted"] == len(records), summary


def _rows(rates: Rates):
    page = client_directory(db.session, DirectoryFilters(sort="overdue"), now=NOW, rates=rates)
    return page.rows


def test_brl_no_longer_outranks_usd(owing):
    rows = _rows(parse_rates("USD", "BRL=0.18"))
    # JPY has no rate: it is not counted in the order, but it is shown and flagged
    assert [row.slug for row in rows] == ["boston-law", "rio-dental", "osaka-trade"]
    assert rows[1].overdue_total.amount == Decimal("3711.60")
    osaka = rows[2].overdue_total
    assert (osaka.amount, osaka.unconverted) == (0, {"JPY": Decimal("900000")})


def test_the_directory_page_and_api_state_the_rates_and_flag_unconverted(app, owing, login_as):
    app.config["EXCHANGE_RATES"] = "BRL=0.18"
    try:
        browser = login_as("manager", token=True)
        page = browser.get("/clients?sort=overdue").get_data(as_text=True)
        assert "In USD at 1 BRL = 0.18 USD." in page
        # Only JPY is owed and JPY has no rate: no total is made of nothing.
        assert "not converted to USD: no exchange rate for JPY" in page
        assert "≈ USD 0.00" not in page
        assert page.index("Boston Law") < page.index("Rio Dental") < page.index("Osaka Trade")
        body = browser.get("/api/v1/clients?sort=overdue").get_json()
        totals = {row["slug"]: row["overdue_total"] for row in body["items"]}
        assert totals["rio-dental"]["amount"] == "3711.60"
        assert Decimal(totals["osaka-trade"]["unconverted"]["JPY"]) == 900000
        assert totals["osaka-trade"]["complete"] is False
    finally:
        app.config["EXCHANGE_RATES"] = ""


def test_the_card_adds_overdue_amounts_at_the_configured_rates(app, owing, runner, tmp_path):
    more = [
        _invoice("i4", "rio-dental", "100.00", "USD"),
        _invoice("i5", "rio-dental", "5000", "JPY"),
    ]
    ingest_file(runner, "billing", ndjson(tmp_path / "more.ndjson", more))
    rio = db.session.scalar(select(Client).where(Client.slug == "rio-dental"))
    config = {**app.config, "EXCHANGE_RATES": "BRL=0.18"}
    card = configured_card(db.session, rio, NOW, config)
    assert card.overdue_totals == {"BRL": Decimal("20620.00"), "JPY": 5000, "USD": 100}
    assert card.overdue_total.amount == Decimal("3811.60")
    assert card.overdue_total.unconverted == {"JPY": Decimal("5000")}


def test_a_total_of_only_unconverted_amounts_is_no_total():
    rates = parse_rates("USD", "BRL=0.18")
    nothing = total([("JPY", Decimal("900000"))], rates)
    assert (nothing.amount, nothing.complete, nothing.meaningful) == (0, False, False)
    part = total([("JPY", Decimal("5")), ("BRL", Decimal("100"))], rates)
    assert (part.amount, part.meaningful) == (Decimal("18.00"), True)
    assert total([], rates).meaningful  # nothing owed at all: a true zero
