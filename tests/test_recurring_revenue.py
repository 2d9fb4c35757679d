"""Recurring revenue (crm.revenue): the normalisation to a month, which items
earn, MRR per client across currencies, and where it shows (the directory,
the briefing, the portfolio report with its CSV and API).

Stripe subscriptions are Stripe's OpenAPI fixture (stripe_openapi_fixture_subscription.json,
and its 2017 version) with their prices changed; ConnectWise agreements are
connectwise_agreements_DOCUMENTED_SHAPE.json (tests/fixtures/vendors/SOURCES.md).
"""

import copy
import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from connectors.stripe_fields import Fields
from connectors.stripe_recurring import list_monthly, monthly_amount, unknown_discounts
from crm.clients.directory import Amount, DirectoryFilters, client_directory
from crm.models import Client, Event
from crm.money import parse_rates
from crm.revenue import converted_mrr_sql, monthly_recurring, per_month
from tests.factories import make_client
from tests.helpers import ingest_file
from tests.stripe_data import CUSTOMER, T0, VENDORS, obj, vendor, write

NOW = datetime(2026, 12, 1, tzinfo=UTC)
RATES = parse_rates("USD", "EUR=1.10")
AGREEMENTS = "connectwise_agreements_DOCUMENTED_SHAPE.json"


def price(unit: int, interval: str = "month", count: int = 1, **extra) -> dict:
    recurring = {"interval": interval, "interval_count": count, "usage_type": "licensed"}
    return {"object": "price", "unit_amount": unit, "recurring": recurring | extra}


def subscription(sub_id: str, customer: str, currency: str, *items, **changes) -> dict:
    """Stripe's fixture subscription, started at T0 and running, with `items`
    (price, quantity)."""
    sub = obj(
        "subscription",
        id=sub_id,
        customer=customer,
        currency=currency,
        start_date=T0,
        cancel_at=None,
        canceled_at=None,
        ended_at=None,
        cancel_at_period_end=False,
    )
    template = sub["items"]["data"][0]
    sub["items"]["data"] = [
        {**copy.deepcopy(template), "price": item_price, "quantity": quantity}
        for item_price, quantity in items
    ]
    for item in sub["items"]["data"]:
        item.pop("plan")
    return sub | changes


def stripe_monthly(record: dict, currency: str = "USD") -> Decimal | None:
    return monthly_amount(Fields(record, ""), currency)


# --- the rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "interval", "count", "expected"),
    [
        ("1200", "year", 1, "100.00"),
        ("1200", "Yearly", 1, "100.00"),
        ("10", "week", 1, "43.33"),  # 52 weeks a year
        ("300", "quarter", 1, "100.00"),
        ("1200", "Quarterly", 1, "400.00"),
        ("300", "month", 3, "100.00"),
        ("50", "month", 1, "50.00"),
        ("1", "day", 1, "30.42"),  # 365 days a year
        ("100", "Semi-Annual", 1, "16.67"),
    ],
)
def test_each_interval_is_normalised_to_a_month(amount, interval, count, expected):
    assert per_month(Decimal(amount), interval, count) == Decimal(expected)


def test_an_unknown_interval_or_count_gives_no_monthly_amount():
    assert per_month(Decimal(10), "One Time") is None
    assert per_month(Decimal(10), "month", 0) is None
    assert per_month(None, "month") is None


def test_stripe_fixtures_bill_their_price_times_quantity_per_month():
    # The current fixture reads its item's price (USD 20.00 a month); the 2017
    # one its item's plan (also 20.00 a month).
    assert stripe_monthly(vendor("stripe_openapi_fixture_subscription.json")) == Decimal("20.00")
    old = vendor("stripe_openapi_2017_fixture_subscription.json")
    assert stripe_monthly(old) == Decimal("20.00")
    yearly = subscription("sub_y", CUSTOMER, "usd", (price(24000, "year"), 3))
    assert stripe_monthly(yearly) == Decimal("60.00")
    mixed = subscription(
        "sub_m",
        CUSTOMER,
        "usd",
        (price(1000, "week"), 1),
        (price(3000, "month", 3), 2),
        (price(500, "month", usage_type="metered"), 1),  # usage, not recurring
    )
    assert stripe_monthly(mixed) == Decimal("63.33")  # 43.33 + 20.00
    assert stripe_monthly(yearly | {"currency": "jpy"}, "JPY") == Decimal("6000.00")


def test_lasting_coupons_discount_a_stripe_subscription_and_unknowns_are_not_guessed():
    monthly = subscription("sub_d", CUSTOMER, "usd", (price(2000), 1))
    forever = {"coupon": {"percent_off": 25, "duration": "forever"}}
    assert stripe_monthly(monthly | {"discount": forever}) == Decimal("15.00")
    once = {"coupon": {"percent_off": 25, "duration": "once"}}
    assert stripe_monthly(monthly | {"discounts": [once]}) == Decimal("20.00")
    off = {"source": {"coupon": {"amount_off": 1200, "currency": "usd", "duration": "repeating"}}}
    yearly = subscription("sub_e", CUSTOMER, "usd", (price(24000, "year"), 1))
    assert stripe_monthly(yearly | {"discounts": [off]}) == Decimal("19.00")  # (240 - 12) / 12
    by_id = subscription("sub_f", CUSTOMER, "usd", ("price_1PgafmB7WZ01zgkW3Sa0nZHq", 1))
    assert stripe_monthly(by_id) is None
    assert (
        stripe_monthly(subscription("sub_g", CUSTOMER, "usd", (price(100, "fortnight"), 1))) is None
    )


def test_a_2012_webhook_with_a_plan_and_no_items_nor_currency_is_priced(runner, session):
    """Stripe's Java library's 2012 events: the subscription has `plan` and
    `quantity` alone, its currency only the plan's."""
    make_client("old", identities=[("stripe", "cus_00000000000000")])
    ingest_file(runner, "stripe", VENDORS / "stripe_java_webhook_events_2012.json")
    running = _mrr_at(session, "old", datetime(2012, 3, 1, tzinfo=UTC))
    assert running.by_currency == {"USD": Decimal("23.00")} and running.unpriced == 0
    amounts = session.scalars(
        select(Event.attributes["monthly_amount"].as_string()).where(
            Event.thread_type == "subscription"
        )
    ).all()
    assert amounts and set(amounts) == {"23.00"}  # USD 276.00 a year
    assert _mrr_at(session, "old", datetime(2012, 5, 1, tzinfo=UTC)) is None  # deleted in April


def test_a_discount_known_only_by_id_leaves_the_amount_unknown_not_overstated():
    monthly = subscription("sub_d", CUSTOMER, "usd", (price(2000), 1))
    by_id = monthly | {"discounts": ["di_1"]}  # as Stripe sends them unless expanded
    assert stripe_monthly(by_id) is None
    assert list_monthly(Fields(by_id, ""), "USD") == Decimal("20.00")
    assert unknown_discounts(Fields(by_id, "")) == ["di_1"]
    # the same discount also shown as an object (API versions with `discount`): known, once
    shown = {"id": "di_1", "coupon": {"percent_off": 25, "duration": "forever"}}
    assert stripe_monthly(by_id | {"discount": shown}) == Decimal("15.00")
    assert stripe_monthly(monthly | {"discounts": [shown], "discount": shown}) == Decimal("15.00")
    # a discount whose coupon is an id (a newer Discount's `source.coupon`)
    source = {"id": "di_2", "source": {"type": "coupon", "coupon": "co_abc"}}
    assert stripe_monthly(monthly | {"discounts": [source]}) is None
    assert unknown_discounts(Fields(monthly | {"discounts": [source]}, "")) == ["di_2"]
    # the 2017 fixture's empty discount object is no discount
    assert stripe_monthly(vendor("stripe_openapi_2017_fixture_subscription.json")) == Decimal(
        "20.00"
    )


def test_an_unknown_discount_is_said_on_the_timeline_and_counted_unpriced(
    client, runner, session, tmp_path
):
    make_client("acme", identities=[("stripe", CUSTOMER)])
    record = subscription("sub_x", CUSTOMER, "usd", (price(5000), 2)) | {"discounts": ["di_9"]}
    ingest_file(runner, "stripe", write(tmp_path, "sub.json", [record]))
    event = session.scalars(select(Event).where(Event.thread_key == "sub_x")).one()
    assert "discount not known" in event.title
    assert event.attributes["discount_not_known"] == ["di_9"]
    assert event.attributes["list_monthly_amount"] == "100.00"
    assert "monthly_amount" not in event.attributes
    mrr = _mrr_at(session, "acme", NOW)
    assert (mrr.items, mrr.unpriced, mrr.by_currency) == (1, 1, {})
    page = client.get("/clients/acme/briefing").get_data(as_text=True)
    assert "1 of them give no price, interval or discount amount (a discount not known)" in page


# --- per client, from what the connectors stored ------------------------------------------


@pytest.fixture
def recurring(runner, tmp_path):
    """acme: three ConnectWise agreements (2,500 a month, 1,200 a quarter, one
    cancelled) and a Stripe subscription of USD 20 a month; bravo: EUR 1,200 a
    year for two seats, and subscriptions cancelled, trialing and paused;
    carol: BRL 300 a month, which has no rate; dan: nothing."""
    make_client("acme", identities=[("connectwise", "2"), ("stripe", CUSTOMER)])
    make_client("bravo", identities=[("stripe", "cus_bravo")])
    make_client("carol", identities=[("stripe", "cus_carol")])
    make_client("dan")
    ingest_file(runner, "connectwise", VENDORS / AGREEMENTS)
    ended = {"status": "canceled", "canceled_at": T0 + 86400, "ended_at": T0 + 86400}
    records = [
        subscription("sub_acme", CUSTOMER, "usd", (price(2000), 1)),
        subscription("sub_bravo", "cus_bravo", "eur", (price(120000, "year"), 2)),
        subscription("sub_gone", "cus_bravo", "eur", (price(9900), 1)) | ended,
        subscription("sub_trial", "cus_bravo", "eur", (price(5000), 1), status="trialing"),
        subscription("sub_pause", "cus_bravo", "eur", (price(7000), 1), status="paused"),
        subscription("sub_carol", "cus_carol", "brl", (price(30000), 1)),
    ]
    summary = ingest_file(runner, "stripe", write(tmp_path, "subs.json", records))
    assert summary["accepted"] == len(records)


def _ids(session) -> dict[str, int]:
    return dict(session.execute(select(Client.slug, Client.id)).all())


def test_mrr_adds_earning_items_per_currency_and_converts_them(session, recurring):
    ids = _ids(session)
    mrr = monthly_recurring(session, ids.values(), NOW, RATES)
    acme, bravo, carol = mrr[ids["acme"]], mrr[ids["bravo"]], mrr[ids["carol"]]
    # 2,500 + 1,200 / 3 + 20; the cancelled agreement not
    assert acme.by_currency == {"USD": Decimal("2920.00")}
    assert (acme.items, acme.unpriced) == (3, 0)
    # 1,200 a year for two: 200 a month; cancelled, trialing and paused earn nothing
    assert bravo.by_currency == {"EUR": Decimal("200.00")} and bravo.items == 1
    assert bravo.total.amount == Decimal("220.00") and bravo.total.complete
    # no rate for BRL: kept apart, named, not a total of zero
    assert carol.by_currency == {"BRL": Decimal("300.00")}
    assert carol.total.unconverted == {"BRL": Decimal("300.00")} and not carol.total.meaningful
    assert ids["dan"] not in mrr


def test_mrr_is_as_things_stood_then(session, recurring):
    ids = _ids(session)
    # mid-2025: agreement 43 (USD 10,000 a year) not yet cancelled, 42 running, 41 too;
    # the Stripe subscriptions had not started
    then = datetime(2025, 6, 1, tzinfo=UTC)
    mrr = monthly_recurring(session, ids.values(), then, RATES)
    # 43's record says Cancelled as it was read: its status counts whatever the moment
    assert mrr[ids["acme"]].by_currency == {"USD": Decimal("2900.00")}
    assert ids["bravo"] not in mrr


def test_an_expired_agreement_earns_nothing_after_its_term(runner, session, tmp_path):
    make_client("acme", identities=[("connectwise", "2")])
    gold = vendor(AGREEMENTS)[0] | {"agreementStatus": "Expired", "endDate": "2026-06-30T00:00:00Z"}
    one_time = vendor(AGREEMENTS)[1] | {"id": 44, "billOneTimeFlag": True}
    ingest_file(runner, "connectwise", write(tmp_path, "cw.json", [gold, one_time]))
    client_id = _ids(session)["acme"]
    before = monthly_recurring(session, [client_id], datetime(2026, 6, 1, tzinfo=UTC), RATES)
    assert before[client_id].by_currency == {}  # read Expired: no longer earning
    assert before[client_id].unpriced == 1  # the one-time bill: no monthly amount
    after = monthly_recurring(session, [client_id], NOW, RATES)
    assert after[client_id].by_currency == {} and after[client_id].items == 1


def test_the_sql_form_agrees_with_the_totals(session, recurring):
    ids = _ids(session)
    rows = dict(session.execute(select(converted_mrr_sql(NOW, RATES))).all())
    exact = monthly_recurring(session, ids.values(), NOW, RATES)
    assert {key: round(Decimal(str(value)), 2) for key, value in rows.items() if value} == {
        client_id: mrr.total.amount for client_id, mrr in exact.items() if mrr.total.meaningful
    }


# --- where it shows -----------------------------------------------------------------


def test_the_directory_sorts_by_mrr_and_shows_it(session, recurring):
    def page(**query):
        return client_directory(session, DirectoryFilters(**query), now=NOW, rates=RATES).rows

    rows = page(sort="mrr")
    # converted: acme USD 2,920, bravo ≈ USD 220; carol's BRL has no rate, as dan's nothing
    assert [row.slug for row in rows] == ["acme", "bravo", "carol", "dan"]
    assert [row.slug for row in page(sort="mrr", direction="asc")][-2:] == ["bravo", "acme"]
    by_slug = {row.slug: row for row in rows}
    assert by_slug["bravo"].mrr == [Amount("EUR", Decimal("200.00"))]
    assert by_slug["bravo"].mrr_total.amount == Decimal("220.00")
    assert by_slug["carol"].mrr_total.unconverted == {"BRL": Decimal("300.00")}
    assert by_slug["dan"].mrr == [] and by_slug["dan"].mrr_total is None


def test_the_directory_page_and_api_give_mrr(app, client, recurring, monkeypatch):
    monkeypatch.setattr("crm.clients.views.utcnow", lambda: NOW)
    monkeypatch.setitem(app.config, "EXCHANGE_RATES", "EUR=1.10")
    page = client.get("/clients?sort=mrr").get_data(as_text=True)
    assert ">MRR<" in page or "MRR</a>" in page
    assert "USD 2,920.00" in page and "EUR 200.00" in page and "≈ USD 220.00" in page
    assert "not converted to USD: no exchange rate for BRL" in page
    listed = client.get("/api/v1/clients", query_string={"sort": "mrr"}).get_json()
    first = listed["items"][0]
    assert first["slug"] == "acme"
    assert first["mrr"] == [{"currency": "USD", "amount": "2920.00"}]
    assert first["mrr_total"]["amount"] == "2920.00" and first["mrr_unpriced"] == 0


def test_the_briefing_shows_mrr_beside_invoiced_and_collected(app, client, recurring):
    app.config["EXCHANGE_RATES"] = parse_rates("USD", "EUR=1.10")
    page = client.get("/clients/bravo/briefing").get_data(as_text=True)
    assert "Recurring revenue (MRR)" in page
    assert '<th scope="row">EUR</th>' in page and "200.00" in page and "≈ USD" in page
    data = client.get("/api/v1/clients/acme/briefing").get_json()
    assert data["mrr"]["by_currency"] == {"USD": "2920.00"}
    assert data["mrr"]["items"] == 3


def test_the_portfolio_gives_mrr_per_client_and_in_total(app, client, recurring, monkeypatch):
    monkeypatch.setitem(app.config, "EXCHANGE_RATES", "EUR=1.10")
    period = {"from": "2026-01-01", "to": "2026-06-30"}
    report = client.get("/api/v1/reports/portfolio", query_string=period).get_json()
    rows = {row["slug"]: row for row in report["clients"]}
    assert rows["bravo"]["mrr"] == [{"currency": "EUR", "amount": "200.00"}]
    assert rows["bravo"]["mrr_total"] == "220.00"
    assert rows["carol"]["mrr_total"] is None and rows["carol"]["mrr_unconverted"] == "BRL 300.00"
    assert rows["dan"]["mrr"] == []
    assert {line["currency"]: line["amount"] for line in report["mrr"]} == {
        "BRL": "300.00",
        "EUR": "200.00",
        "USD": "2920.00",
    }
    assert report["mrr_total"]["amount"] == "3140.00"
    assert report["mrr_total"]["unconverted"] == {"BRL": "300.00"}
    table = client.get("/reports/portfolio.csv", query_string=period).get_data(as_text=True)
    lines = {row["slug"]: row for row in csv.DictReader(io.StringIO(table))}
    assert (lines["acme"]["mrr_total"], lines["acme"]["mrr_USD"]) == ("2920.00", "2920.00")
    assert lines["carol"]["mrr_unconverted"] == "BRL 300.00" and lines["dan"]["mrr_total"] == ""
    page = client.get("/reports/portfolio", query_string=period).get_data(as_text=True)
    assert "recurring per month (MRR) now" in page and "USD 2,920.00" in page


# --- recurring invoices of the accounting systems ------------------------------------

QBO_RECURRING = VENDORS / "quickbooks_recurring_transactions_DOCUMENTED_SHAPE.json"
XERO_REPEATING = VENDORS / "xero_openapi_get_repeatinginvoices.json"
XERO_DELETED = VENDORS / "xero_openapi_delete_repeatinginvoice.json"
LIAM = "430fa14a-f945-44d3-9f97-5df5e28441b8"  # the contact of Xero's examples


def _mrr_at(session, slug: str, when: datetime):
    client_id = _ids(session)[slug]
    return monthly_recurring(session, [client_id], when, RATES).get(client_id)


def test_quickbooks_recurring_invoices_count_per_month_until_they_end(runner, session):
    make_client("paulsen", identities=[("quickbooks", "15")])
    make_client("amy", identities=[("quickbooks", "1")])
    summary = ingest_file(runner, "quickbooks", QBO_RECURRING)
    # five invoice templates; the recurring bill is the provider's own spending
    assert (summary["accepted"], summary["skipped"]) == (5, 1)
    paulsen = _mrr_at(session, "paulsen", NOW)
    # 1,620 with tax is 1,500 before it; 60 every two weeks is 60 x 26 / 12
    assert paulsen.by_currency == {"USD": Decimal("1630.00")} and paulsen.items == 2
    # amy: 240 a year (20 a month); the project ended 2026-06-15; the lease is inactive
    assert _mrr_at(session, "amy", NOW).by_currency == {"USD": Decimal("20.00")}
    spring = _mrr_at(session, "amy", datetime(2026, 3, 1, tzinfo=UTC))
    assert spring.by_currency == {"USD": Decimal("920.00")}
    assert _mrr_at(session, "amy", datetime(2026, 6, 15, 12, tzinfo=UTC)).by_currency == {
        "USD": Decimal("920.00")  # its last billing day still counts
    }
    again = ingest_file(runner, "quickbooks", QBO_RECURRING)
    assert (again["accepted"], again["duplicate"]) == (0, 5)


def test_a_new_quickbooks_version_of_a_template_is_its_state_from_then(runner, session, tmp_path):
    make_client("amy", identities=[("quickbooks", "1")])
    ingest_file(runner, "quickbooks", QBO_RECURRING)
    template = vendor(QBO_RECURRING.name)["QueryResponse"]["RecurringTransaction"][2]
    invoice = template["Invoice"]
    later = invoice | {
        "SyncToken": "1",
        "MetaData": invoice["MetaData"] | {"LastUpdatedTime": "2026-09-01T00:00:00Z"},
        "TotalAmt": 360.0,
        "RecurringInfo": invoice["RecurringInfo"]
        | {"ScheduleInfo": invoice["RecurringInfo"]["ScheduleInfo"] | {"EndDate": "2027-02-28"}},
    }
    ingest_file(
        runner,
        "quickbooks",
        write(tmp_path, "v1.json", [{"RecurringTransaction": {"Invoice": later}}]),
    )
    assert _mrr_at(session, "amy", NOW).by_currency == {"USD": Decimal("30.00")}
    # before the new version, the old price (the project had ended in June)
    assert _mrr_at(session, "amy", datetime(2026, 8, 1, tzinfo=UTC)).by_currency == {
        "USD": Decimal("20.00")
    }
    assert _mrr_at(session, "amy", datetime(2027, 3, 1, tzinfo=UTC)) is None  # past its end
    deleted = later | {"SyncToken": "2", "status": "Deleted"}
    deleted["MetaData"] = later["MetaData"] | {"LastUpdatedTime": "2026-10-01T00:00:00Z"}
    cdc = {"CDCResponse": [{"QueryResponse": [{"RecurringTransaction": [{"Invoice": deleted}]}]}]}
    ingest_file(runner, "quickbooks", write(tmp_path, "cdc.json", cdc))
    assert _mrr_at(session, "amy", NOW) is None
    assert _mrr_at(session, "amy", datetime(2026, 9, 15, tzinfo=UTC)) is not None


def test_xero_repeating_invoices_count_before_tax_until_deleted_or_ended(runner, session, tmp_path):
    make_client("liam", identities=[("xero", LIAM)])
    summary = ingest_file(runner, "xero", XERO_REPEATING)
    assert summary["accepted"] == 1
    # NZD 5,750 with tax, 5,000 before it, monthly from 2019-04-15 to 2019-09-30
    during = _mrr_at(session, "liam", datetime(2019, 6, 1, tzinfo=UTC))
    assert during.by_currency == {"NZD": Decimal("5000.00")} and during.items == 1
    assert _mrr_at(session, "liam", datetime(2019, 10, 1, tzinfo=UTC)) is None  # past its end
    weekly = vendor(XERO_REPEATING.name)
    item = weekly["RepeatingInvoices"][0]
    item["Schedule"] = item["Schedule"] | {"Unit": "WEEKLY", "Period": 2}
    item["Schedule"].pop("EndDate")
    item["RepeatingInvoiceID"] = "weekly-1"
    draft = copy.deepcopy(item) | {"RepeatingInvoiceID": "draft-1", "Status": "DRAFT"}
    weekly["RepeatingInvoices"].append(draft)
    summary = ingest_file(runner, "xero", write(tmp_path, "weekly.json", weekly))
    assert (summary["accepted"], summary["skipped"]) == (1, 1)  # a draft raises no invoices
    # every two weeks: 5,000 x 26 / 12
    assert _mrr_at(session, "liam", NOW).by_currency == {"NZD": Decimal("10833.33")}
    # Xero's own example of a delete answers the template DELETED: it stops counting
    deleted = vendor(XERO_DELETED.name)
    deleted["RepeatingInvoices"][0] |= {
        "RepeatingInvoiceID": "weekly-1",
        "Schedule": item["Schedule"],
    }
    ingest_file(runner, "xero", write(tmp_path, "deleted.json", deleted))
    assert _mrr_at(session, "liam", NOW) is None


def test_an_invoice_raised_from_a_repeating_invoice_is_still_an_invoice(runner, session, tmp_path):
    make_client("barney", identities=[("xero", "a3675fc4-f8dd-4f03-ba5b-f1870566bcd7")])
    invoices = vendor("xero_openapi_get_invoices.json")
    for invoice in invoices["Invoices"]:
        invoice["RepeatingInvoiceID"] = "428c0d75-909f-4b04-8403-a48dc27283b0"
    ingest_file(runner, "xero", write(tmp_path, "inv.json", invoices))
    kinds = session.scalars(select(Event.kind).where(Event.origin == "xero")).all()
    assert kinds and not [kind for kind in kinds if kind.startswith("subscription")]
