"""The portfolio report as HTML, PDF, CSV and JSON data.

`portfolio_data` turns the report's frames into plain Python values once (no
NaN, NaT or numpy scalars past this point); the page, the PDF and the API all
show that one structure, so they cannot disagree.
"""

import io
import math
from datetime import date, datetime
from decimal import Decimal

import pandas as pd
from flask import current_app, render_template, url_for

from crm.formatting import zone
from crm.vocabulary import TIERS
from reports.pdf import render_pdf
from reports.portfolio.analysis import FLAG_LABELS
from reports.portfolio.flag_frames import FLAG_COLUMNS, FLAGS_LISTED
from reports.portfolio.period import Period
from reports.portfolio.report import PortfolioReport
from reports.portfolio.tiers import TOP_SHARE

# The page and the PDF list this many flags (as many as the report holds:
# the API has the same), tier changes and circle members; the CSV has every
# client's counts.
FLAGS_SHOWN = FLAGS_LISTED
TIER_CHANGES_SHOWN = 200
NAMES_SHOWN = 40
PAGE_SIZES = ("A4", "Letter")
# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CENTS = Decimal("0.01")
# What a listed flag shows, of analysis.ranked_flags' columns.
_FLAG_FIELDS = (
    "slug",
    "name",
    "tier",
    "flag",
    "severity",
    "labels",
    "type",
    "key",
    "title",
    "since",
    "days",
    "amount",
    "currency",
    "owner",
)


def portfolio_data(report: PortfolioReport, flags_limit: int | None = None) -> dict:
    """The whole report as PortfolioSchema's structure, in Python values;
    only the `flags_limit` most severe flags, when given."""
    clients = _records(report.clients)
    slug_of = {row["client_id"]: row["slug"] for row in clients}
    # the client table is in name order
    position = {row["client_id"]: number for number, row in enumerate(clients)}
    currencies = list(report.picture.revenue)

    def slugs(ids) -> list[str]:
        """By name."""
        return [slug_of[client_id] for client_id in sorted(ids, key=position.get)]

    picture = report.picture
    return {
        "period": report.period,
        "generated_at": report.generated_at,
        "active_clients": len(clients),
        "revenue": [
            _circle(circle, [slug_of[i] for i in circle.members])
            | {"currency": currency, "total": report.revenue_totals[currency]}
            for currency, circle in picture.revenue.items()
        ],
        "revenue_total": report.revenue_total,
        "rates_stated": report.rates_stated,
        "tickets": _circle(picture.tickets, [slug_of[i] for i in picture.tickets.members])
        | {"total": report.tickets_total},
        "overlap": {
            "both": slugs(picture.both),
            "revenue_only": slugs(picture.revenue_only),
            "tickets_only": slugs(picture.tickets_only),
        },
        "tier_changes": [row for row in clients if row["suggested_tier"] != row["tier"]],
        "timezones": _groups(report.timezones, "timezone"),
        "languages": _groups(report.languages, "language"),
        "categories": [_plain(row) for row in report.categories.to_dict("records")],
        "flags": [
            _flag(_plain(row))
            for row in report.flags[list(_FLAG_FIELDS)].head(flags_limit).to_dict("records")
        ],
        "flags_total": report.flags_total,
        "meeting_overdue_clients": report.meeting_overdue_clients,
        "clients": [_client(row, currencies) | _mrr(row, report.mrr_totals) for row in clients],
        "mrr": [{"currency": code, "amount": amount} for code, amount in report.mrr_totals.items()],
        "mrr_total": report.mrr_total,
    }


def portfolio_html(report: PortfolioReport, template: str, **context) -> str:
    """`template` shows the report; `for_pdf` (default False) leaves out the
    forms and makes every link absolute."""
    data = portfolio_data(report, flags_limit=FLAGS_SHOWN)
    context.setdefault("for_pdf", False)
    return render_template(template, data=data, **_template_helpers(data), **context)


def portfolio_pdf(report: PortfolioReport) -> bytes:
    html = portfolio_html(report, "reports/portfolio_pdf.html", for_pdf=True, page_size=page_size())
    return render_pdf(html)


def period_label(period: Period) -> str:
    return f"{period.start:%d %b %Y} – {period.end:%d %b %Y}"


def page_size() -> str:
    """The PDF page size setting, A4 or Letter (anything else is A4)."""
    wanted = str(current_app.config.get("PDF_PAGE_SIZE") or "A4")
    return next((size for size in PAGE_SIZES if size.lower() == wanted.lower()), "A4")


def portfolio_csv(report: PortfolioReport) -> str:
    """One row per client: its figures, circles, flags and suggested tier; its
    revenue in the reporting currency with the rates used, and in each currency;
    its MRR likewise (mrr_total, mrr_unconverted, mrr_<CUR>)."""
    table = report.clients.drop(columns="client_id")
    # the revenue in the reporting currency, then in each original currency (revenue_EUR, ...)
    leading = ["slug", "name", "tier", "suggested_tier", "reason", "reporting_currency"]
    leading += ["revenue_total", "revenue_unconverted"]
    table = table[leading + [c for c in table.columns if c not in leading]]
    table.insert(leading.index("revenue_unconverted") + 1, "exchange_rates", report.rates_stated)
    texts = ("name", "slug", "reason", "account_manager", "timezone", "language")
    for column in table.columns:
        if column in (*texts, "revenue_unconverted", "mrr_unconverted"):
            table[column] = table[column].map(_no_formula)
        elif column.startswith(("revenue_", "mrr_")):
            table[column] = table[column].map(_csv_amount)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def file_stem(report: PortfolioReport) -> str:
    return f"portfolio-{report.period.start}-to-{report.period.end}"


# --- helpers -----------------------------------------------------------------------


def _plain(row: dict) -> dict:
    return {key: _python(value) for key, value in row.items()}


def _records(frame: pd.DataFrame) -> list[dict]:
    """`frame`'s rows as _plain makes them, a column at a time: cell by cell,
    10,000 clients cost most of a second."""
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            values = [_python(value) for value in column]
        else:
            values = column.astype(object).where(column.notna(), None).tolist()
        columns[name] = values
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _python(value):
    """A DataFrame cell as the Python value templates and schemas expect."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (Decimal, date, datetime, str)):
        return value.item()  # a numpy scalar
    return value


def _circle(circle, members: list[str]) -> dict:
    return {
        "size": circle.size,
        "contributors": circle.contributors,
        "covered": circle.covered,
        "share_of_total": circle.covered_share,
        "share_of_clients": circle.client_share,
        "members": members,
    }


def _groups(frame: pd.DataFrame, column: str) -> list[dict]:
    return [
        {"name": row[column], "clients": row["clients"], "tickets": row["tickets"]}
        for row in map(_plain, frame.to_dict("records"))
    ]


def _flag(row: dict) -> dict:
    key = row["key"] or None
    return {
        "client": row["slug"],
        "name": row["name"],
        "tier": row["tier"],
        "flag": FLAG_LABELS[row["flag"]],
        "severity": row["severity"],
        "labels": row["labels"].split(", "),
        "thread_type": row["type"],
        "key": key,
        "title": row["title"],
        "since": row["since"],
        "days": row["days"],
        "amount": row["amount"],
        "currency": row["currency"],
        "owner": row["owner"],
        # A recurring alert stands for its latest occurrence's thread.
        "url": url_for(
            "timeline.thread_page",
            slug=row["slug"],
            thread_type=row["type"],
            key=key,
            _external=True,
        )
        if key
        else None,
    }


def _client(row: dict, currencies: list[str]) -> dict:
    return row | {
        "revenue": [
            {"currency": currency, "amount": row[f"revenue_{currency}"]}
            for currency in currencies
            if row.get(f"revenue_{currency}") is not None
        ],
        "flags": {name: row[name] for name in FLAG_COLUMNS if row[name]},
        "flagged_threads": row["flags"],
    }


def _mrr(row: dict, currencies) -> dict:
    """A client's recurring revenue per month, per currency (reports.portfolio.recurring)."""
    return {
        "mrr": [
            {"currency": code, "amount": row[f"mrr_{code}"]}
            for code in currencies
            if row.get(f"mrr_{code}") is not None
        ]
    }


def _template_helpers(data: dict) -> dict:
    """What the templates look up beyond the data: clients by slug, the
    assigned x suggested tier counts, and each time zone's offset today."""
    clients = {row["slug"]: row for row in data["clients"]}
    tier_counts = {tier: dict.fromkeys(TIERS, 0) for tier in TIERS}
    for row in data["clients"]:
        if row["tier"] in tier_counts and row["suggested_tier"] in TIERS:
            tier_counts[row["tier"]][row["suggested_tier"]] += 1
    offsets = {
        group["name"]: _utc_offset(group["name"], data["generated_at"])
        for group in data["timezones"]
    }
    largest_category = max((row["share"] for row in data["categories"]), default=0)
    return {
        "period_label": period_label(data["period"]),
        "largest_category": largest_category,
        "clients_by_slug": clients,
        "tiers": TIERS,
        "top_share": f"{float(TOP_SHARE):.0%}",
        "tier_counts": tier_counts,
        "utc_offsets": offsets,
        "flags_shown": FLAGS_SHOWN,
        "tier_changes_shown": TIER_CHANGES_SHOWN,
        "names_shown": NAMES_SHOWN,
    }


def _utc_offset(name: str, moment: datetime) -> str:
    """ "UTC+09:00" for Asia/Tokyo (at `moment`, so summer time counts)."""
    offset = moment.astimezone(zone(name)).strftime("%z")
    if offset in ("+0000", ""):
        return "UTC"
    return f"UTC{offset[:3]}:{offset[3:]}"


def _csv_amount(value) -> str:
    """Exact, with cents (as much precision as stored where cents are not enough)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    exact = Decimal(value)
    rounded = exact.quantize(_CENTS)
    return format(rounded if rounded == exact else exact.normalize(), "f")


def _no_formula(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
