"""Each person chooses which e-mail they receive (/account), and every e-mail
carries a one-click way to stop it: a signed link that works without
signing in, and the List-Unsubscribe headers (RFC 2369, RFC 8058) whose
POST a mail program sends on its own."""

from datetime import UTC, datetime
from email import message_from_bytes, policy
from urllib.parse import urlsplit

from sqlalchemy import select

from crm.accounts.mail import preferences, unsubscribe_token
from crm.accounts.models import AuditEntry
from crm.extensions import db
from crm.meetings.operations import create_meeting
from reports.delivery.models import Delivery
from tests.accounts import make_user, signed_in_client
from tests.factories import make_client

# Tuesday 4 June 2030: the briefing is due Monday 09:00 UTC, the digest Monday 08:00 UTC.
MONDAY = "2030-06-03T09:00:00+00:00"


def _deliver(runner, at: str = MONDAY) -> str:
    result = runner.invoke(args=["deliver", "--due", "--at", at])
    assert result.exit_code == 0, result.output
    return result.output


def _meeting(slug: str = "acme", day: int = 4):
    client = make_client(slug, account_manager="rita@ourmsp.example")
    meeting = create_meeting(
        db.session,
        client,
        {"kind": "qbr", "starts_at": datetime(2030, 6, day, 9, 0, tzinfo=UTC)},
        actor="rita@ourmsp.example",
    )
    db.session.commit()
    return meeting


def _path(url: str) -> str:
    return urlsplit(url).path


def test_the_account_page_sets_what_the_user_receives_and_audits_it(app):
    rita = make_user("executive", email="rita@ourmsp.example")
    http = signed_in_client(app, rita)
    page = http.get("/account").get_data(as_text=True)
    assert 'name="briefing" checked' in page and 'name="digest" checked' in page

    answer = http.post("/account/mail", data={"digest": "on"})
    assert answer.status_code == 302
    assert preferences(db.session, "rita@ourmsp.example") == {"briefing": False, "digest": True}
    page = http.get("/account").get_data(as_text=True)
    assert 'name="briefing">' in page and 'name="digest" checked' in page
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.mail"))
    assert (entry.actor_email, entry.target) == ("rita@ourmsp.example", "rita@ourmsp.example")
    assert entry.detail == {"receives": {"briefing": False}, "via": "account"}

    # Saving the same choice again changes nothing and logs nothing.
    http.post("/account/mail", data={"digest": "on"})
    assert (
        len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.mail")).all())
        == 1
    )
    http.post("/account/mail", data={"briefing": "on", "digest": "on"})
    assert preferences(db.session, "rita@ourmsp.example") == {"briefing": True, "digest": True}


def test_a_value_that_is_not_a_choice_is_refused(app):
    http = signed_in_client(app, make_user("executive", email="rita@ourmsp.example"))
    answer = http.post("/account/mail", data={"digest": "perhaps"})
    assert answer.status_code == 422 and "Digest: Not a valid boolean." in answer.get_data(
        as_text=True
    )
    assert preferences(db.session, "rita@ourmsp.example") == {"briefing": True, "digest": True}


def test_the_briefing_carries_the_headers_and_its_link_stops_it(app, runner, smtp_server):
    _meeting()
    assert _deliver(runner).startswith("sent:")
    [(_, content)] = smtp_server.messages
    message = message_from_bytes(content, policy=policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip("<>")
    assert url.startswith("http://localhost:5000/unsubscribe/")
    assert url in message.get_body(("html",)).get_content()
    assert url in message.get_body(("plain",)).get_content()

    # What a mail program sends for RFC 8058: no cookie, no CSRF token.
    app.config["WTF_CSRF_ENABLED"] = True
    anonymous = app.test_client()
    answer = anonymous.post(_path(url), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert "rita@ourmsp.example no longer receives the briefing" in answer.get_data(as_text=True)
    # The briefing only: the digest still goes.
    assert preferences(db.session, "rita@ourmsp.example") == {"briefing": False, "digest": True}
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.mail"))
    assert entry.target == "rita@ourmsp.example" and entry.detail["via"] == "link"

    # The next meeting's briefing is not sent, and the meeting says why.
    later = _meeting("bolt", day=12)
    output = _deliver(runner, "2030-06-11T09:00:00+00:00")
    assert output.startswith(f"declined: bolt meeting {later.id} to rita@ourmsp.example")
    assert len(smtp_server.messages) == 1
    assert db.session.scalar(select(Delivery).where(Delivery.meeting_id == later.id)).status == (
        "declined"
    )


def test_the_link_asks_before_it_stops_and_works_without_signing_in(app, runner):
    make_user("executive", email="eve@ourmsp.example")
    token = unsubscribe_token(app.config["SECRET_KEY"], "eve@ourmsp.example", "digest")
    anonymous = app.test_client()
    page = anonymous.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert "Stop sending the weekly executive digest to eve@ourmsp.example?" in page.get_data(
        as_text=True
    )
    # A link scanner that opens it stops nothing.
    assert preferences(db.session, "eve@ourmsp.example")["digest"] is True
    answer = anonymous.post(f"/unsubscribe/{token}")
    assert answer.status_code == 200
    assert preferences(db.session, "eve@ourmsp.example") == {"briefing": True, "digest": False}
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.mail"))
    assert (entry.actor_email, entry.actor_id, entry.detail["via"]) == ("anonymous", None, "link")
    assert "no longer receives" in anonymous.get(f"/unsubscribe/{token}").get_data(as_text=True)
    # Clicked twice: still stopped, nothing else logged.
    assert anonymous.post(f"/unsubscribe/{token}").status_code == 200
    assert (
        len(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.mail")).all())
        == 1
    )
    # And the digest is not sent on Monday.
    assert _deliver(runner, "2030-06-03T08:00:00+00:00") == ""


def test_a_link_that_was_altered_stops_nothing(app):
    token = unsubscribe_token(app.config["SECRET_KEY"], "eve@ourmsp.example", "digest")
    other = unsubscribe_token("another key", "eve@ourmsp.example", "briefing")
    anonymous = app.test_client()
    for bad in (token[:-2] + "xx", other, "garbage", token.replace(".", "", 1)):
        answer = anonymous.post(f"/unsubscribe/{bad}")
        assert answer.status_code == 404, bad
        assert "not one Touchline made" in answer.get_data(as_text=True)
    assert preferences(db.session, "eve@ourmsp.example") == {"briefing": True, "digest": True}
