"""A briefing as HTML (a page in the app, a standalone file, the PDF's source) and as PDF.

One set of sections (templates/reports/_briefing_body.html) serves all three:
- the page (`briefing_page`) sits in the app's layout and links threads
  relative to the app;
- the standalone document (`briefing_html`) carries its styles inline, so the
  file `flask briefing --html` writes reads well opened from disk;
- the PDF's source (`briefing_html(for_pdf=True)`) links the print
  stylesheet and the shipped font as "/static/...", which reports.pdf serves
  (and nothing else). Links in a PDF can only work with the app's address,
  `link_base`; without it a thread is named by its type and key instead.

Rendering needs an app context (templates, settings), not a request.
"""

from datetime import datetime
from pathlib import Path

from flask import current_app, render_template
from markupsafe import Markup

from crm.formatting import span
from crm.formatting import zone as client_zone
from crm.vocabulary import SOURCES
from reports.briefing.charts import activity_chart, alerts_chart, tickets_chart
from reports.briefing.model import KIND_LABELS, Briefing
from reports.pdf import render_pdf

PAGE_SIZES = {"a4": "A4", "letter": "letter"}
DEFAULT_PAGE_SIZE = "A4"
SCREEN_STYLESHEET = "css/briefing.css"
PRINT_STYLESHEET = "css/briefing-print.css"
# Talking point sections: (attribute, heading, what an empty one says).
TALKING_SECTIONS = (
    ("work_done", "Work completed", "No tickets were solved in the period."),
    ("deals_won", "Deals won", "No deals were won in the period."),
    ("renewals_due", "Renewals due in the next 90 days", "No renewals are due."),
    ("open_quotes", "Open quotes", "No quotes are open."),
    ("campaigns", "Campaigns they received lately", "They received no campaigns lately."),
)
SOURCE_LABELS = {
    "billing": "Billing",
    "rmm": "Monitoring (RMM)",
    "tickets": "Tickets",
    "marketing": "Marketing",
    "sales": "Sales",
    "manual": "Notes, calls, meetings",
}


class BadPageSize(ValueError):
    pass


def page_size(setting: str | None) -> str:
    """The CSS page size for TOUCHLINE_PDF_PAGE_SIZE ("A4" or "Letter", any case)."""
    name = (setting or DEFAULT_PAGE_SIZE).strip().lower()
    if name not in PAGE_SIZES:
        raise BadPageSize(f"TOUCHLINE_PDF_PAGE_SIZE must be A4 or Letter, not {setting!r}")
    return PAGE_SIZES[name]


def briefing_html(
    briefing: Briefing, for_pdf: bool = False, *, link_base: str | None = None
) -> str:
    """A whole HTML document: the PDF's source, or a file that stands alone."""
    context = _context(briefing, for_pdf=for_pdf, link_base=link_base)
    if not for_pdf:
        context["inline_css"] = _stylesheet(SCREEN_STYLESHEET)
    return render_template("reports/briefing.html", **context)


def briefing_body(
    briefing: Briefing, *, for_pdf: bool = False, link_base: str | None = None
) -> Markup:
    """The briefing's sections alone, for a document that holds several briefings
    (reports.briefing.batch): ids inside are prefixed with the client's slug."""
    context = _context(briefing, for_pdf=for_pdf, link_base=link_base)
    return Markup(render_template("reports/_briefing_body.html", **context))


def briefing_page(briefing: Briefing) -> str:
    """The briefing inside the app's layout (needs a request, for the navigation)."""
    return render_template("reports/briefing_page.html", **_context(briefing, link_base=""))


def briefing_pdf(briefing: Briefing, *, link_base: str | None = None) -> bytes:
    return render_pdf(briefing_html(briefing, for_pdf=True, link_base=link_base))


def pdf_filename(briefing: Briefing) -> str:
    return f"briefing-{briefing.client.slug}-{briefing.period.meeting_date.isoformat()}.pdf"


def _context(briefing: Briefing, *, for_pdf: bool = False, link_base: str | None) -> dict:
    zone = client_zone(briefing.client.timezone)
    reference = briefing.period.end

    def local_day(moment: datetime | None, year: bool = False) -> str:
        if moment is None:
            return "—"
        local = moment.astimezone(zone)
        text = f"{local.day} {local:%b}"
        return f"{text} {local.year}" if year or local.year != reference.year else text

    def link(path: str | None) -> str | None:
        """Where a link to an app page points, or None when it cannot work (a PDF
        without the app's address)."""
        if not path or link_base is None:
            return None
        return link_base.rstrip("/") + path

    prefix = f"briefing-{briefing.client.slug}"
    return {
        "briefing": briefing,
        "for_pdf": for_pdf,
        "page_size": page_size(current_app.config.get("PDF_PAGE_SIZE")),
        "activity_svg": activity_chart(briefing.numbers.activity, f"{prefix}-activity"),
        "tickets_svg": tickets_chart(briefing.numbers.ticket_trend, f"{prefix}-tickets"),
        "alerts_svg": alerts_chart(briefing.numbers.alert_trend, f"{prefix}-alerts"),
        "duration": span,
        "severity_counts": briefing.severity_counts,
        "kind_labels": KIND_LABELS,
        "talking_sections": TALKING_SECTIONS,
        "source_labels": {source: SOURCE_LABELS.get(source, source) for source in SOURCES},
        "local_day": local_day,
        "link": link,
    }


def _stylesheet(name: str) -> Markup:
    """A stylesheet's text to put inline (it is ours: static files only)."""
    path = Path(current_app.static_folder) / name
    return Markup(path.read_text(encoding="utf-8"))
