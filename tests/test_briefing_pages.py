"""The briefing from the database: its period, the page, the JSON, the CLI and the settings."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm import config
from crm.models.types import utcnow
from factory import create_app
from reports.briefing.build import build_briefing
from reports.briefing.render import BadPageSize, briefing_html, page_size
from tests.factories import make_client, stored_event

LISBON = ZoneInfo("Europe/Lisbon")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _acme():
    return make_client(
        "acme", name="Acme & Sons", tier="key", timezone="Europe/Lisbon", account_manager="Ana Lima"
    )


def _trouble(client, now):
    """A dispute and a ticket open for 45 days, as the pipeline would store them."""
    opened = stored_event(
        client,
        "ticket.opened",
        now - timedelta(days=45),
        thread="T1",
        title="Replace the ageing NAS",
        priority="normal",
        sla_due_at=now - timedelta(days=44),
    )
    disputed = stored_event(
        client,
        "dispute.opened",
        now - timedelta(days=3),
        thread="dp_1",
        title="Chargeback: duplicate",
        amount=Decimal("120.50"),
        currency="EUR",
        status="needs_response",
        attributes={"reason": "duplicate", "evidence_due_by": "2099-01-31"},
    )
    return opened, disputed


# --- the period ----------------------------------------------------------------------


def test_the_period_runs_from_the_last_meeting_before_the_meeting_day(session):
    client = _acme()
    stored_event(client, "meeting", NOW - timedelta(days=40))
    last = stored_event(client, "meeting", NOW - timedelta(days=20))
    stored_event(client, "meeting", NOW - timedelta(hours=1))  # today's: the one we brief for

    period = build_briefing(session, client, now=NOW).period

    assert (period.start, period.end) == (last.occurred_at, NOW)
    assert (period.last_meeting_at, period.last_meeting_event_id) == (last.occurred_at, last.id)
    assert period.previous_start == NOW - timedelta(days=40)
    assert (period.meeting_date, period.days) == (date(2026, 11, 23), 20)


def test_without_a_meeting_the_period_is_the_last_90_days(session):
    period = build_briefing(session, _acme(), now=NOW).period

    assert period.start == NOW - timedelta(days=90) and period.last_meeting_at is None


def test_a_past_meeting_day_is_read_as_it_stood_that_morning(session):
    client = _acme()
    meeting_day = date(2026, 11, 1)
    stored_event(client, "ticket.opened", NOW - timedelta(days=70), thread="T1")
    stored_event(client, "ticket.resolved", NOW - timedelta(days=5), thread="T1")

    then = build_briefing(session, client, meeting_day, now=NOW)
    today = build_briefing(session, client, now=NOW)

    assert then.period.end == datetime.combine(meeting_day, time(0), LISBON)
    assert [(f.kind, f.thread_key) for f in then.flags] == [("late_ticket", "T1")]
    assert today.flags == []


def test_the_stale_ticket_threshold_is_a_setting(app, session, monkeypatch):
    client = _acme()
    stored_event(client, "ticket.opened", NOW - timedelta(days=45), thread="T1")

    app.config["BRIEFING_STALE_TICKET_DAYS"] = 60
    assert build_briefing(session, client, now=NOW).flags == []
    app.config["BRIEFING_STALE_TICKET_DAYS"] = 30
    assert [f.kind for f in build_briefing(session, client, now=NOW).flags] == ["late_ticket"]

    monkeypatch.setenv("TOUCHLINE_BRIEFING_STALE_TICKET_DAYS", "14")
    assert config.from_environment("/tmp")["BRIEFING_STALE_TICKET_DAYS"] == 14


# --- the page ------------------------------------------------------------------------


def test_the_page_shows_the_flags_linked_to_their_threads(client):
    acme = _acme()
    _trouble(acme, utcnow())

    response = client.get("/clients/acme/briefing")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Acme &amp; Sons" in page and "Don't get ambushed" in page
    assert 'href="/clients/acme/threads/ticket/T1"' in page
    assert 'href="/clients/acme/threads/dispute/dp_1"' in page
    assert "EUR 120.50 disputed on" in page and "reason: duplicate" in page
    today = utcnow().astimezone(LISBON).date().isoformat()
    assert f'href="/clients/acme/briefing.pdf?date={today}"' in page
    assert "<svg" in page and "Health" in page


def test_a_briefing_with_nothing_to_flag_says_so_in_every_section(client):
    _acme()

    page = client.get("/clients/acme/briefing?date=2026-11-20").get_data(as_text=True)

    assert "Nothing to flag" in page
    for empty in (
        "No tickets were solved in the period.",
        "No deals were won in the period.",
        "No renewals are due.",
        "No quotes are open.",
        "They received no campaigns lately.",
        "Nothing was invoiced, paid or refunded in the period.",
        "No activity in these twelve months",
    ):
        assert empty in page


def test_an_unknown_client_is_404_and_a_bad_date_400_naming_the_field(client):
    _acme()

    missing = client.get("/clients/nobody/briefing")
    bad = client.get("/clients/acme/briefing?date=23-11-2026")
    bad_pdf = client.get("/clients/acme/briefing.pdf?date=tomorrow")

    assert missing.status_code == 404 and "nobody" in missing.get_data(as_text=True)
    assert bad.status_code == 400 and "date: Not a valid date." in bad.get_data(as_text=True)
    assert bad_pdf.status_code == 400
    assert client.get("/clients/nobody/briefing.pdf").status_code == 404


# --- the API -------------------------------------------------------------------------


def test_the_api_gives_the_briefing_with_the_events_behind_each_flag(client):
    acme = _acme()
    opened, disputed = _trouble(acme, utcnow())

    response = client.get("/api/v1/clients/acme/briefing")

    assert response.status_code == 200
    body = response.get_json()
    assert body["client"]["slug"] == "acme" and body["client"]["account_manager"] == "Ana Lima"
    flags = {flag["kind"]: flag for flag in body["flags"]}
    assert set(flags) == {"open_dispute", "late_ticket"}
    dispute = flags["open_dispute"]
    assert (dispute["amount"], dispute["currency"], dispute["severity"]) == (
        "120.5000",
        "EUR",
        "critical",
    )
    assert dispute["event_ids"] == [disputed.id]
    assert dispute["due_at"].startswith("2099-01-31T23:59:59")
    assert dispute["thread_url"] == "/clients/acme/threads/dispute/dp_1"
    assert flags["late_ticket"]["event_ids"] == [opened.id]
    # the dispute, and the ticket 44 days past its SLA: both critical
    assert body["health"]["score"] == 100 - 20 - 20
    assert {d["kind"] for d in body["health"]["drivers"]} == {"open_dispute", "late_ticket"}
    assert len(body["numbers"]["activity"]) == 12
    assert body["period"]["end"].endswith("+00:00")


def test_the_api_names_the_unknown_client_and_the_bad_date(client):
    _acme()

    missing = client.get("/api/v1/clients/nobody/briefing")
    bad = client.get("/api/v1/clients/acme/briefing?date=2026-13-01")

    assert missing.status_code == 404 and missing.get_json()["field"] == "slug"
    assert bad.status_code == 422 and bad.get_json()["field"] == "date"
    assert "briefing" in str(client.get("/api/openapi.json").get_json()["paths"])


# --- documents and settings ----------------------------------------------------------


def test_the_standalone_file_carries_its_styles_and_the_pdf_source_links_only_static_files(
    app, session
):
    acme = _acme()
    _trouble(acme, NOW)
    briefing = build_briefing(session, acme, now=NOW)

    standalone = briefing_html(briefing)
    pdf_source = briefing_html(briefing, for_pdf=True)
    linked = briefing_html(briefing, for_pdf=True, link_base="https://crm.example/")

    assert "<style>" in standalone and "/static/" not in standalone
    assert 'href="/clients/acme/threads/ticket/T1"' not in standalone  # no app to link to
    assert "ticket T1" in standalone
    assert '<html lang="en">' in pdf_source
    assert 'href="/static/css/briefing-print.css"' in pdf_source
    assert "@page { size: A4; }" in pdf_source
    assert 'href="https://crm.example/clients/acme/threads/ticket/T1"' in linked


def test_the_page_size_is_a4_or_letter(app, session, database_url):
    briefing = build_briefing(session, _acme(), now=NOW)
    app.config["PDF_PAGE_SIZE"] = "letter"

    assert "@page { size: letter; }" in briefing_html(briefing, for_pdf=True)
    assert page_size("A4") == "A4" and page_size(None) == "A4"
    with pytest.raises(BadPageSize, match="A4 or Letter"):
        page_size("Tabloid")
    with pytest.raises(BadPageSize):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "PDF_PAGE_SIZE": "A3"})


def test_the_cli_names_a_missing_or_unknown_client(runner):
    _acme()

    missing = runner.invoke(args=["briefing"])
    unknown = runner.invoke(args=["briefing", "nobody"])
    bad_date = runner.invoke(args=["briefing", "acme", "--date", "soon"])
    plain = runner.invoke(args=["briefing", "acme", "--date", "2026-11-20"])

    assert missing.exit_code == 2 and "CLIENT_SLUG" in missing.output
    assert unknown.exit_code == 1 and "no client 'nobody'" in unknown.output
    assert bad_date.exit_code == 2 and "--date" in bad_date.output
    assert plain.exit_code == 0, plain.output
    assert "Health 100/100" in plain.output and "nothing to flag" in plain.output
