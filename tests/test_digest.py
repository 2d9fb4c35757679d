"""The weekly executive digest at /reports/digest: new critical flags, health
scores that fell, renewals in the next 30 days and clients overdue for a
meeting, read with crm.flags, crm.health and crm.meetings.cadence."""

from datetime import timedelta

from crm.extensions import db
from crm.flags import DEFAULT_SETTINGS
from crm.health import scores_at
from crm.meetings.cadence import DEFAULT_CADENCE
from crm.meetings.models import Meeting
from crm.models.types import utcnow
from reports.digest.digest import build_digest
from tests.factories import make_client, stored_event


def _portfolio(now):
    """Acme: a dispute opened two days ago (new, critical; health 100 -> 80).
    Bolt: a dispute open for three weeks (critical, not new; health unchanged).
    Cedar: renewals due in 10 days (listed), in 40 (not) and one renewed.
    Dune: a churned client with a new dispute (not in the digest)."""
    acme = make_client("acme", name="Acme", tier="key")
    bolt = make_client("bolt", name="Bolt", tier="key")
    cedar = make_client("cedar", name="Cedar", tier="standard")
    dune = make_client("dune", name="Dune", tier="key", status="churned")
    stored_event(acme, "dispute.opened", now - timedelta(days=2), thread="dp_1", title="Chargeback")
    stored_event(bolt, "dispute.opened", now - timedelta(days=21), thread="dp_2")
    stored_event(dune, "dispute.opened", now - timedelta(days=1), thread="dp_3")
    for key, days in (("soon", 10), ("later", 40), ("done", 5)):
        stored_event(
            cedar,
            "renewal.due",
            now - timedelta(days=30),
            thread=key,
            title=f"Renewal {key}",
            due_at=now + timedelta(days=days),
        )
    stored_event(cedar, "renewal.renewed", now - timedelta(days=1), thread="done")
    # Bolt and Cedar met recently; Acme never did.
    for client in (bolt, cedar):
        db.session.add(
            Meeting(
                client_id=client.id,
                title="Roadmap",
                starts_at=now - timedelta(days=5),
                status="logged",
            )
        )
    db.session.commit()


def test_the_digest_reads_the_week_with_the_existing_rules(session):
    now = utcnow()
    _portfolio(now)

    digest = build_digest(session, now, DEFAULT_SETTINGS, DEFAULT_CADENCE)

    assert [(new.client.slug, new.flag.kind) for new in digest.new_critical] == [
        ("acme", "open_dispute")
    ]
    assert [(fall.client.slug, fall.before, fall.now) for fall in digest.fallen] == [
        ("acme", 100, 80)
    ]
    assert [renewal.key for renewal in digest.renewals] == ["soon"]
    assert [client.slug for client in digest.meeting_overdue] == ["acme"]


def test_a_dispute_settled_this_week_counts_in_last_weeks_score(session):
    now = utcnow()
    fixed = make_client("fixed", tier="new")
    stored_event(fixed, "dispute.opened", now - timedelta(days=20), thread="dp_9")
    stored_event(fixed, "dispute.closed", now - timedelta(days=2), thread="dp_9")
    db.session.commit()
    digest = build_digest(session, now, DEFAULT_SETTINGS, DEFAULT_CADENCE)
    # It was 80 a week ago (the dispute still open then) and is 100 now: a rise.
    assert scores_at(session, [fixed.id], now - timedelta(days=7), DEFAULT_SETTINGS) == {
        fixed.id: 80
    }
    assert digest.fallen == []
    assert digest.new_critical == []


def test_the_page_for_executives(login_as):
    now = utcnow()
    _portfolio(now)
    page = login_as("executive").get("/reports/digest")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "New critical flags (1)" in html and "Chargeback" in html
    assert "Health scores that fell (1)" in html
    assert "Renewals in the next 30 days (1)" in html and "Renewal soon" in html
    assert "Renewal later" not in html and "Renewal done" not in html
    assert "Overdue for a roadmap meeting (1)" in html
    assert '<a href="/clients/acme">Acme</a>' in html
    assert "Dune" not in html


def test_an_admin_sees_it_without_links_to_clients_they_cannot_open(login_as):
    _portfolio(utcnow())
    html = login_as("admin").get("/reports/digest").get_data(as_text=True)
    assert "Acme" in html and 'href="/clients/acme"' not in html
    assert login_as("manager").get("/reports/digest").status_code == 403
