"""The pagerduty connector and its v3 signature, against go-pagerduty's test
vector (PagerDuty's own Go client). The body there is an
`incident.priority_updated`; the other event types are that body with its
`event_type`, `id` and the incident's `status` changed, as PagerDuty's v3
webhook documentation shapes them."""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.signatures import PAGERDUTY_HEADER, Delivery, SignatureError, verify_pagerduty
from crm import flags
from crm.models import Entity, Event, InboxRecord
from tests.factories import make_client
from tests.helpers import entity_states, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
VECTOR = json.loads((VENDORS / "pagerduty_webhookv3_signature_vector.json").read_text())
BODY = json.loads(VECTOR["body"])
RAISED_AT = datetime(2021, 4, 26, 17, 36, 27, 458000, tzinfo=UTC)
COUNTS = ("accepted", "duplicate", "skipped", "rejected", "unmatched")


def body(event_type: str, status: str, minutes: int = 0, **data) -> dict:
    document = copy.deepcopy(BODY)
    document["event"] |= {
        "event_type": event_type,
        "id": f"{event_type}-{minutes}",
        "occurred_at": (RAISED_AT + timedelta(minutes=minutes)).isoformat(),
    }
    document["event"]["data"] |= {"status": status} | data
    return document


def ingest(runner, tmp_path, documents, name="bodies.json") -> dict:
    path = tmp_path / name
    path.write_text(json.dumps(documents))
    summary = ingest_file(runner, "pagerduty", path)
    return {key: summary[key] for key in COUNTS}


def _signed(header: str | None) -> Delivery:
    return Delivery(VECTOR["body"].encode(), {PAGERDUTY_HEADER: header} if header else {})


def test_go_pagerduty_vector_verifies():
    verify_pagerduty(VECTOR["secret"], _signed(VECTOR["signature"]))
    # Any of several v1 values while a secret is rolled.
    verify_pagerduty(VECTOR["secret"], _signed(f"{VECTOR['mismatch']}, {VECTOR['signature']}"))
    with pytest.raises(SignatureError, match="does not match"):
        verify_pagerduty(VECTOR["secret"], _signed(VECTOR["mismatch"]))
    with pytest.raises(SignatureError, match="no v1"):
        verify_pagerduty(VECTOR["secret"], _signed("v0=abc"))
    with pytest.raises(SignatureError, match="missing"):
        verify_pagerduty(VECTOR["secret"], _signed(None))


def test_an_incident_is_an_alert_thread_raised_acknowledged_and_resolved(runner, session, tmp_path):
    make_client("acme", identities=[("pagerduty", "PF9KMXH")])
    documents = [
        body("incident.triggered", "triggered"),
        body("incident.acknowledged", "acknowledged", 5),
        body("incident.priority_updated", "acknowledged", 6),
        body("incident.annotated", "acknowledged", 7),
    ]
    assert ingest(runner, tmp_path, documents) == {
        "accepted": 3, "duplicate": 0, "skipped": 1, "rejected": 0, "unmatched": 0
    }  # fmt: skip
    entity = session.scalars(select(Entity)).one()
    assert (entity.key, entity.status, entity.priority, entity.assignee, entity.closed_at) == (
        "PGR0VU2", "acknowledged", "high", "User 123", None
    )  # fmt: skip
    open_now = session.scalars(select(Entity.key).where(flags.open_sql(RAISED_AT))).all()
    assert open_now == ["PGR0VU2"]
    resolved = [body("incident.resolved", "resolved", 30)]
    assert ingest(runner, tmp_path, resolved, "resolved.json")["accepted"] == 1
    session.expire_all()
    entity = session.scalars(select(Entity)).one()
    assert (entity.status, entity.opened_at, entity.closed_at) == (
        "resolved", RAISED_AT, RAISED_AT + timedelta(minutes=30)
    )  # fmt: skip
    raised = session.scalars(select(Event).where(Event.kind == "alert.raised")).one()
    assert (raised.attributes["alertname"], raised.attributes["instance"]) == (
        "A little bump in the road", "API Service"
    )  # fmt: skip


def test_a_resolved_incident_seen_first_implies_its_raise_and_reingest_adds_nothing(
    runner, session, tmp_path
):
    make_client("acme", identities=[("pagerduty", "PF9KMXH")])
    document = body("incident.resolved", "resolved", 30, created_at="2021-04-26T17:00:00Z")
    assert ingest(runner, tmp_path, [document])["accepted"] == 1
    rows = session.execute(select(Event.external_id, Event.kind).order_by(Event.occurred_at)).all()
    assert rows == [("PGR0VU2:triggered", "alert.raised"), ("PGR0VU2:resolved", "alert.resolved")]
    before = entity_states(session)
    again = [body("incident.triggered", "triggered"), document]
    assert ingest(runner, tmp_path, again, "again.json")["duplicate"] == 2
    assert entity_states(session) == before


def test_rest_incidents_and_the_service_naming_the_client(runner, session, tmp_path):
    incident = copy.deepcopy(BODY["event"]["data"]) | {
        "incident_number": 2, "status": "resolved", "created_at": "2021-04-26T17:00:00Z",
        "last_status_change_at": "2021-04-26T19:00:00Z",
    }  # fmt: skip
    assert ingest(runner, tmp_path, {"incidents": [incident]})["unmatched"] == 1
    waiting = session.scalars(select(InboxRecord)).one()
    assert "pagerduty PF9KMXH" in waiting.reason
    make_client("acme")
    result = runner.invoke(args=["identities", "map", "pagerduty", "PF9KMXH", "acme"])
    assert "1 accepted" in result.output, result.output
    entity = session.scalars(select(Entity)).one()
    assert (entity.status, entity.closed_at) == ("resolved", datetime(2021, 4, 26, 19, tzinfo=UTC))


def test_bad_fields_reject_by_name(runner, session, tmp_path):
    no_service = body("incident.triggered", "triggered")
    del no_service["event"]["data"]["service"]
    bad_time = body("incident.acknowledged", "acknowledged", 5)
    bad_time["event"]["occurred_at"] = "yesterday"
    assert ingest(runner, tmp_path, [no_service, bad_time, {"event": {"id": "x"}}])["rejected"] == 3
    reasons = sorted(r.reason for r in session.scalars(select(InboxRecord)))
    assert [reason.split(" ")[0] for reason in reasons] == [
        "event.data.service.id", "event.event_type", "event.occurred_at",
    ]  # fmt: skip


def test_log_entries_verbatim_from_the_openapi_examples(runner, session, tmp_path):
    """The document's trigger entry names its incident by a bare reference
    and no service (read without `include[]=incidents`): rejected, naming
    what is missing; its resolve entry carries the service: placed by it."""
    examples = json.loads((VENDORS / "pagerduty_openapi_rest_examples.json").read_text())
    page = examples["GET /log_entries"] | {
        "log_entries": [
            *examples["GET /log_entries"]["log_entries"],
            examples["WebhookIncidentAction.log_entries[0]"],
            examples["GET /log_entries"]["log_entries"][0]
            | {"id": "N1", "type": "notify_log_entry"},
        ]
    }
    counts = ingest(runner, tmp_path, page)
    assert counts == {"accepted": 0, "duplicate": 0, "skipped": 1, "rejected": 1, "unmatched": 1}
    reasons = {r.status: r.reason for r in session.scalars(select(InboxRecord))}
    assert reasons["rejected"].startswith("incident.service.id")
    assert "pagerduty PN49J75" in reasons["unmatched"]
    make_client("cool", identities=[("pagerduty", "PN49J75")])
    result = runner.invoke(args=["identities", "map", "pagerduty", "PN49J75", "cool"])
    assert "1 accepted" in result.output, result.output
    entity = session.scalars(select(Entity)).one()
    assert (entity.key, entity.status, entity.title) == (
        "PVO5OB2", "resolved", "The server is on fire."
    )  # fmt: skip
