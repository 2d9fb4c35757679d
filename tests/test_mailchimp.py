"""The mailchimp connector: Mailchimp's documented 2009 sample events (no
`web_id`) and two deliveries Snowplow recorded in 2014 (with `web_id`), as
form bodies; the URL check (a GET) and the dedupe on type + member + fired_at."""

import base64
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from connectors.mailchimp import form_fields
from crm.models import Event, IngestRun
from tests.factories import make_client
from tests.helpers import ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
DOCUMENTED = VENDORS / "mailchimp_webhooks_documented_sample_DERIVED.txt"
RECORDED = VENDORS / "mailchimp_snowplow_recorded_deliveries.txt"
SECRET = "mc-url-key"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
COUNTS = ("accepted", "duplicate", "skipped", "rejected", "unmatched")


def ingest(runner, path) -> dict:
    summary = ingest_file(runner, "mailchimp", path)
    return {key: summary[key] for key in COUNTS}


@pytest.fixture
def keyed(app):
    app.config["WEBHOOK_SECRETS"] = {"mailchimp": SECRET}


def test_the_documented_events_go_on_the_timeline_by_address(runner, session):
    """The old shape: subscribe, unsubscribe and cleaned are marketing
    events; a profile update, a change of address and a campaign's sending
    status are skipped, each saying why."""
    make_client("mailchimp-co", identities=[("domain", "mailchimp.com")])
    assert ingest(runner, DOCUMENTED) == {
        "accepted": 3, "duplicate": 0, "skipped": 3, "rejected": 0, "unmatched": 0
    }  # fmt: skip
    events = session.scalars(select(Event).order_by(Event.occurred_at)).all()
    assert [(e.kind, e.external_id, e.thread_key) for e in events] == [
        ("email.subscribed", "subscribe:8a25ff1d98:2009-03-26 21:35:57", None),
        ("email.unsubscribed", "unsubscribe:8a25ff1d98:2009-03-26 21:40:57", "campaign:cb398d21d2"),
        (
            "email.bounced",
            "cleaned:api+cleaned@mailchimp.com:2009-03-26 22:01:00",
            "campaign:4fjk2ma9xd",
        ),
    ]
    assert events[0].occurred_at == datetime(2009, 3, 26, 21, 35, 57, tzinfo=UTC)
    assert events[0].title == "Subscribed: MailChimp API"
    assert events[0].attributes["merges"]["INTERESTS"] == "Group1,Group2"
    assert events[1].attributes["reason"] == "manual" and events[1].source == "marketing"
    assert ingest(runner, DOCUMENTED)["duplicate"] == 3


def test_the_recorded_deliveries_of_the_newer_shape(runner, session):
    make_client("snowplow", emails=["josh@snowplowanalytics.com", "agentsmith@snowplowtest.com"])
    assert ingest(runner, RECORDED)["accepted"] == 2
    events = {e.kind: e for e in session.scalars(select(Event))}
    assert events["email.unsubscribed"].attributes["web_id"] == "203740265"
    assert events["email.subscribed"].actor == "agentsmith@snowplowtest.com"
    assert events["email.subscribed"].occurred_at == datetime(2014, 11, 4, 9, 42, 31, tzinfo=UTC)


def test_mailchimps_url_check_is_answered_200_with_the_key(client, keyed, session):
    assert client.get(f"/webhooks/mailchimp?key={SECRET}").status_code == 200
    assert client.get("/webhooks/mailchimp?key=guess").status_code == 401
    assert client.get("/webhooks/mailchimp").status_code == 401
    assert client.get(f"/webhooks/zendesk?key={SECRET}").status_code == 405
    assert session.scalars(select(IngestRun)).all() == []  # nothing stored


def test_the_url_check_is_refused_without_a_secret(client):
    response = client.get("/webhooks/mailchimp?key=anything")
    assert response.status_code == 401
    assert "TOUCHLINE_WEBHOOK_SECRET_MAILCHIMP" in response.json["error"]


def test_a_delivery_again_or_to_a_second_webhook_is_one_event(client, keyed, session):
    """Mailchimp retries late answers, and every webhook of the audience
    gets the event: the same bytes are the same delivery, and the same
    event in other bytes (another field order) a duplicate."""
    make_client("snowplow", emails=["josh@snowplowanalytics.com"])
    body = RECORDED.read_text().splitlines()[0]
    url = f"/webhooks/mailchimp?key={SECRET}"
    first = client.post(url, data=body, headers=FORM)
    assert first.status_code == 200 and first.json["accepted"] == 1
    assert client.post(url, data=body, headers=FORM).json["status"] == "duplicate"
    reordered = "&".join(reversed(body.split("&")))
    other = client.post(url, data=reordered, headers=FORM)
    assert (other.json["accepted"], other.json["duplicate"]) == (0, 1)
    assert len(session.scalars(select(Event)).all()) == 1


def test_basic_auth_in_the_url_also_proves_a_delivery(client, app, session):
    app.config["WEBHOOK_SECRETS"] = {"mailchimp": "mc:pass"}
    make_client("snowplow", emails=["agentsmith@snowplowtest.com"])
    body = RECORDED.read_text().splitlines()[1]
    auth = {"Authorization": "Basic " + base64.b64encode(b"mc:pass").decode()}
    assert client.post("/webhooks/mailchimp", data=body, headers=FORM).status_code == 401
    response = client.post("/webhooks/mailchimp", data=body, headers=FORM | auth)
    assert response.status_code == 200 and response.json["accepted"] == 1


def test_an_event_without_an_address_or_time_is_rejected_naming_it(runner, tmp_path):
    path = tmp_path / "events.txt"
    path.write_text(
        urlencode({"type": "subscribe", "fired_at": "2024-01-01 10:00:00", "data[id]": "x"})
        + "\n"
        + urlencode({"type": "subscribe", "fired_at": "yesterday", "data[email]": "a@b.example"})
        + "\n"
    )
    summary = ingest_file(runner, "mailchimp", path)
    assert summary["rejected"] == 2


def test_form_fields_nest_and_repeat():
    body = "type=profile&data%5Bmerges%5D%5BFNAME%5D=Ann"
    body += "&data%5Bgroups%5D%5B%5D=a&data%5Bgroups%5D%5B%5D=b"
    assert form_fields(body) == {
        "type": "profile",
        "data": {"merges": {"FNAME": "Ann"}, "groups": ["a", "b"]},
    }
