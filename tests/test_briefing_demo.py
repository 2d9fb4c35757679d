"""Briefings of the demo portfolio: every kind of flag shows where the data has it,
and the PDF, the page, the JSON and the CLI carry them.

The demo is loaded once for the module (`flask demo load`, through the real
pipeline) into an app of the module's own, and the tables are emptied after.
What each client should show is read from the database, not hard-coded: the
demo's dates move with the day it is loaded.
"""

import io
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import func, select

from crm.clients.lifespan import BeforeClient
from crm.extensions import db
from crm.models import Client, Entity, Event
from crm.models.types import utcnow
from reports.briefing.build import build_briefing
from reports.briefing.flags import KIND_LABELS, PROBLEM_TICKET
from reports.briefing.model import Briefing
from tests.accounts import signed_in_client
from tests.helpers import briefing_parts, demo_loaded


@dataclass
class Demo:
    app: Flask
    now: datetime
    briefings: dict[str, Briefing]

    def slugs(self, query) -> set[str]:
        return set(db.session.scalars(query))

    def brief(self, slug: str) -> Briefing:
        if slug not in self.briefings:
            client = db.session.scalar(select(Client).where(Client.slug == slug))
            self.briefings[slug] = build_briefing(db.session, client, now=self.now)
        return self.briefings[slug]

    def flags(self, slug: str, kind: str) -> list:
        return [flag for flag in self.brief(slug).flags if flag.kind == kind]


@pytest.fixture(scope="module")
def demo(database_url, tmp_path_factory):
    with demo_loaded(database_url, tmp_path_factory.mktemp("demo")) as app:
        yield Demo(app, utcnow(), {})


def _open(entity_type: str):
    return (
        select(Client.slug, Entity.key)
        .join(Entity, Entity.client_id == Client.id)
        .where(Entity.type == entity_type, Entity.closed_at.is_(None))
    )


def _recurring_alert_client(now: datetime) -> tuple[str, int]:
    """The client whose NAS fails its backup again and again (demo.alerts), and how
    often it did in the last 30 days."""
    [(slug, occurrences)] = db.session.execute(
        select(Client.slug, func.count())
        .join(Event, Event.client_id == Client.id)
        .where(
            Event.kind == "alert.raised",
            Event.title.like("BackupFailed on %-NAS01"),
            Event.occurred_at > now - timedelta(days=30),
        )
        .group_by(Client.slug)
        .having(func.count() >= 3)
    ).all()
    return slug, occurrences


def _by_client(rows) -> dict[str, set[str]]:
    grouped = defaultdict(set)
    for slug, key in rows:
        grouped[slug].add(key)
    return grouped


def test_every_kind_of_flag_shows_where_the_demo_has_it(demo):
    now = demo.now
    # Open disputes: amount, reason and the evidence deadline.
    disputes = _by_client(db.session.execute(_open("dispute")))
    assert len(disputes) == 2
    for slug, keys in disputes.items():
        flags = demo.flags(slug, "open_dispute")
        assert {f.thread_key for f in flags} == keys
        for flag in flags:
            assert flag.severity == "critical" and flag.amount > 0 and flag.due_at > now
            assert "reason: " in flag.detail and "evidence due" in flag.detail

    # Alerts firing now of priority critical (the demo's severity).
    critical = _by_client(db.session.execute(_open("alert").where(Entity.priority == "critical")))
    assert len(critical) >= 3
    for slug, keys in critical.items():
        assert {f.thread_key for f in demo.flags(slug, "critical_alert")} == keys

    # The NAS whose backup keeps failing.
    recurring, occurrences = _recurring_alert_client(now)
    [flag] = demo.flags(recurring, "recurring_alert")
    assert flag.title.startswith("BackupFailed on ") and flag.title.endswith("-NAS01")
    assert len(flag.event_ids) == occurrences and flag.suggestion == PROBLEM_TICKET

    # Problem clients: a stale ticket, failed payments, invoices overdue in two buckets.
    problem = demo.slugs(select(Client.slug).where(Client.tier == "problem"))
    assert len(problem) == 6
    for slug in problem:
        late = demo.flags(slug, "late_ticket")
        stale = [f for f in late if "open_too_long" in f.facets]
        assert stale and all(f.age_days >= 30 for f in stale), slug
        overdue = [f for f in demo.flags(slug, "overdue_invoice") if not f.settled]
        assert {f.aging_bucket for f in overdue} == {"1-30", "31-60"}
        # a failed payment, on an invoice within its terms or overdue: one flag either way
        failed = [f for f in demo.brief(slug).flags if "payment_failed" in f.facets]
        assert any(f.severity in ("critical", "high") and not f.settled for f in failed), slug

    # Overdue commitments, wherever they are.
    overdue = _by_client(db.session.execute(_open("commitment").where(Entity.due_at < now)))
    assert overdue
    for slug, keys in overdue.items():
        assert {f.thread_key for f in demo.flags(slug, "overdue_commitment")} == keys

    # Open tickets past their SLA.
    breached = _by_client(
        db.session.execute(
            _open("ticket").where(
                Entity.sla_due_at < now, Entity.opened_at > now - timedelta(days=30)
            )
        )
    )
    assert breached
    for slug, keys in breached.items():
        late = demo.flags(slug, "late_ticket")
        assert keys <= {f.thread_key for f in late if "past_sla" in f.facets}

    seen = {flag.kind for briefing in demo.briefings.values() for flag in briefing.flags}
    assert seen == set(KIND_LABELS)


def test_every_flag_traces_to_events_of_its_own_client_and_thread(demo):
    disputed = demo.slugs(_open("dispute").with_only_columns(Client.slug))
    problem = demo.slugs(select(Client.slug).where(Client.tier == "problem"))
    for slug in sorted(disputed | problem):
        briefing = demo.brief(slug)
        client_id = db.session.scalar(select(Client.id).where(Client.slug == slug))
        for flag in briefing.flags:
            assert flag.event_ids, (slug, flag.title)
            rows = db.session.execute(
                select(Event.client_id, Event.thread_key).where(Event.id.in_(flag.event_ids))
            ).all()
            assert len(rows) == len(flag.event_ids)
            assert {row.client_id for row in rows} == {client_id}
            if flag.kind != "recurring_alert":  # one thread per occurrence
                assert {row.thread_key for row in rows} == {flag.thread_key}


def test_the_talking_points_of_the_demo(demo):
    new = demo.slugs(select(Client.slug).where(Client.tier == "new"))
    key = demo.slugs(select(Client.slug).where(Client.tier == "key"))

    work = [p.text for slug in new for p in demo.brief(slug).talking_points.work_done]
    assert any(t.startswith("Bob ") and t.endswith(": is it working well?") for t in work)
    assert any(demo.brief(slug).talking_points.deals_won for slug in new)
    for slug in key:
        points = demo.brief(slug).talking_points
        assert points.renewals_due and points.open_quotes, slug
        assert any("security awareness training" in p.text for p in points.campaigns)


def test_the_pdf_of_a_demo_briefing_reads_its_flags(demo, tmp_path):
    slug, _ = _recurring_alert_client(demo.now)
    briefing = demo.brief(slug)

    response = signed_in_client(demo.app).get(f"/clients/{slug}/briefing.pdf")

    assert response.status_code == 200 and response.mimetype == "application/pdf"
    day = briefing.period.meeting_date.isoformat()
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="briefing-{slug}-{day}.pdf"'
    )
    pdf = response.get_data()
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Don't get ambushed" in text and "Talking points" in text
    for flag in briefing.flags:
        assert flag.title in text, flag.title
    assert "recurring" in text.lower() and PROBLEM_TICKET in text
    assert f"Page 1 of {len(reader.pages)}" in text
    assert text.count(briefing.client.name) >= len(reader.pages)  # the running header
    assert "/StructTreeRoot" in reader.trailer["/Root"]  # tagged
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert (round(width), round(height)) == (595, 842)  # A4, in points
    _artifact(pdf, tmp_path / f"briefing-{slug}-page-1.png")


def test_the_page_and_the_json_of_a_demo_client_agree(demo):
    slug = next(iter(sorted(demo.slugs(_open("dispute").with_only_columns(Client.slug)))))
    http = signed_in_client(demo.app)

    page = http.get(f"/clients/{slug}/briefing").get_data(as_text=True)
    body = http.get(f"/api/v1/clients/{slug}/briefing").get_json()

    assert body["flags"] and body["flags"][0]["severity"] == "critical"
    assert "open_dispute" in {flag["kind"] for flag in body["flags"]}
    for flag in body["flags"]:
        assert f'href="{flag["thread_url"]}"' in page
    assert body["health"]["score"] < 100


def test_the_cli_writes_the_pdf_and_the_html(demo, tmp_path):
    slug = next(iter(sorted(demo.slugs(_open("dispute").with_only_columns(Client.slug)))))
    pdf_path, html_path = tmp_path / "b.pdf", tmp_path / "b.html"

    result = demo.app.test_cli_runner().invoke(
        args=["briefing", slug, "--pdf", str(pdf_path), "--html", str(html_path)]
    )

    assert result.exit_code == 0, result.output
    assert "[critical] Open dispute: Chargeback" in result.output
    assert f"PDF written to {pdf_path}" in result.output
    text = " ".join(PdfReader(pdf_path).pages[0].extract_text().split())
    assert "Chargeback:" in text and "disputed on" in text
    html = html_path.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "Chargeback:" in html


def _artifact(pdf: bytes, png: Path) -> None:
    """Page 1 as PNG under tmp_path, and in TOUCHLINE_TEST_ARTIFACTS when set."""
    pdfium.PdfDocument(pdf)[0].render(scale=1.5).to_pil().save(png)
    assert png.stat().st_size > 10_000
    target = os.environ.get("TOUCHLINE_TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(target) / png.name)


def test_the_counted_briefing_is_the_whole_one_for_every_demo_client(demo):
    """What the database counts and the few threads read for what is shown
    (reports.briefing.census, .shown) say what the pandas analysis of every
    event and thread says: for each demo client, now and at a past meeting
    (its flags read at a past moment)."""
    with demo.app.app_context():
        clients = db.session.scalars(select(Client).order_by(Client.slug)).all()
        compared = 0
        for client in clients:
            for day in (None, (demo.now - timedelta(days=20)).date()):
                try:
                    whole = build_briefing(db.session, client, day, now=demo.now, whole=True)
                except BeforeClient:
                    continue
                counted = build_briefing(db.session, client, day, now=demo.now)
                assert briefing_parts(counted) == briefing_parts(whole), client.slug
                compared += 1
        assert compared > len(clients)
