"""The QBR summary: one click beside the internal briefing gives the client
a PDF of the work done, the service levels met, what is planned and the
renewals, with nothing internal in it. The tests read the PDF's text."""

import io
from datetime import timedelta

from pypdf import PdfReader

from crm.extensions import db
from crm.meetings.operations import create_meeting
from crm.models.types import utcnow
from crm.timeline.touches import log_touch, make_commitment
from tests.factories import make_client, stored_event


def _client_with_a_quarter(now):
    acme = make_client("acme", name="Acme Lda", timezone="Europe/Lisbon")
    # Work done: two tickets solved in the period, one within its SLA, one late.
    for key, title, opened, sla, solved in (
        ("T-1", "Replace the firewall", 20, 18, 19),
        ("T-2", "Printer jams on tray 2", 12, 11.5, 9),
    ):
        ago = now - timedelta(days=opened)
        sla_due_at = now - timedelta(days=sla)
        stored_event(acme, "ticket.opened", ago, thread=key, title=title, sla_due_at=sla_due_at)
        stored_event(acme, "ticket.resolved", now - timedelta(days=solved), thread=key)
    # Internal: an open dispute (a critical flag, a lower health score) and a note.
    stored_event(
        acme,
        "dispute.opened",
        now - timedelta(days=3),
        thread="dp_1",
        title="Chargeback on invoice 1042",
    )
    log_touch(
        db.session,
        acme,
        kind="note",
        text="They are unhappy with our pricing",
        actor="Rita",
        occurred_at=now - timedelta(days=2),
    )
    # Planned: a promise to them, and one of ours alone.
    for title, days, internal in (
        ("Install the new Wi-Fi access points", 10, False),
        ("Chase the vendor for a credit note", 5, True),
    ):
        due = now + timedelta(days=days)
        make_commitment(
            db.session, acme, title=title, due_at=due, actor="Rita", internal=internal, now=now
        )
    stored_event(
        acme,
        "renewal.due",
        now - timedelta(days=30),
        thread="R-1",
        title="Microsoft 365 Business",
        due_at=now + timedelta(days=20),
        amount="1200.00",
        currency="EUR",
    )
    create_meeting(
        db.session,
        acme,
        {"kind": "roadmap", "starts_at": now + timedelta(days=40)},
        actor="rita@ourmsp.example",
    )
    db.session.commit()
    return acme


def _text(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_summary_has_the_work_done_and_nothing_internal(client):
    now = utcnow()
    _client_with_a_quarter(now)

    # The internal briefing has what the summary must not.
    briefing = client.get("/clients/acme/briefing").get_data(as_text=True)
    assert "Chargeback on invoice 1042" in briefing and "get ambushed" in briefing

    answer = client.get("/clients/acme/summary.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert 'filename="summary-acme-' in answer.headers["Content-Disposition"]
    text = _text(answer.data)
    for present in (
        "Acme Lda",
        "Replace the firewall",
        "Printer jams on tray 2",
        "Tickets solved",
        "Median time to resolve",
        "1 of 2",  # within the agreed time
        "Install the new Wi-Fi access points",
        "Roadmap meeting",
        "Microsoft 365 Business",
    ):
        assert present in text, present
    for absent in (
        "ambushed",
        "Chargeback",
        "dispute",
        "Health",
        "health",
        "unhappy with our pricing",
        "Chase the vendor",
        "is it working well",
        "confidential",
    ):
        assert absent not in text, absent


def test_one_click_beside_the_briefing_on_the_client_and_briefing_pages(client):
    make_client("acme", name="Acme Lda")
    for page in ("/clients/acme", "/clients/acme/briefing"):
        html = client.get(page).get_data(as_text=True)
        assert 'href="/clients/acme/summary.pdf' in html, page
        assert "Summary for the client (PDF)" in html, page
    assert client.get("/clients/nobody/summary.pdf").status_code == 404
    assert client.get("/clients/acme/summary.pdf?date=someday").status_code == 400


def test_a_commitment_marked_internal_on_the_form_stays_out_of_the_summary(client):
    make_client("acme", name="Acme Lda", timezone="UTC")
    due = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    for title, internal in (
        ("Send the new rack diagram", {}),
        ("Ask Dell for a discount", {"internal": "on"}),
    ):
        answer = client.post(
            "/clients/acme/commitments", data={"title": title, "due_at": due} | internal
        )
        assert answer.status_code == 302
    text = _text(client.get("/clients/acme/summary.pdf").data)
    assert "Send the new rack diagram" in text
    assert "Ask Dell for a discount" not in text
