"""JSON past the limits of crm.jsontext is one bad record or a 400, never a 500.

A line nested 1,000 deep or holding a 4,401-digit integer once failed a whole
import (RecursionError, ValueError), and the same in an API write answered 500.
"""

import json

import pytest
from sqlalchemy import select

from connectors.signatures import sign_hmac
from crm import jsontext
from crm.models import Event, InboxRecord
from tests.factories import event, make_client
from tests.helpers import ingest_file

DEEP = "[" * 1000 + "]" * 1000
HUGE = "9" * 4401


def test_the_limits_are_named_and_real_records_pass():
    for text, problem in (
        ('{"a": ' + DEEP + "}", "nested more than 64 levels deep"),
        ('{"a": ' + HUGE + "}", "a number of more than 100 digits"),
        ('{"a": 1.' + HUGE + "}", "a number of more than 100 digits"),
    ):
        with pytest.raises(json.JSONDecodeError, match=problem):
            jsontext.loads(text)
    nested = "[" * 64 + "]" * 64
    assert jsontext.loads(nested) is not None
    assert jsontext.loads('{"amount": 12345678901234.5678}')["amount"].as_tuple().exponent == -4


def test_one_hostile_line_is_one_rejected_record(runner, session, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    good = [event(f"g{i}", "ticket.opened", i, account="AC-1", thread=f"T{i}") for i in range(2)]
    lines = [
        json.dumps(good[0]),
        '{"id": "deep", "kind": "ticket.opened", "attributes": ' + DEEP + "}",
        '{"id": "huge", "kind": "ticket.opened", "amount": ' + HUGE + "}",
        json.dumps(good[1]),
    ]
    path = tmp_path / "hostile.ndjson"
    path.write_text("\n".join(lines) + "\n")
    summary = ingest_file(runner, "tickets", path)
    assert (summary["accepted"], summary["rejected"], summary["status"]) == (2, 2, "finished")
    reasons = session.scalars(select(InboxRecord.reason).order_by(InboxRecord.position)).all()
    assert reasons == [
        "not valid JSON: is nested more than 64 levels deep",
        "not valid JSON: holds a number of more than 100 digits",
    ]
    assert len(session.scalars(select(Event)).all()) == 2


@pytest.mark.parametrize("value", [DEEP, HUGE], ids=["deep", "huge"])
def test_an_api_write_answers_400_naming_the_problem(client, value):
    body = '{"slug": "acme", "name": "Acme", "notes": ' + value + "}"
    response = client.post(
        "/api/v1/clients", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["field"] == "json"
    assert "the JSON body" in response.json["message"]


def test_a_webhook_body_past_the_limits_is_refused_and_kept(app, client, session):
    app.config["WEBHOOK_SECRETS"] = {"tickets": "s3cret"}
    body = ('[{"id": "w1", "kind": "ticket.opened", "attributes": ' + DEEP + "}]").encode()
    signature = sign_hmac("s3cret", body)
    headers = {"Content-Type": "application/json", "X-Touchline-Signature": signature}
    response = client.post("/webhooks/tickets", data=body, headers=headers)
    assert response.status_code == 400
    assert "nested more than 64 levels deep" in response.json["error"]
