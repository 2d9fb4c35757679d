"""The portfolio report of the demo portfolio, checked against direct SQL.

The demo is loaded once for the module (`flask demo load` into the session's
test database) and the tables are emptied afterwards, as the `app` fixture
does after each test; these tests use their own app and never that fixture.
Every figure is compared with a plain SQL query over the events or thread
states, and the circles are recomputed here from those numbers.
"""

import csv
import io
import math
import os
import shutil
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from crm import money as money_rules
from crm.clients.directory import MAX_PER_PAGE, DirectoryFilters, client_directory
from crm.extensions import db
from crm.flags import KINDS, LABELS, SEVERITIES
from crm.models.types import utcnow
from reports.portfolio.period import last_twelve_months
from tests.accounts import signed_in_client
from tests.helpers import demo_loaded

ALL_FLAGS = set(LABELS.values())


@pytest.fixture(scope="module")
def demo(database_url, tmp_path_factory):
    with demo_loaded(database_url, tmp_path_factory.mktemp("demo")) as app:
        yield app


@pytest.fixture(scope="module")
def period(demo):
    return last_twelve_months(utcnow().date())


@pytest.fixture(scope="module")
def args(period):
    return {"from": period.start.isoformat(), "to": period.end.isoformat()}


@pytest.fixture(scope="module")
def report(demo, args):
    response = signed_in_client(demo).get("/api/v1/reports/portfolio", query_string=args)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rows(sql: str, **params) -> list:
    return db.session.execute(text(sql), params).all()


def bounds(period) -> dict:
    """The period's bounds as the engine compares them with stored times."""
    start = datetime.combine(period.start, time(0), UTC)
    end = datetime.combine(period.end + timedelta(days=1), time(0), UTC)
    if db.engine.dialect.name == "sqlite":  # stored as naive UTC text
        return {"start": f"{start:%Y-%m-%d %H:%M:%S}", "end": f"{end:%Y-%m-%d %H:%M:%S}"}
    return {"start": start, "end": end}


def money(value) -> Decimal:
    """A stored amount: SQLite keeps ten-thousandths as an integer."""
    if db.engine.dialect.name == "sqlite":
        return Decimal(value) / 10_000
    return Decimal(value)


def fewest_making_80_percent(amounts: dict[str, Decimal | int]) -> list[str]:
    """The circle recomputed the plain way: biggest first until 80% is reached,
    clients of equal amounts in the order of their ids."""
    ids = dict(rows("SELECT slug, id FROM clients"))
    positive = {slug: amount for slug, amount in amounts.items() if amount > 0}
    total = sum(positive.values())
    taken, running = [], 0
    for slug, amount in sorted(positive.items(), key=lambda item: (-item[1], ids[item[0]])):
        if running * 5 >= total * 4:
            break
        taken.append(slug)
        running += amount
    return taken


def revenue_by_currency(period) -> dict[str, dict[str, Decimal]]:
    collected = rows(
        """
        SELECT c.slug, e.currency, e.kind, SUM(e.amount)
        FROM events e JOIN clients c ON c.id = e.client_id
        WHERE c.status = 'active' AND e.kind IN ('payment.received', 'refund.issued')
          AND e.occurred_at >= :start AND e.occurred_at < :end
        GROUP BY c.slug, e.currency, e.kind
        """,
        **bounds(period),
    )
    by_currency: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for slug, currency, kind, total in collected:
        sign = 1 if kind == "payment.received" else -1
        by_currency[currency][slug] += sign * money(total)
    return by_currency


def tickets_opened(period) -> dict[str, int]:
    counted = rows(
        """
        SELECT c.slug, COUNT(*) FROM events e JOIN clients c ON c.id = e.client_id
        WHERE c.status = 'active' AND e.kind = 'ticket.opened'
          AND e.occurred_at >= :start AND e.occurred_at < :end
        GROUP BY c.slug
        """,
        **bounds(period),
    )
    return dict(counted)


def test_revenue_is_what_was_collected_per_client_and_currency(report, period):
    expected = revenue_by_currency(period)
    assert {"EUR", "USD", "BRL", "JPY"} <= set(expected)
    reported = {
        (client["slug"], line["currency"]): Decimal(line["amount"])
        for client in report["clients"]
        for line in client["revenue"]
    }
    assert reported == {
        (slug, currency): amount
        for currency, amounts in expected.items()
        for slug, amount in amounts.items()
    }
    totals = {circle["currency"]: Decimal(circle["total"]) for circle in report["revenue"]}
    assert totals == {currency: sum(amounts.values()) for currency, amounts in expected.items()}


def test_each_currency_circle_is_the_fewest_clients_making_80_percent(report, period):
    expected = revenue_by_currency(period)
    for circle in report["revenue"]:
        amounts = expected[circle["currency"]]
        assert circle["members"] == fewest_making_80_percent(amounts), circle["currency"]
        covered = sum(amounts[slug] for slug in circle["members"])
        without_last = covered - amounts[circle["members"][-1]]
        total = sum(amounts.values())
        assert covered / total >= Decimal("0.8") > without_last / total
        assert circle["share_of_total"] == pytest.approx(float(covered / total))
        assert circle["contributors"] == len(amounts)


def test_tickets_and_their_circle(report, period):
    expected = tickets_opened(period)
    reported = {c["slug"]: c["tickets"] for c in report["clients"] if c["tickets"]}
    assert reported == expected
    assert report["tickets"]["total"] == sum(expected.values())
    assert report["tickets"]["members"] == fewest_making_80_percent(expected)


def test_the_overlap_of_the_circles(report):
    revenue = {slug for circle in report["revenue"] for slug in circle["members"]}
    tickets = set(report["tickets"]["members"])
    overlap = report["overlap"]
    assert set(overlap["both"]) == revenue & tickets != set()
    assert set(overlap["revenue_only"]) == revenue - tickets
    assert set(overlap["tickets_only"]) == tickets - revenue
    flagged = {
        c["slug"]: (c["in_revenue_circle"], c["in_ticket_circle"]) for c in report["clients"]
    }
    assert all(flagged[slug] == (True, True) for slug in overlap["both"])


def in_top_decile(figures: dict, population: int) -> set:
    """The clients beaten or tied by no more than a tenth of `population`
    (rounded up): ties across the boundary are all out."""
    rank = max(1, math.ceil(population / 10))
    return {
        slug
        for slug, figure in figures.items()
        if figure > 0 and sum(other >= figure for other in figures.values()) <= rank
    }


def test_suggested_tiers_take_only_the_top_deciles(demo, report, period):
    recent = {
        slug
        for (slug,) in rows(
            "SELECT slug FROM clients WHERE status = 'active' AND customer_since > :day",
            day=period.end - timedelta(days=90),
        )
    }
    assert len(recent) == 8  # the demo's new clients signed 20 to 80 days ago
    clients = report["clients"]
    rates = money_rules.rates_from_config(demo.config)
    revenue = {}
    for client in clients:
        converted = money_rules.total(
            ((r["currency"], Decimal(r["amount"])) for r in client["revenue"]), rates
        )
        assert Decimal(client["revenue_total"]) == converted.amount, client["slug"]
        revenue[client["slug"]] = converted.amount
    tickets = {client["slug"]: client["tickets"] for client in clients}
    key, problem = in_top_decile(revenue, len(clients)), in_top_decile(tickets, len(clients))
    assert 0 < len(key) <= math.ceil(len(clients) / 10)
    revenue_median = statistics.median(revenue.values())
    tickets_median = statistics.median(tickets.values())
    for client in clients:
        slug, tier = client["slug"], client["tier"]
        if slug in recent:
            expected = "new"
        elif slug in key:
            expected = "key"
        elif slug in problem:
            expected = "problem"
        elif (
            (tier == "key" and (revenue[slug] <= 0 or revenue[slug] < revenue_median))
            or (tier == "problem" and (tickets[slug] == 0 or tickets[slug] < tickets_median))
            or tier == "new"
        ):
            expected = "standard"
        else:
            expected = tier
        assert client["suggested_tier"] == expected, slug
    changes = {c["slug"] for c in report["tier_changes"]}
    assert changes == {c["slug"] for c in clients if c["suggested_tier"] != c["tier"]}
    assert changes
    assert len(changes) < len(clients) / 2  # suggestions, not a reshuffle


def test_clients_per_time_zone_and_language(report, period):
    zones = dict(
        rows("SELECT timezone, COUNT(*) FROM clients WHERE status = 'active' GROUP BY timezone")
    )
    assert {z["name"]: z["clients"] for z in report["timezones"]} == zones
    assert zones["Europe/Lisbon"] == 12
    languages = dict(
        rows("SELECT language, COUNT(*) FROM clients WHERE status = 'active' GROUP BY language")
    )
    assert {g["name"]: g["clients"] for g in report["languages"]} == languages
    tickets = tickets_opened(period)
    zone_of = dict(rows("SELECT slug, timezone FROM clients"))
    per_zone = Counter()
    for slug, count in tickets.items():
        per_zone[zone_of[slug]] += count
    assert {z["name"]: z["tickets"] for z in report["timezones"]} == dict(per_zone)


def test_top_ticket_categories(report, period):
    counted = rows(
        """
        SELECT category, COUNT(*), COUNT(DISTINCT client_id) FROM entities
        WHERE type = 'ticket' AND opened_at >= :start AND opened_at < :end
        GROUP BY category ORDER BY COUNT(*) DESC, category
        """,
        **bounds(period),
    )
    assert [(c["category"], c["tickets"], c["clients"]) for c in report["categories"]] == [
        tuple(row) for row in counted[:10]
    ]
    assert sum(c["share"] for c in report["categories"]) == pytest.approx(1.0)


def test_open_flags_agree_with_the_client_directory(report):
    filters = DirectoryFilters(status="active", flagged=True, per_page=MAX_PER_PAGE)
    page = client_directory(db.session, filters, now=utcnow())
    directory = {row.slug: {kind: getattr(row, f"{kind}s") for kind in KINDS} for row in page.rows}
    reported = {c["slug"]: c["flags"] for c in report["clients"] if c["flags"]}
    assert reported == {
        slug: {name: count for name, count in counts.items() if count}
        for slug, counts in directory.items()
    }


def test_every_kind_of_flag_shows_up_ranked_by_severity(report):
    flags = report["flags"]
    assert {flag["flag"] for flag in flags} == ALL_FLAGS
    ranks = [SEVERITIES.index(flag["severity"]) for flag in flags]
    assert ranks == sorted(ranks)
    for severity in SEVERITIES:  # the longest waiting first
        since = [flag["since"] for flag in flags if flag["severity"] == severity]
        assert since == sorted(since)
    (disputes,) = rows("SELECT COUNT(*) FROM entities WHERE type = 'dispute' AND closed_at IS NULL")
    assert sum(flag["flag"] == "open dispute" for flag in flags) == disputes[0] == 2
    dispute = next(flag for flag in flags if flag["flag"] == "open dispute")
    assert dispute["severity"] == "critical"
    assert dispute["amount"] and dispute["currency"] and dispute["owner"]
    assert dispute["url"].endswith(f"/clients/{dispute['client']}/threads/dispute/{dispute['key']}")


def test_the_page_shows_the_report_with_one_accept_form_per_suggestion(demo, args, report):
    page = signed_in_client(demo).get("/reports/portfolio", query_string=args)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for heading in ("The 80/20 picture", "Suggested tiers", "Open flags across the portfolio"):
        assert heading in html
    assert html.count('action="/reports/portfolio/tiers"') == len(report["tier_changes"])
    dispute = next(flag for flag in report["flags"] if flag["flag"] == "open dispute")
    assert dispute["name"] in html and dispute["title"] in html


def test_the_pdf_reads_well(demo, args, report, tmp_path):
    response = signed_in_client(demo).get("/reports/portfolio.pdf", query_string=args)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.data))
    pages = [page.extract_text() for page in reader.pages]
    text_all = "\n".join(pages)
    for words in ("Portfolio report", "The 80/20 picture", "Top ticket categories"):
        assert words in text_all
    for flag in report["flags"][:20]:
        assert flag["name"] in text_all
    assert f"Page 1 of {len(pages)}" in pages[0]
    assert "Make key" not in text_all  # no forms on paper

    import pypdfium2 as pdfium

    png = tmp_path / "portfolio-page-1.png"
    pdfium.PdfDocument(response.data)[0].render(scale=1.5).to_pil().save(png)
    assert png.stat().st_size > 10_000
    artifacts = os.environ.get("TOUCHLINE_TEST_ARTIFACTS")
    if artifacts:
        os.makedirs(artifacts, exist_ok=True)
        shutil.copy(png, artifacts)
        (tmp_path / "portfolio.pdf").write_bytes(response.data)
        shutil.copy(tmp_path / "portfolio.pdf", artifacts)


def test_the_csv_has_one_row_per_client_with_its_figures(demo, args, report):
    response = signed_in_client(demo).get("/reports/portfolio.csv", query_string=args)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(table) == report["active_clients"] == 44
    by_slug = {row["slug"]: row for row in table}
    flagged_threads = Counter(flag["client"] for flag in report["flags"])
    for client in report["clients"]:
        row = by_slug[client["slug"]]
        assert row["tier"] == client["tier"]
        assert row["suggested_tier"] == client["suggested_tier"]
        assert int(row["tickets"]) == client["tickets"]
        for line in client["revenue"]:
            assert Decimal(row[f"revenue_{line['currency']}"]) == Decimal(line["amount"])
        assert int(row["flags"]) == flagged_threads[client["slug"]]
    for circle in report["revenue"]:
        column = f"revenue_{circle['currency']}"
        total = sum(Decimal(row[column]) for row in table if row[column])
        assert total == Decimal(circle["total"])
