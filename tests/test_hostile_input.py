"""Hostile strings, ingested through connectors, shown on every page and in the PDF.

Markup, event handlers, `javascript:` links, SQL, right-to-left overrides,
zalgo text and 10,000-character values come in through the generic formats
and two vendor connectors. Every page must show them as text, no link may
lead to a script, and the database must hold exactly what was sent.
"""

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, inspect, select

from crm.extensions import db
from crm.models import Client, Contact, Entity, Event, Group, InboxRecord
from reports.briefing.build import thread_path
from tests.helpers import ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
COMBINING = "".join(chr(0x300 + offset) for offset in range(12))
HOSTILE = {
    "script": "<script>alert(1)</script>",
    "img": "<img src=x onerror=alert(1)>",
    "attribute": '" onmouseover="alert(1)',
    "sql": "'; DROP TABLE events; --",
    "rtl": "Invoice \u202egpj.exe",
    "zalgo": "".join(letter + COMBINING for letter in "zalgo"),
}
# The "link back to source" field: none of these may become a link.
HOSTILE_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/steal",
]
SAFE_URL = "https://helpdesk.example/tickets/42"
LONG = ("Ten thousand characters, every one of them kept. " * 210)[:9_999] + "!"
LONG_ID = "in_" + "x" * 240  # over the 200 of a key, under the inbox's 255
VICTIM = "victim"
VICTIM_NAME = " ".join(HOSTILE.values())
ZENDESK_ORGANIZATION = 424242
STRIPE_CUSTOMER = "cus_hostile"
DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:")
LINK_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "background"}


# --- what goes in ----------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _clients() -> list[dict]:
    victim = {
        "slug": VICTIM,
        "name": VICTIM_NAME,
        "tier": "key",
        "account_manager": HOSTILE["attribute"],
        "notes": LONG,
        "groups": [{"kind": "custom", "name": text} for text in HOSTILE.values()],
        "contacts": [{"name": text, "role": text[:120]} for text in HOSTILE.values()],
        "identities": [
            {"system": "zendesk", "key": str(ZENDESK_ORGANIZATION)},
            {"system": "stripe", "key": STRIPE_CUSTOMER},
        ],
    }
    others = [
        {"slug": f"hostile-{key}", "name": text, "account_manager": text[:120]}
        for key, text in HOSTILE.items()
    ]
    too_long = {"slug": "too-long", "name": LONG}
    return [victim, *others, too_long]


def _ticket(id: str, at: datetime, **fields) -> dict:
    record = {"id": id, "kind": "ticket.opened", "occurred_at": at.isoformat(), "client": VICTIM}
    return record | fields


def _events(now: datetime) -> list[dict]:
    """Open tickets over 30 days old (flags in the briefing), solved ones
    (its talking points), links, and records that cannot be stored."""
    stale, recent = now - timedelta(days=40), now - timedelta(days=5)
    records = []
    for key, text in HOSTILE.items():
        records.append(
            _ticket(
                f"open-{key}",
                stale,
                thread=text,
                title=text,
                detail=text,
                actor=text,
                assignee=text,
                category=text[:80],
                priority=text[:32],
            )
        )
        records.append(
            _ticket(f"done-{key}", recent, kind="ticket.resolved", thread=f"D-{key}", title=text)
        )
        records.append(_ticket(f"lost-{key}", recent, client=None, account=text, title=text))
    for number, url in enumerate([*HOSTILE_URLS, SAFE_URL]):
        records.append(_ticket(f"link-{number}", recent, thread=f"L-{number}", url=url))
    records.append(_ticket("long-detail", recent, thread="LONG", title="Long detail", detail=LONG))
    records.append(_ticket("long-title", recent, thread="LONG-TITLE", title=LONG))
    return records


def _zendesk_ticket(now: datetime) -> dict:
    document = json.loads((VENDORS / "zendesk_ticket_create_api_response.json").read_text())
    ticket = document["ticket"]
    ticket.update(
        subject=f"{HOSTILE['script']} {HOSTILE['attribute']}",
        description=HOSTILE["img"],
        url="javascript:alert(1)",
        status="open",
        organization_id=ZENDESK_ORGANIZATION,
        created_at=(now - timedelta(days=1)).isoformat(),
        updated_at=(now - timedelta(days=1)).isoformat(),
    )
    return document


def _stripe_invoice(now: datetime, **changes) -> dict:
    invoice = json.loads((VENDORS / "stripe_openapi_fixture_invoice.json").read_text())
    invoice.update(
        customer=STRIPE_CUSTOMER,
        status="open",
        number=HOSTILE["img"],
        description=HOSTILE["sql"],
        created=int(now.timestamp()) - 3600,
    )
    return invoice | changes


def _write(path: Path, document) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def ingest_hostile_world(runner, tmp_path: Path) -> dict:
    """Everything above, through `flask ingest`; the summaries by connector."""
    now = _now()
    summaries = {
        "clients": ingest_file(runner, "clients", _write(tmp_path / "clients.json", _clients())),
    }
    events = tmp_path / "tickets.ndjson"
    events.write_text("".join(json.dumps(r) + "\n" for r in _events(now)), encoding="utf-8")
    summaries["tickets"] = ingest_file(runner, "tickets", events)
    zendesk = _write(tmp_path / "zendesk.json", _zendesk_ticket(now))
    summaries["zendesk"] = ingest_file(runner, "zendesk", zendesk)
    invoices = [
        _stripe_invoice(now),
        _stripe_invoice(now, id="in_long_number", number=LONG),
        _stripe_invoice(now, id=LONG_ID),
    ]
    summaries["stripe"] = ingest_file(runner, "stripe", _write(tmp_path / "stripe.json", invoices))
    return summaries


# --- reading pages ---------------------------------------------------------------


class _Page(HTMLParser):
    """Every element with its attributes, and the text as a reader sees it."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def _as_browsers_read(url: str) -> str:
    """A link as a browser reads it: without tabs, newlines and leading
    spaces or control characters, scheme in any case."""
    cleaned = "".join(ch for ch in url if ch not in "\t\n\r")
    return cleaned.lstrip("".join(map(chr, range(0x21)))).lower()


def assert_inert(html: str) -> _Page:
    """No element or attribute of a hostile string exists in the page."""
    page = _Page(html)
    for tag, attrs in page.elements:
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), (tag, attrs)
        assert tag != "img" or attrs.get("src") != "x", attrs
        handlers = [name for name in attrs if name.startswith("on")]
        assert not handlers, (tag, attrs)
        if tag == "link" and attrs.get("rel") == "icon":
            continue  # the app's own inline icon (base.html), not record text
        for name in LINK_ATTRIBUTES & attrs.keys():
            target = _as_browsers_read(attrs[name])
            assert not target.startswith(DANGEROUS_SCHEMES), (tag, attrs)
            assert not target.startswith("//") and "evil.example" not in target, (tag, attrs)
    assert "alert(1)</script>" not in html.replace("&lt;script&gt;alert(1)&lt;/script&gt;", "")
    return page


def assert_shown(page: _Page, *texts: str) -> None:
    for text in texts:
        assert text in page.text, f"{text!r} is not shown as text"


def _get(client, url: str) -> _Page:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return assert_inert(response.get_data(as_text=True))


# --- the tests -------------------------------------------------------------------


@pytest.mark.parametrize(
    "live",
    [
        f"<p>{HOSTILE['script']}</p>",
        f"<p>{HOSTILE['img']}</p>",
        f'<a title="{HOSTILE["attribute"]}">x</a>',
        '<a href="JaVaScRiPt:alert(1)">x</a>',
        '<a href=" java\tscript:alert(1)">x</a>',
        '<a href="//evil.example/steal">x</a>',
        '<iframe src="data:text/html,hi"></iframe>',
    ],
)
def test_the_page_check_finds_live_markup(live):
    with pytest.raises(AssertionError):
        assert_inert(f"<html><body>{live}</body></html>")


def test_what_was_sent_is_stored_verbatim_and_the_sql_ran_nowhere(runner, session, tmp_path):
    summaries = ingest_hostile_world(runner, tmp_path)
    assert (summaries["clients"]["accepted"], summaries["clients"]["rejected"]) == (7, 1)

    victim = session.scalar(select(Client).where(Client.slug == VICTIM))
    assert victim.name.encode() == VICTIM_NAME.encode()
    assert victim.notes.encode() == LONG.encode()
    assert victim.account_manager.encode() == HOSTILE["attribute"].encode()
    contacts = session.scalars(select(Contact.name).where(Contact.client_id == victim.id))
    groups = session.scalars(select(Group.name))
    assert sorted(contacts) == sorted(HOSTILE.values())
    assert set(groups) >= set(HOSTILE.values())
    for key, text in HOSTILE.items():
        other = session.scalar(select(Client).where(Client.slug == f"hostile-{key}"))
        assert other.name.encode() == text.encode()

        stored = session.scalar(select(Event).where(Event.external_id == f"open-{key}"))
        sent = (text, text, text, text)
        held = (stored.title, stored.detail, stored.actor, stored.thread_key)
        assert [value.encode() for value in held] == [value.encode() for value in sent]
        entity = session.scalar(select(Entity).where(Entity.type == "ticket", Entity.key == text))
        assert (entity.title, entity.assignee) == (text, text)

    long_detail = session.scalar(select(Event.detail).where(Event.external_id == "long-detail"))
    assert len(long_detail) == 10_000 and long_detail.encode() == LONG.encode()
    urls = dict(
        session.execute(select(Event.external_id, Event.url).where(Event.url.is_not(None))).all()
    )
    for number, url in enumerate([*HOSTILE_URLS, SAFE_URL]):
        # Surrounding spaces are trimmed from every value (docs/formats.md).
        assert urls[f"link-{number}"] == url.strip()

    # '; DROP TABLE events; -- was data, nothing else.
    assert {"events", "clients", "entities", "inbox_records"} <= set(
        inspect(db.engine).get_table_names()
    )
    assert session.scalar(select(func.count()).select_from(Event)) > 20


def test_values_longer_than_their_column_are_rejected_naming_the_field(runner, session, tmp_path):
    summaries = ingest_hostile_world(runner, tmp_path)
    rejected = {
        (row.connector, row.natural_key): row
        for row in session.scalars(select(InboxRecord).where(InboxRecord.status == "rejected"))
    }
    too_long_client = rejected["clients", "too-long"]
    assert too_long_client.field == "name"
    assert "200" in too_long_client.reason
    assert too_long_client.record["name"] == LONG  # kept whole, for replaying once corrected

    title = rejected["tickets", "tickets:long-title"]
    assert (title.field, title.reason) == ("title", "title is longer than 500 characters")
    assert title.record["title"] == LONG

    # A vendor connector builds its own titles and keys: they are checked as well.
    assert summaries["stripe"]["accepted"] == 1 and summaries["stripe"]["rejected"] == 2
    number = rejected["stripe", "in_long_number:open"]
    assert number.field == "title" and "500" in number.reason
    long_id = rejected["stripe", f"{LONG_ID}:open"]
    assert long_id.field in ("external_id", "thread_key") and "200" in long_id.reason
    assert session.scalar(select(func.count()).where(Event.title == LONG)) == 0
    assert session.scalar(select(func.count()).select_from(Client).where(Client.name == LONG)) == 0


def test_the_directory_shows_hostile_names_as_text(client, runner, tmp_path):
    ingest_hostile_world(runner, tmp_path)
    page = _get(client, "/clients?per_page=50")
    assert_shown(page, *HOSTILE.values())
    searched = _get(client, "/clients?q=%3Cscript%3E")
    assert_shown(searched, HOSTILE["script"])


def test_the_client_page_and_its_threads_show_hostile_text_as_text(client, runner, tmp_path):
    ingest_hostile_world(runner, tmp_path)
    page = _get(client, f"/clients/{VICTIM}?per_page=100")
    assert_shown(page, VICTIM_NAME, *HOSTILE.values(), LONG)
    links = [
        attrs["href"] for tag, attrs in page.elements if "source-link" in attrs.get("class", "")
    ]
    assert SAFE_URL in links  # a safe one is a link, so the check above can fail
    assert all(link.startswith("https://") for link in links)
    for url in HOSTILE_URLS:
        assert url.strip() in page.text  # shown, as text

    for text in HOSTILE.values():
        thread = _get(client, thread_path(VICTIM, "ticket", text))
        assert_shown(thread, text)
    assert_shown(_get(client, thread_path(VICTIM, "ticket", "LONG")), LONG)
    edit = _get(client, f"/clients/{VICTIM}/edit")
    assert_shown(edit, LONG, HOSTILE["attribute"])
    for key in HOSTILE:
        _get(client, f"/clients/hostile-{key}")


def test_the_unmatched_queue_and_the_inbox_show_hostile_text_as_text(
    client, runner, session, tmp_path
):
    summaries = ingest_hostile_world(runner, tmp_path)
    page = _get(client, "/unmatched?per_page=50")
    assert_shown(page, *HOSTILE.values())
    records = session.scalars(select(InboxRecord).order_by(InboxRecord.id)).all()
    # the unmatched, a name, a title and two Stripe invoices too long
    assert len(records) == len(HOSTILE) + 4
    for row in records:
        inbox = _get(client, f"/inbox/{row.id}")
        assert row.reason in inbox.text
        if row.natural_key in ("tickets:long-title", "too-long"):
            assert_shown(inbox, LONG)  # the whole record, to correct and replay
    _get(client, f"/runs/{summaries['tickets']['run_id']}")
    _get(client, "/runs")

    # Mapping a hostile key through the queue's form: the message names it, as text.
    mapped = client.post(
        "/unmatched/map",
        data={"system": "account", "key": HOSTILE["img"], "client": VICTIM, "back": "/unmatched"},
        follow_redirects=True,
    )
    assert mapped.status_code == 200
    assert_shown(assert_inert(mapped.get_data(as_text=True)), HOSTILE["img"])
    replayed = session.scalar(select(Event).where(Event.external_id == "lost-img"))
    assert replayed.title == HOSTILE["img"]


def test_the_briefing_page_shows_hostile_text_as_text(client, runner, tmp_path):
    ingest_hostile_world(runner, tmp_path)
    page = _get(client, f"/clients/{VICTIM}/briefing")
    assert_shown(page, VICTIM_NAME, *HOSTILE.values())
    flags_start, talk_start = page.text.index("Don't get ambushed"), page.text.index("Talking")
    flags, talking_points = page.text[flags_start:talk_start], page.text[talk_start:]
    for text in HOSTILE.values():
        assert text in flags  # the stale tickets' titles
        assert f"solved “{text}”" in talking_points
    for key in HOSTILE:
        _get(client, f"/clients/hostile-{key}/briefing")


def test_the_overview_and_the_portfolio_show_hostile_names_as_text(client, runner, tmp_path):
    ingest_hostile_world(runner, tmp_path)
    assert_shown(_get(client, "/overview"), *HOSTILE.values())
    portfolio = _get(client, "/reports/portfolio")
    assert_shown(portfolio, *HOSTILE.values())


def test_the_portfolio_csv_keeps_names_as_text_not_formulas(client, runner, tmp_path):
    ingest_hostile_world(runner, tmp_path)
    formulas = ['=HYPERLINK("https://evil.example")', "+1+1", "-2+3", "@SUM(A1)"]
    clients = [{"slug": f"formula-{n}", "name": name} for n, name in enumerate(formulas)]
    ingest_file(runner, "clients", _write(tmp_path / "formulas.json", clients))
    response = client.get("/reports/portfolio.csv")
    assert response.status_code == 200
    rows = {
        row["slug"]: row for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    }
    for number, name in enumerate(formulas):
        assert rows[f"formula-{number}"]["name"] == "'" + name
    for key, text in HOSTILE.items():
        assert rows[f"hostile-{key}"]["name"] == text  # the rest stays exactly as it is


def _pdf_text(pdf: bytes) -> str:
    """All the words of a PDF, with line breaks and spaces taken out: the
    PDF wraps long lines wherever it likes."""
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return "".join(text.split())


def test_the_briefing_pdf_renders_hostile_text_as_text(client, runner, tmp_path):
    ingest_hostile_world(runner, tmp_path)
    response = client.get(f"/clients/{VICTIM}/briefing.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = _pdf_text(response.data)
    for key in ("script", "img", "attribute", "sql"):
        assert "".join(HOSTILE[key].split()) in text, key
    # The override and the combining marks render too; the PDF holds them in
    # the order they are drawn, which is not the order they were sent in.
    assert "exe" in text and "\u0300" in text


def test_a_vendor_ticket_and_invoice_show_their_hostile_fields_as_text(
    client, runner, session, tmp_path
):
    summaries = ingest_hostile_world(runner, tmp_path)
    assert summaries["zendesk"]["accepted"] == 1
    ticket = session.scalar(select(Event).where(Event.origin == "zendesk"))
    assert ticket.title == f"{HOSTILE['script']} {HOSTILE['attribute']}"
    assert ticket.detail == HOSTILE["img"]
    invoice = session.scalar(select(Event).where(Event.origin == "stripe"))
    assert HOSTILE["img"] in invoice.title and invoice.detail == HOSTILE["sql"]

    page = _get(client, f"/clients/{VICTIM}?source=tickets,billing&per_page=100")
    assert_shown(page, ticket.title, ticket.detail, invoice.title, invoice.detail)
    assert ticket.url is None  # not a Zendesk address: nothing to link to
