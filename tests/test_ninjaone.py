"""The ninjaone connector: organizations, devices, alerts and activities.

The webhook body and the alert and device answers are NinjaOne's as an MSP
recorded them; organizations and the activity list are built to NinjaOne's
OpenAPI document around that recorded organization, device and series
(tests/fixtures/vendors/SOURCES.md)."""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.ninjaone import epoch_time
from crm import flags
from crm.flags.recurring import raised_alert
from crm.models import Device, Entity, Event, Identity, InboxHint, InboxRecord
from tests.factories import make_client
from tests.helpers import entity_states, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
WEBHOOK = VENDORS / "ninjaone_webhook_condition_triggered_RECORDED.json"
ALERTS = VENDORS / "ninjaone_api_alerts_RECORDED.json"
DEVICES = VENDORS / "ninjaone_api_devices_RECORDED.json"
ORGANIZATIONS = VENDORS / "ninjaone_organizations_DOCUMENTED_SHAPE.json"
ACTIVITIES = VENDORS / "ninjaone_activities_DOCUMENTED_SHAPE.json"
SERIES = "e6b0b0bd-5753-445d-9e4a-71c08983cbd5"
TRIGGERED_AT = datetime(2025, 3, 19, 13, 41, 15, 556000, tzinfo=UTC)
COUNTS = ("accepted", "duplicate", "skipped", "rejected", "unmatched")


def counts(summary: dict) -> dict:
    return {key: summary[key] for key in COUNTS}


def ingest(runner, path) -> dict:
    return counts(ingest_file(runner, "ninjaone", path))


def ingest_json(runner, tmp_path, document, name="records.json") -> dict:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return ingest(runner, path)


def threads(session) -> dict[str, Entity]:
    return {entity.key: entity for entity in session.scalars(select(Entity))}


def identities(session, system: str) -> dict[str, int]:
    rows = session.execute(
        select(Identity.external_key, Identity.client_id).where(Identity.system == system)
    )
    return dict(rows.all())


def test_organizations_name_their_client_by_id_and_by_name(runner, session):
    acme = make_client("country-consulting", identities=[("ninjaone", "2")])
    assert ingest(runner, ORGANIZATIONS) == {
        "accepted": 1, "duplicate": 0, "skipped": 0, "rejected": 0, "unmatched": 1
    }  # fmt: skip
    # Organization 2 registers its name, which device exports use.
    assert identities(session, "rmm-client") == {"Country Consulting": acme.id}
    waiting = session.scalars(select(InboxHint.key).where(InboxHint.system == "ninjaone")).all()
    assert waiting == ["5"]
    harbor = make_client("harbor-dental")
    result = runner.invoke(args=["identities", "map", "ninjaone", "5", "harbor-dental"])
    assert "1 accepted" in result.output, result.output
    assert identities(session, "rmm-client")["Harbor Dental"] == harbor.id
    # Again: nothing new.
    assert ingest(runner, ORGANIZATIONS)["duplicate"] == 2


def test_a_device_joins_the_inventory_and_places_the_alerts_naming_its_id(runner, session):
    acme = make_client("country-consulting", identities=[("ninjaone", "2")])
    assert ingest(runner, DEVICES)["accepted"] == 1
    device = session.scalars(select(Device)).one()
    assert (device.client_id, device.hostname, device.host, device.device_type) == (
        acme.id, "ccesxi03.cc.local", "ccesxi03.cc.local", "Vmware vm host"
    )  # fmt: skip
    assert (device.rmm, device.rmm_id) == ("ninjaone", "7")
    assert device.last_seen_at == datetime(2025, 3, 19, 19, 24, 12, 744000, tzinfo=UTC)
    assert identities(session, "ninjaone-device") == {"7": acme.id}
    assert identities(session, "host")["ccesxi03.cc.local"] == acme.id
    assert ingest(runner, DEVICES)["duplicate"] == 1
    # The activity list names only the device: its id places every record.
    result = ingest(runner, ACTIVITIES)
    assert (result["accepted"], result["skipped"], result["unmatched"]) == (8, 1, 0)


def test_each_series_is_an_alert_thread_at_its_records_own_times(runner, session):
    make_client("country-consulting", identities=[("ninjaone", "2")])
    ingest(runner, DEVICES)
    assert ingest(runner, ACTIVITIES) == {
        "accepted": 8, "duplicate": 0, "skipped": 1, "rejected": 0, "unmatched": 0
    }  # fmt: skip
    found = threads(session)
    first = found[SERIES]
    assert (first.type, first.status, first.opened_at, first.closed_at) == (
        "alert", "resolved", TRIGGERED_AT, TRIGGERED_AT + timedelta(minutes=10)
    )  # fmt: skip
    assert (first.category, first.assignee) == ("vmm_cond_memory_usage_ge", "ninjaone user 31")
    again = found["f3e2d1c0-b9a8-4776-9655-443322110099"]
    assert (again.status, again.priority) == ("firing", "critical")
    assert found["9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"].status == "firing"
    # A failed patch run raised the device's patch alert; the next good run cleared it.
    patch = found["7:patch"]
    assert (patch.status, patch.opened_at, patch.closed_at) == (
        "resolved",
        datetime(2025, 3, 21, 14, tzinfo=UTC),
        datetime(2025, 3, 21, 15, tzinfo=UTC),
    )
    backup = found["7:backup"]
    assert (backup.status, backup.priority, backup.title) == (
        "firing", "high", "Backup failed: Nightly image backup"
    )  # fmt: skip
    skipped = session.scalars(select(InboxRecord).where(InboxRecord.status == "skipped")).one()
    assert "SYSTEM APP_USER_LOGGED_IN is not mapped" in skipped.reason


def test_the_same_check_on_the_same_device_three_times_recurs(runner, session):
    make_client("country-consulting", identities=[("ninjaone", "2")])
    ingest(runner, DEVICES)
    ingest(runner, ACTIVITIES)
    raised = session.scalars(
        select(Event).where(Event.kind == "alert.raised").order_by(Event.occurred_at)
    ).all()
    found = flags.recurrences([raised_alert(e) for e in raised], TRIGGERED_AT + timedelta(days=3))
    assert [(r.alertname, r.instance, r.times) for r in found] == [
        ("vmm_cond_memory_usage_ge", "device 7", 3)
    ]


def test_the_webhook_and_the_activity_list_tell_one_raise(runner, session, tmp_path):
    """The recorded delivery (its device expanded, so its organization places
    it and teaches the device id) and the list's unexpanded activity are two
    shapes of the same activity: one raise. Re-ingesting adds nothing."""
    make_client("country-consulting", identities=[("ninjaone", "2")])
    assert ingest(runner, WEBHOOK)["accepted"] == 1
    assert identities(session, "ninjaone-device") == {"7": session.scalar(select(Entity.client_id))}
    # No device file: the webhook taught device 7's client.
    assert ingest(runner, ACTIVITIES) == {
        "accepted": 7, "duplicate": 1, "skipped": 1, "rejected": 0, "unmatched": 0
    }  # fmt: skip
    before = entity_states(session)
    events = session.scalar(select(Event.id).order_by(Event.id.desc()))
    assert ingest(runner, ACTIVITIES)["duplicate"] == 8
    assert ingest(runner, WEBHOOK)["duplicate"] == 1
    assert entity_states(session) == before
    assert session.scalar(select(Event.id).order_by(Event.id.desc())) == events
    raised = session.scalars(
        select(Event).where(Event.thread_key == SERIES, Event.kind == "alert.raised")
    ).one()
    assert raised.occurred_at == TRIGGERED_AT
    assert raised.attributes["device_name"] == "ccesxi03.cc.local"


def test_an_open_alert_is_raised_at_its_creation_and_waits_for_its_device(
    runner, session, tmp_path
):
    assert ingest(runner, ALERTS)["unmatched"] == 1
    waiting = session.scalars(select(InboxRecord)).one()
    assert "ninjaone-device 33" in waiting.reason
    make_client("acme", identities=[("ninjaone", "2")])
    device = {"id": 33, "organizationId": 2, "nodeClass": "WINDOWS_SERVER", "systemName": "FS01"}
    assert ingest_json(runner, tmp_path, [device])["accepted"] == 1
    alert = session.scalars(select(Entity)).one()
    assert (alert.key, alert.status, alert.opened_at, alert.category) == (
        "50edcf11-de92-4ecb-955b-c8066488b6cc",
        "firing",
        datetime(2024, 10, 31, 0, 1, 55, tzinfo=UTC),
        "agent_cond_eventlog2",
    )


def test_bad_records_are_rejected_naming_the_record_and_field(runner, session, tmp_path):
    make_client("country-consulting", identities=[("ninjaone", "2")])
    recorded = json.loads(WEBHOOK.read_text())
    no_time = copy.deepcopy(recorded)
    del no_time["activityTime"]
    bad_time = copy.deepcopy(recorded) | {"activityTime": "yesterday"}
    no_series = copy.deepcopy(recorded)
    del no_series["seriesUid"]
    bad_result = {
        "id": 9, "activityTime": 1742565600, "deviceId": 7, "activityType": "PATCH_MANAGEMENT",
        "statusCode": "PATCH_MANAGEMENT_INSTALL_FAILED", "activityResult": "MAYBE",
    }  # fmt: skip
    bad_device = {"id": 8, "organizationId": 2, "systemName": "mac-2", "lastContact": "soon"}
    nameless = {"id": 8, "nodeClass": "MAC", "systemName": "mac-1"}
    document = {"activities": [no_time, bad_time, no_series, bad_result, "not an object", {"x": 1}]}
    result = ingest_json(runner, tmp_path, document)
    assert result["rejected"] == 6 and result["accepted"] == 0
    location = {"id": 2, "name": "Main Office", "address": "1 Main St"}  # not an organization
    others = [bad_device, nameless, location]
    assert ingest_json(runner, tmp_path, others, "others.json")["rejected"] == 3
    rejected = session.scalars(
        select(InboxRecord).where(InboxRecord.status == "rejected").order_by(InboxRecord.id)
    ).all()
    assert [(r.locator, r.field) for r in rejected] == [
        ("activities[0]", "activityTime"),
        ("activities[1]", "activityTime"),
        ("activities[2]", "seriesUid"),
        ("activities[3]", "activityResult"),
        ("activities[4]", None),
        ("activities[5]", None),
        ("index 0", "lastContact"),
        ("index 1", "organizationId"),
        ("index 2", None),
    ]
    reasons = [r.reason for r in rejected]
    assert reasons[0] == "activityTime is required"
    assert reasons[4] == "not an object"
    assert reasons[5].startswith("not a NinjaOne organization, device, alert or activity")
    assert reasons[6].startswith("lastContact is not a time")
    assert reasons[7] == "organizationId is required: it names the device's client"
    assert reasons[8].startswith("not a NinjaOne organization")
    assert "'yesterday' is not an ISO 8601 date or time" in rejected[1].reason
    # Every record is kept as it came, to be corrected and replayed.
    assert rejected[0].record["seriesUid"] == SERIES


def test_the_webhook_takes_the_authorization_header_it_is_configured_with(app, client, session):
    make_client("country-consulting", identities=[("ninjaone", "2")])
    app.config["WEBHOOK_SECRETS"] = {"ninjaone": "n1-token"}
    body = WEBHOOK.read_bytes()
    json_type = {"Content-Type": "application/json"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Touchline-Signature": "sha256=0"}):
        response = client.post("/webhooks/ninjaone", data=body, headers=headers | json_type)
        assert response.status_code == 401, headers
    response = client.post(
        "/webhooks/ninjaone", data=body, headers={"Authorization": "Bearer n1-token"} | json_type
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (response.json["status"], response.json["accepted"]) == ("finished", 1)
    assert threads(session)[SERIES].status == "firing"


def test_times_are_seconds_milliseconds_or_iso_text():
    for text in ("1742391675.556", "1742391675556", "2025-03-19T13:41:15.556Z"):
        assert epoch_time(text) == TRIGGERED_AT, text
    for text in ("NaN", "1e400", "soon", "-1e30"):
        with pytest.raises(ValueError):
            epoch_time(text)
