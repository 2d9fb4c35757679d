"""The alertmanager connector: Grafana's published body and Alertmanager's format."""

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.alertmanager import SETTING, AlertmanagerConnector
from connectors.base import RecordError
from crm.models import Entity, Event, InboxRecord
from tests.factories import make_client
from tests.helpers import entity_states, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
GRAFANA = VENDORS / "grafana_alerting_webhook_firing.json"
TEMPLATE = VENDORS / "prometheus_alertmanager_webhook_format_SCHEMA_TEMPLATE.txt"
NO_END = "0001-01-01T00:00:00Z"


def ingest(runner, path) -> dict:
    return ingest_file(runner, "alertmanager", path)


def write(path: Path, document) -> Path:
    path.write_text(json.dumps(document))
    return path


def alert(status: str, ends_at: str = NO_END, **labels) -> dict:
    """One alert as prometheus/alertmanager docs/configuration.md lays it out."""
    return {
        "status": status,
        "labels": {
            "alertname": "HostDown",
            "instance": "web-1:9100",
            "job": "node",
            "severity": "critical",
        }
        | labels,
        "annotations": {"summary": "web-1 is down", "description": "No scrape for 5 minutes"},
        "startsAt": "2026-03-02T10:00:00.000Z",
        "endsAt": ends_at,
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
        "fingerprint": "a1b2c3d4e5f60718",
    }


def body(status: str, alerts: list[dict]) -> dict:
    """The webhook body of prometheus_alertmanager_webhook_format_SCHEMA_TEMPLATE.txt."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HostDown"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "touchline",
        "groupLabels": {"alertname": "HostDown"},
        "commonLabels": {"alertname": "HostDown", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "notification_reason": "new_alerts",
        "alerts": alerts,
    }


FIRING = body("firing", [alert("firing", customer="acme")])
RESOLVED = body("resolved", [alert("resolved", "2026-03-02T10:45:00Z", customer="acme")])


def test_the_written_body_follows_the_documented_template():
    """The published template is not JSON; our body has exactly its fields."""
    text = TEMPLATE.read_text()
    split = text.index('"alerts"')
    top, in_alert = (set(re.findall(r'"(\w+)":', part)) for part in (text[:split], text[split:]))
    assert set(FIRING) == top | {"alerts"}
    assert set(FIRING["alerts"][0]) == in_alert - {"alerts"}


def test_grafana_sample_needs_the_client_label(runner, session):
    """Grafana's sample has no `customer` label: each alert says what is missing."""
    summary = ingest(runner, GRAFANA)
    assert (summary["total"], summary["rejected"]) == (2, 2)
    rows = session.scalars(select(InboxRecord).order_by(InboxRecord.position)).all()
    assert [(r.locator, r.field) for r in rows] == [
        ("alerts[0]", "labels.customer"),
        ("alerts[1]", "labels.customer"),
    ]
    assert SETTING in rows[0].reason


def test_grafana_sample_with_a_configured_label(app, runner, session):
    app.config[SETTING] = "team"
    acme = make_client("acme")
    assert ingest(runner, GRAFANA)["unmatched"] == 2
    result = runner.invoke(args=["identities", "map", "alertmanager", "blue", "acme"])
    assert "replayed 2 alertmanager records: 2 accepted" in result.output

    events = session.scalars(select(Event).order_by(Event.occurred_at)).all()
    assert [(e.kind, e.client_id, e.thread_key) for e in events] == [
        ("alert.raised", acme.id, "c6eadffa33fcdf37"),
        ("alert.raised", acme.id, "bc97ff14869b13e3"),
    ]
    first = events[0]
    assert first.external_id == "c6eadffa33fcdf37:2021-10-12T07:51:03.157076Z:firing"
    assert first.occurred_at.isoformat() == "2021-10-12T07:51:03.157076+00:00"
    assert (first.title, first.detail) == (
        "This alert was triggered for zone us-1",
        "The system has high memory usage",
    )
    assert first.url == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert first.attributes["alertname"] == "High memory usage"
    assert first.attributes["receiver"] == "My Super Webhook"
    assert {e.status for e in session.scalars(select(Entity))} == {"firing"}
    assert ingest(runner, GRAFANA)["duplicate"] == 2


def test_firing_then_resolved_is_one_alert_in_any_order(runner, session, tmp_path):
    acme = make_client("acme", identities=[("alertmanager", "acme")])
    firing, resolved = write(tmp_path / "f.json", FIRING), write(tmp_path / "r.json", RESOLVED)
    assert ingest(runner, firing)["accepted"] == 1
    assert ingest(runner, resolved)["accepted"] == 1
    kinds = session.execute(select(Event.kind, Event.client_id, Event.occurred_at)).all()
    assert sorted((kind, client_id, at.isoformat()) for kind, client_id, at in kinds) == [
        ("alert.raised", acme.id, "2026-03-02T10:00:00+00:00"),
        ("alert.resolved", acme.id, "2026-03-02T10:45:00+00:00"),
    ]
    in_order = entity_states(session)
    alert_state = in_order[0]
    assert (alert_state.key, alert_state.status, alert_state.title) == (
        "a1b2c3d4e5f60718",
        "resolved",
        "web-1 is down",
    )
    assert (alert_state.priority, alert_state.category, alert_state.event_count) == (
        "critical",
        "HostDown",
        2,
    )
    raised = session.scalars(select(Event).where(Event.kind == "alert.raised")).one()
    assert (raised.attributes["instance"], raised.attributes["alertname"]) == (
        "web-1:9100",
        "HostDown",
    )
    assert ingest(runner, firing)["duplicate"] == 1  # Alertmanager repeats itself
    assert ingest(runner, resolved)["duplicate"] == 1

    session.execute(Entity.__table__.delete())
    session.execute(Event.__table__.delete())
    session.commit()
    assert ingest(runner, write(tmp_path / "r2.json", RESOLVED))["accepted"] == 1
    assert ingest(runner, write(tmp_path / "f2.json", FIRING))["accepted"] == 1
    assert entity_states(session) == in_order


def test_tenant_label_is_the_fallback_and_waits_until_mapped(runner, session, tmp_path):
    globex = make_client("globex")
    path = write(tmp_path / "b.json", body("firing", [alert("firing", tenant="gx")]))
    assert ingest(runner, path)["unmatched"] == 1
    reason = session.scalars(select(InboxRecord.reason)).one()
    assert "alertmanager gx" in reason
    result = runner.invoke(args=["identities", "map", "alertmanager", "gx", "globex"])
    assert "1 accepted" in result.output
    assert session.scalars(select(Event.client_id)).one() == globex.id


def test_odd_alerts_are_skipped_or_rejected_by_name(runner, session, tmp_path):
    make_client("acme", identities=[("alertmanager", "acme")])
    no_start = alert("firing", customer="acme")
    del no_start["startsAt"]
    alerts = [
        alert("pending", customer="acme"),
        no_start,
        alert("resolved", customer="acme"),  # resolved, but no end time
        "not an alert",
    ]
    summary = ingest(runner, write(tmp_path / "odd.json", body("firing", alerts)))
    assert (summary["skipped"], summary["rejected"]) == (1, 3)
    rows = {r.locator: r for r in session.scalars(select(InboxRecord))}
    assert "status 'pending' is not mapped" in rows["alerts[0]"].reason
    assert rows["alerts[1]"].field == "startsAt"
    assert rows["alerts[2]"].field == "endsAt"
    assert rows["alerts[3]"].status == "rejected"

    session.execute(InboxRecord.__table__.delete())
    session.commit()
    legacy = {"ruleName": "CPU", "state": "alerting", "evalMatches": []}
    assert ingest(runner, write(tmp_path / "legacy.json", legacy))["rejected"] == 1
    assert session.scalars(select(InboxRecord.field)).one() == "alerts"


def test_the_client_label_is_configurable(app, monkeypatch):
    record = alert("firing", site="north", customer="acme") | {"group": {}}
    data = AlertmanagerConnector.schema().load(record)
    assert AlertmanagerConnector().convert(data)[0].hints.identities == (("alertmanager", "acme"),)
    chosen = AlertmanagerConnector(client_label="site").convert(data)[0]
    assert chosen.hints.identities == (("alertmanager", "north"),)
    monkeypatch.setenv(SETTING, "site")
    assert AlertmanagerConnector().client_label == "site"
    app.config[SETTING] = "region"
    assert AlertmanagerConnector().client_label == "region"
    with pytest.raises(RecordError) as error:
        AlertmanagerConnector().convert(data)
    assert error.value.field == "labels.region"
