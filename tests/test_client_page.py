"""The client page (card, timeline, log a touch) and the thread page, as HTML."""

import re
from datetime import UTC, timedelta
from decimal import Decimal
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crm.models import Entity, Event
from crm.models.types import utcnow
from tests.factories import BASE_TIME, make_client, stored_event


@pytest.fixture
def acme(session):
    client = make_client("acme", name="Acme Dental", tier="key", timezone="Europe/Berlin")
    stored_event(
        client,
        "invoice.issued",
        0,
        thread="INV-1",
        title="Invoice INV-1",
        amount=Decimal("1234.5"),
        currency="EUR",
        url="https://billing.example/INV-1",
    )
    stored_event(
        client, "alert.raised", 24, thread="A-1", title="Disk full", url="javascript:alert(1)"
    )
    stored_event(client, "ticket.opened", 48, thread="T-1", title="Printer offline", actor="Bob")
    stored_event(client, "note", 72, title="Asked about printers", actor="Ana")
    session.commit()
    return client  # fmt: skip


def page(client, url, status=200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def event_titles(html: str) -> list[str]:
    return re.findall(r'<span class="event-title">([^<]*)</span>', html)


def test_the_page_shows_card_then_timeline_by_day(client, acme):
    html = page(client, "/clients/acme")
    assert "Before you contact Acme Dental" in html
    assert html.index('id="card-title"') < html.index('id="timeline"')
    assert event_titles(html) == [
        "Asked about printers",
        "Printer offline",
        "Disk full",
        "Invoice INV-1",
    ]
    assert "Thursday 1 October 2026" in html
    assert "EUR 1,234.50" in html
    assert 'href="/clients/acme/threads/ticket/T-1"' in html
    assert 'class="event src-billing"' in html and "#icon-billing" in html


def test_only_web_addresses_become_links(client, acme):
    html = page(client, "/clients/acme")
    assert 'href="https://billing.example/INV-1"' in html
    assert 'href="javascript:' not in html
    assert '<span class="url-text"' in html and "javascript:alert(1)" in html


def test_filter_by_source_kind_dates_and_text(client, acme):
    assert event_titles(page(client, "/clients/acme?source=billing&source=rmm")) == [
        "Disk full",
        "Invoice INV-1",
    ]
    assert event_titles(page(client, "/clients/acme?kind=note")) == ["Asked about printers"]
    assert event_titles(page(client, "/clients/acme?from=2026-10-02&to=2026-10-03")) == [
        "Printer offline",
        "Disk full",
    ]
    html = page(client, "/clients/acme?q=printer&kind=")
    assert event_titles(html) == ["Asked about printers", "Printer offline"]
    assert 'value="printer"' in html  # the form keeps the filter


def test_checked_sources_stay_checked(client, acme):
    html = page(client, "/clients/acme?source=rmm")
    assert re.search(r'value="rmm" checked', html)
    assert not re.search(r'value="billing" checked', html)


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("source=crm", "unknown source 'crm'"),
        ("from=2026-02-30", "from"),
        ("cursor=garbage", "is not a cursor from a previous page"),
    ],
)
def test_bad_filters_are_shown_not_applied(client, acme, query, shown):
    html = page(client, f"/clients/acme?{query}", status=400)
    assert "These filters cannot be applied" in html
    assert shown in unescape(html)
    assert event_titles(html) == []


def test_older_pages_follow_the_cursor_keeping_the_filters(client, session):
    owner = make_client("busy")
    for i in range(60):
        stored_event(owner, "note", i // 7, title=f"note {i:02d}")  # 7 share each time
    stored_event(owner, "call", 100, title="a call")
    session.commit()

    first = page(client, "/clients/busy?kind=note")
    older = re.search(r'<a class="older" rel="next" href="([^"]+)"', first).group(1)
    older = older.replace("&amp;", "&")
    assert "kind=note" in older and "cursor=" in older and "offset" not in older
    second = page(client, older)

    seen = event_titles(first) + event_titles(second)
    assert len(event_titles(first)) == 50
    assert sorted(seen) == [f"note {i:02d}" for i in range(60)]
    assert len(set(seen)) == 60
    assert 'class="older"' not in second
    assert "« Newest" in second


def test_log_a_note_and_see_it_on_top(client, session, acme):
    response = client.post(
        "/clients/acme/touches",
        data={"kind": "note", "title": "", "text": "Wants Teams phones", "actor": "Ana"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/clients/acme#timeline")
    html = page(client, "/clients/acme")
    assert event_titles(html)[0] == "Wants Teams phones"
    assert "Note logged: Wants Teams phones" in html
    # Signed by the signed-in account, not the name sent with the form.
    assert "Signed as Test Everyone" in html and 'name="actor"' not in html
    logged = select(Event.actor).where(Event.title == "Wants Teams phones")
    assert session.scalar(logged) == "Test Everyone"


def test_a_note_without_text_shows_the_error_and_writes_nothing(client, session, acme):
    before = session.scalar(select(func.count()).select_from(Event))
    response = client.post(
        "/clients/acme/touches",
        data={"kind": "call", "title": "Quick call", "text": "", "actor": "Ana"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was saved" in html
    assert 'id="error-text"' in html
    assert 'value="Quick call"' in html  # what was typed is kept
    assert session.scalar(select(func.count()).select_from(Event)) == before


def test_a_commitment_due_in_the_clients_time_then_done(client, session, acme):
    # two days and an hour: ages count whole units down (crm.formatting.span)
    due = (utcnow() + timedelta(days=2, hours=1)).astimezone(UTC)
    local = due.astimezone(ZoneInfo("Europe/Berlin"))
    response = client.post(
        "/clients/acme/commitments",
        data={
            "title": "Send the report",
            "due_at": local.strftime("%Y-%m-%dT%H:%M"),
            "actor": "Ana",
        },
    )
    assert response.status_code == 302
    commitment = session.scalar(select(Entity).where(Entity.type == "commitment"))
    assert commitment.due_at == due.replace(second=0, microsecond=0)
    html = page(client, "/clients/acme")
    assert "Commitment recorded: Send the report" in html
    assert re.search(r"deadline-due\">due in 2 days", html)
    assert f'action="/clients/acme/commitments/{commitment.key}/done"' in html

    response = client.post(
        f"/clients/acme/commitments/{commitment.key}/done", data={"actor": "Ana"}
    )
    assert response.status_code == 302
    html = page(client, "/clients/acme")
    assert "Commitment done: Send the report" in html
    assert f"/commitments/{commitment.key}/done" not in html
    assert "Send the report, done" in html  # now under "lately"


def test_an_overdue_commitment_is_flagged(client, session, acme):
    stored_event(acme, "commitment.made", utcnow() - timedelta(days=2), thread="C-1",
                 title="Call back", due_at=utcnow() - timedelta(hours=3))  # fmt: skip
    session.commit()
    html = page(client, "/clients/acme")
    assert "1 overdue commitment" in html
    assert 'deadline-late">overdue' in html


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "Call", "due_at": "next tuesday", "actor": "Ana"}, "due_at"),
        ({"title": "", "due_at": "2026-10-01T15:00", "actor": "Ana"}, "title"),
    ],
)
def test_a_bad_commitment_shows_the_error_and_writes_nothing(client, session, acme, data, field):
    response = client.post("/clients/acme/commitments", data=data)
    assert response.status_code == 422
    assert f'id="error-{field}"' in response.get_data(as_text=True)
    assert (
        session.scalar(select(func.count()).select_from(Entity).where(Entity.type == "commitment"))
        == 0
    )


def test_marking_done_is_signed_by_the_account_whatever_name_is_sent(client, session, acme):
    stored_event(acme, "commitment.made", 0, thread="C-1", title="Call back")
    session.commit()
    response = client.post("/clients/acme/commitments/C-1/done", data={"actor": "Mallory"})
    assert response.status_code == 302
    assert session.scalar(select(Entity.status).where(Entity.key == "C-1")) == "done"
    done = select(Event.actor).where(Event.kind == "commitment.done")
    assert session.scalar(done) == "Test Everyone"
    assert (
        client.post("/clients/acme/commitments/C-404/done", data={"actor": "Ana"}).status_code
        == 404
    )


def test_the_thread_page(client, session, acme):
    stored_event(
        acme, "ticket.resolved", 50, thread="T-1", title="Solved: Printer offline", actor="Bob"
    )
    session.commit()
    html = page(client, "/clients/acme/threads/ticket/T-1")
    assert event_titles(html) == ["Printer offline", "Solved: Printer offline"]
    assert "Current state" in html and "resolved" in html
    assert "03 Oct 2026 09:00 UTC" in html  # when the ticket was opened


def test_unknown_client_or_thread_is_a_404_page(client, acme):
    assert "no client “nobody”" in page(client, "/clients/nobody", status=404)
    assert "has no ticket “T-404”" in page(client, "/clients/acme/threads/ticket/T-404", status=404)
    page(client, "/clients/acme/threads/bogus/T-1", status=404)
    assert client.post("/clients/nobody/touches", data={}).status_code == 404


def test_guidance_comes_from_the_settings(client, app, acme):
    app.config["TIER_GUIDANCE"] = {"key": "Escalate to Sofia at once."}
    assert "Escalate to Sofia at once." in page(client, "/clients/acme")


def test_unreadable_business_hours_stop_the_app_at_start(database_url):
    from factory import create_app

    with pytest.raises(ValueError, match="business hours"):
        create_app({"SQLALCHEMY_DATABASE_URI": database_url, "BUSINESS_HOURS": "weekdays"})


def test_times_on_the_timeline_are_the_clients_with_utc_on_hover(client, acme):
    """Acme is in Berlin: 09:00 UTC on 1 October is 11:00 there, as the card
    and the briefing say it; the exact instant stays in the markup."""
    html = page(client, "/clients/acme")
    assert (
        '<time datetime="2026-10-01T09:00:00+00:00" title="01 Oct 2026 09:00 UTC" '
        "data-viewer-time>11:00</time>"
    ) in html
    assert "Days and times are the client's (Europe/Berlin)" in html


def test_a_day_is_the_clients_day(client, session):
    """23:30 UTC on 1 October is past midnight in Berlin: it is the 2nd there."""
    late = make_client("late", timezone="Europe/Berlin")
    stored_event(late, "note", BASE_TIME.replace(hour=23, minute=30), title="Late call")
    session.commit()
    html = page(client, "/clients/late")
    assert "Friday 2 October 2026" in html and "Thursday 1 October" not in html


def test_one_campaign_to_several_contacts_is_one_row(client, session):
    """A campaign sent to four of the client's contacts is one touch."""
    acme = make_client("news", timezone="UTC")
    for number in range(4):
        stored_event(acme, "campaign.sent", 1 + number / 60, thread="campaign:42",
                     title="Autumn security webinar")  # fmt: skip
    stored_event(acme, "email.opened", 3, thread="campaign:42", title="Autumn security webinar")
    session.commit()
    html = page(client, "/clients/news")
    assert event_titles(html) == ["Autumn security webinar", "Autumn security webinar"]
    assert html.count("to 4 contacts") == 1
    api = client.get("/api/v1/clients/news/timeline").json["items"]
    assert len(api) == 5  # the API keeps every event


def test_a_kept_promise_says_which(client, session):
    """A commitment kept by an imported record that has no title of its own."""
    acme = make_client("kept", timezone="UTC")
    stored_event(acme, "commitment.made", 0, thread="P-1", title="Send the network diagram")
    stored_event(acme, "commitment.done", 5, thread="P-1", title="We kept a promise")
    session.commit()
    assert event_titles(page(client, "/clients/kept"))[0] == (
        "We kept a promise: Send the network diagram"
    )


def test_touches_are_signed_by_the_signed_in_account_and_audited(app):
    from crm.accounts.models import AuditEntry
    from crm.extensions import db
    from tests.accounts import make_user, signed_in_client

    make_client("acme", name="Acme")
    bob = make_user("staff", name="Bob Ferreira")
    http = signed_in_client(app, bob)
    page = http.get("/clients/acme").get_data(as_text=True)
    assert 'name="actor"' not in page and "Signed as Bob Ferreira" in page
    forged = {"kind": "call", "text": "Agreed the renewal", "actor": "The CEO"}
    assert http.post("/clients/acme/touches", data=forged).status_code == 302
    promise = {"title": "Send the quote", "due_at": "2031-01-01T10:00", "actor": "Someone else"}
    assert http.post("/clients/acme/commitments", data=promise).status_code == 302
    signed = db.session.execute(select(Event.kind, Event.actor).order_by(Event.id)).all()
    assert signed == [("call", "Bob Ferreira"), ("commitment.made", "Bob Ferreira")]
    assert db.session.scalar(select(Entity.assignee)) == "Bob Ferreira"
    key = db.session.scalar(select(Entity.key))
    assert http.post(f"/clients/acme/commitments/{key}/done", data={}).status_code == 302
    entries = db.session.execute(
        select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.target).order_by(AuditEntry.id)
    ).all()
    audited = [(a, who, target) for a, who, target in entries if a != "user.sign_in"]
    assert audited == [
        ("touch.log", bob.id, "acme"),
        ("commitment.make", bob.id, "acme"),
        ("commitment.done", bob.id, "acme"),
    ]
