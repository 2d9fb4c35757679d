"""`flask deliver --due`: the briefing reaches the account manager by e-mail
before the meeting. A real SMTP server (aiosmtpd) receives the messages and
the tests read the attachment as a PDF."""

import io
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from crm.extensions import db
from crm.meetings.models import Meeting
from crm.meetings.operations import create_meeting
from reports.delivery.models import Delivery
from tests.accounts import make_user, signed_in_client
from tests.factories import make_client
from tests.mailserver import free_port

# Tuesday 4 June 2030, 10:00 in Lisbon (09:00 UTC): due Monday 09:00 UTC.
MEETING = datetime(2030, 6, 4, 9, 0, tzinfo=UTC)
DUE = "2030-06-03T09:00:00+00:00"


def _meeting(**fields) -> Meeting:
    acme = make_client("acme", name="Acme Lda", timezone="Europe/Lisbon", **fields)
    meeting = create_meeting(
        db.session,
        acme,
        {"kind": "qbr", "starts_at": MEETING, "agenda": "Backups <and> renewals"},
        actor="rita@ourmsp.example",
    )
    db.session.commit()
    return meeting


def _deliver(runner, at: str):
    result = runner.invoke(args=["deliver", "--due", "--at", at])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_briefing_is_mailed_when_it_is_due_with_its_pdf(runner, smtp_server):
    meeting = _meeting(account_manager="Rita@OurMSP.example")
    assert _deliver(runner, "2030-06-03T08:59:00+00:00") == ""
    assert smtp_server.messages == []

    output = _deliver(runner, DUE)
    assert output.startswith(f"sent: acme meeting {meeting.id} to rita@ourmsp.example")
    [(recipients, content)] = smtp_server.messages
    assert recipients == ["rita@ourmsp.example"]
    message = message_from_bytes(content, policy=policy.default)
    assert message["Subject"] == (
        "Briefing: Acme Lda, quarterly business review Tue 04 Jun 10:00 (Europe/Lisbon)"
    )
    html = message.get_body(("html",)).get_content()
    assert "Backups &lt;and&gt; renewals" in html
    assert "Don't get ambushed" in html
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "briefing-acme-2030-06-04.pdf"
    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(attachment.get_content())).pages
    )
    assert "Acme Lda" in text

    delivery = db.session.scalar(select(Delivery))
    assert (delivery.status, delivery.attempts, delivery.recipient) == (
        "sent",
        1,
        "rita@ourmsp.example",
    )
    assert delivery.briefing == "briefing-acme-2030-06-04.pdf"
    # Sent once: the next run has nothing to do.
    assert _deliver(runner, "2030-06-03T09:15:00+00:00") == ""
    assert len(smtp_server.messages) == 1


def test_the_delivery_log_is_on_the_meeting_page(client, runner, smtp_server):
    meeting = _meeting(account_manager="rita@ourmsp.example")
    page = client.get(f"/clients/acme/meetings/{meeting.id}").get_data(as_text=True)
    assert "Briefing by e-mail" in page and "Not sent yet: due 03 Jun 2030 09:00 UTC" in page
    _deliver(runner, DUE)
    page = client.get(f"/clients/acme/meetings/{meeting.id}").get_data(as_text=True)
    assert "rita@ourmsp.example" in page and "sent" in page
    assert "briefing-acme-2030-06-04.pdf" in page


def test_a_failure_is_retried_and_then_shown(app, runner):
    meeting = _meeting(account_manager="rita@ourmsp.example")
    # Nothing listens there: each attempt fails.
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"
    outputs = [_deliver(runner, f"2030-06-03T09:{minute:02d}:00+00:00") for minute in (0, 5, 10)]
    assert all(out.startswith("pending:") for out in outputs[:2])
    assert outputs[2].startswith(f"failed: acme meeting {meeting.id}")
    assert "ConnectionRefusedError" in outputs[2]
    delivery = db.session.scalar(select(Delivery))
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    # Given up: shown, not tried again.
    assert _deliver(runner, "2030-06-03T09:20:00+00:00") == ""


def test_a_meeting_nobody_can_receive_is_logged_as_failed(runner, smtp_server):
    _meeting(account_manager="Rita Lopes")  # a name, not an address
    output = _deliver(runner, DUE)
    assert output.startswith("failed:") and "nobody to send it to" in output
    assert smtp_server.messages == []


def test_without_an_smtp_url_the_delivery_says_so(app, runner):
    _meeting(account_manager="rita@ourmsp.example")
    app.config["SMTP_URL"] = None
    assert "TOUCHLINE_SMTP_URL is not set" in _deliver(runner, DUE)


def test_the_celery_beat_job_sends_what_is_due(app, smtp_server):
    _meeting(account_manager="rita@ourmsp.example")
    celery = app.extensions["celery"]
    assert celery.conf.beat_schedule["deliver-due-briefings"]["task"] == "reports.deliver_due"
    # Without Redis the task runs at once, in this process.
    result = celery.tasks["reports.deliver_due"].apply(args=(DUE,))
    assert result.get() == {"sent": 1}
    assert len(smtp_server.messages) == 1


def test_the_briefing_is_due_in_the_recipients_own_time_zone_and_working_days(
    app, runner, smtp_server
):
    """Rita works Sun-Thu in Dubai (UTC+4): the Tuesday meeting's briefing is
    due Monday 09:00 there, 05:00 UTC, four hours before the default."""
    rita = signed_in_client(app, make_user("manager", email="rita@ourmsp.example", name="Rita"))
    answer = rita.post(
        "/account/delivery", data={"timezone": "Asia/Dubai", "working_days": "Sun-Thu"}
    )
    assert answer.status_code == 302
    _meeting(account_manager="rita@ourmsp.example")
    assert _deliver(runner, "2030-06-03T04:59:00+00:00") == ""
    assert _deliver(runner, "2030-06-03T05:00:00+00:00").startswith("sent:")
    assert db.session.scalar(select(Delivery)).due_at == datetime(2030, 6, 3, 5, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "is not a time zone"),
        ({"working_days": "weekdays"}, "is not a day"),
    ],
)
def test_preferences_that_cannot_be_read_are_refused(client, form, message):
    answer = client.post("/account/delivery", data=form)
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
