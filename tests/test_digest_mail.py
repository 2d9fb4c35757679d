"""The weekly digest by e-mail: to each executive who has not stopped it, on
Monday at 08:00 in their own time zone, by `flask deliver --due` or the
Celery beat job; the same lists as /reports/digest. A real SMTP server
(aiosmtpd, the `smtp_server` fixture) receives the messages."""

from datetime import UTC, datetime, time
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm.accounts.mail import read_unsubscribe_token, set_receives
from crm.extensions import db
from reports.delivery.digest import weekly_due
from reports.delivery.models import DigestDelivery
from tests.accounts import make_user
from tests.mailserver import free_port
from tests.test_digest import _portfolio

# Monday 3 June 2030, 08:00 in New York (EDT, UTC-4).
MONDAY_NY = datetime(2030, 6, 3, 12, 0, tzinfo=UTC)


def _deliver(runner, at: datetime) -> str:
    result = runner.invoke(args=["deliver", "--due", "--at", at.isoformat()])
    assert result.exit_code == 0, result.output
    return result.output


def _read(content: bytes):
    return message_from_bytes(content, policy=policy.default)


def test_executives_receive_the_digest_on_monday_at_eight_in_their_time_zone(
    app, runner, smtp_server
):
    _portfolio(MONDAY_NY)
    make_user("executive", email="eve@ourmsp.example", timezone="America/New_York")
    make_user("manager", email="max@ourmsp.example", timezone="America/New_York")
    make_user("executive", email="gone@ourmsp.example", active=False)

    assert _deliver(runner, datetime(2030, 6, 3, 11, 59, tzinfo=UTC)) == ""
    output = _deliver(runner, MONDAY_NY)
    assert output == "sent: digest of week 2030-06-03 to eve@ourmsp.example\n"
    [(recipients, content)] = smtp_server.messages
    assert recipients == ["eve@ourmsp.example"]
    message = _read(content)
    assert message["Subject"] == "Weekly digest: 1 new critical, 1 fell, 1 renewing, 1 overdue"
    html = message.get_body(("html",)).get_content()
    assert "New critical flags (1)" in html and "Chargeback" in html
    assert "Renewals in the next 30 days (1)" in html and "Renewal soon" in html
    assert '<a href="http://localhost:5000/clients/acme">Acme</a>' in html
    assert "Dune" not in html
    text = message.get_body(("plain",)).get_content()
    assert "- Acme: 100 -> 80" in text and "- Cedar: Renewal soon" in text
    # One click stops it: the digest only, for this address only.
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip("<>")
    assert url in html and url in text
    token = url.rsplit("/", 1)[1]
    assert read_unsubscribe_token(app.config["SECRET_KEY"], token) == (
        "eve@ourmsp.example",
        "digest",
    )
    # Once a week: the next run sends nothing, the next Monday again.
    assert _deliver(runner, datetime(2030, 6, 3, 12, 5, tzinfo=UTC)) == ""
    assert _deliver(runner, datetime(2030, 6, 10, 12, 0, tzinfo=UTC)).startswith("sent:")
    assert len(smtp_server.messages) == 2


def test_the_day_and_time_are_settings(app, runner, smtp_server):
    app.config["DIGEST_WEEKDAY"] = "Friday"
    app.config["DIGEST_SEND_AT"] = "17:30"
    make_user("executive", email="eve@ourmsp.example")  # no zone: DELIVERY_TIMEZONE, UTC
    assert _deliver(runner, datetime(2030, 6, 3, 8, 0, tzinfo=UTC)) == ""
    assert _deliver(runner, datetime(2030, 6, 7, 17, 29, tzinfo=UTC)) == ""
    assert "sent: digest of week 2030-06-07" in _deliver(
        runner, datetime(2030, 6, 7, 17, 30, tzinfo=UTC)
    )


def test_a_digest_is_not_started_days_late(runner, smtp_server):
    make_user("executive", email="eve@ourmsp.example")
    # Thursday: Monday's digest is three days old, too late to start.
    assert _deliver(runner, datetime(2030, 6, 6, 9, 0, tzinfo=UTC)) == ""
    assert smtp_server.messages == []


def test_the_schedule_crosses_daylight_saving_changes():
    new_york, monday, eight = ZoneInfo("America/New_York"), 0, time(8, 0)
    # Summer time began on Sunday 10 March 2030: 08:00 was 13:00 UTC the
    # Monday before and 12:00 UTC the Monday after.
    assert weekly_due(datetime(2030, 3, 11, 11, 59, tzinfo=UTC), new_york, monday, eight) == (
        datetime(2030, 3, 4, 13, 0, tzinfo=UTC)
    )
    assert weekly_due(datetime(2030, 3, 11, 12, 0, tzinfo=UTC), new_york, monday, eight) == (
        datetime(2030, 3, 11, 12, 0, tzinfo=UTC)
    )
    # Sunday 00:30 in Tokyo is still Saturday in UTC: the week is Tokyo's.
    tokyo, sunday = ZoneInfo("Asia/Tokyo"), 6
    assert weekly_due(
        datetime(2030, 6, 8, 15, 30, tzinfo=UTC), tokyo, sunday, time(0, 30)
    ) == datetime(2030, 6, 8, 15, 30, tzinfo=UTC)


def test_who_stopped_the_digest_does_not_receive_it(runner, smtp_server):
    make_user("executive", email="eve@ourmsp.example", timezone="America/New_York")
    set_receives(db.session, "eve@ourmsp.example", {"digest": False}, via="account")
    db.session.commit()
    assert _deliver(runner, MONDAY_NY) == ""
    assert smtp_server.messages == []
    assert db.session.scalar(select(DigestDelivery)) is None


def test_a_failure_is_retried_and_then_shown_on_the_digest_page(app, runner, client):
    # `client` holds every role: its account is an executive too, in UTC.
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nothing listens
    outputs = [
        _deliver(runner, datetime(2030, 6, 3, 8, minute, tzinfo=UTC)) for minute in (0, 5, 10)
    ]
    assert all(out.startswith("pending: digest") for out in outputs[:2])
    assert outputs[2].startswith("failed: digest of week 2030-06-03 to everyone@touchline.test")
    assert "ConnectionRefusedError" in outputs[2]
    assert _deliver(runner, datetime(2030, 6, 3, 8, 15, tzinfo=UTC)) == ""
    html = client.get("/reports/digest").get_data(as_text=True)
    assert "Week of 03 Jun 2030 · everyone@touchline.test" in html
    assert "failed" in html and "3 attempts" in html and "ConnectionRefusedError" in html
    assert "Sent to each executive on Mondays at 08:00 in their time zone" in html


def test_the_celery_beat_job_sends_the_digest_too(app, smtp_server):
    make_user("executive", email="eve@ourmsp.example", timezone="America/New_York")
    task = app.extensions["celery"].tasks["reports.deliver_due"]
    assert task.apply(args=(MONDAY_NY.isoformat(),)).get() == {"digest sent": 1}
    assert [recipients for recipients, _ in smtp_server.messages] == [["eve@ourmsp.example"]]
