"""The alertmanager connector: Grafana's published body, Alertmanager's format and
bodies the real Alertmanager 0.25 delivered (tests/fixtures/vendors/SOURCES.md)."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from connectors.alertmanager import SETTING, AlertmanagerConnector
from connectors.base import RecordError
from connectors.pipeline import Pipeline
from connectors.review import map_and_replay, unmatched_groups
from crm.extensions import db
from crm.models import Entity, Event, InboxHint, InboxRecord
from tests.factories import make_client
from tests.helpers import entity_states, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
GRAFANA = VENDORS / "grafana_alerting_webhook_firing.json"
TEMPLATE = VENDORS / "prometheus_alertmanager_webhook_format_SCHEMA_TEMPLATE.txt"
RECORDED_FIRING = VENDORS / "alertmanager_0.25_webhook_firing_RECORDED.json"
RECORDED_RESOLVED = VENDORS / "alertmanager_0.25_webhook_resolved_RECORDED.json"
NO_END = "0001-01-01T00:00:00Z"


def ingest(runner, path) -> dict:
    return ingest_file(runner, "alertmanager", path)


def write(path: Path, document) -> Path:
    path.write_text(json.dumps(document))
    return path


def alert(status: str, ends_at: str = NO_END, starts_at="2026-03-02T10:00:00.000Z", **labels):
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
        "startsAt": starts_at,
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
    """Grafana's sample has no `customer` label, and no `instance`, `job` or
    `cluster` that could place it: each alert says what is missing."""
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
        ("alert.raised", acme.id, "c6eadffa33fcdf37@2021-10-12T07:51:03.157076Z"),
        ("alert.raised", acme.id, "bc97ff14869b13e3@2021-10-12T07:56:03.157076Z"),
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


OCCURRENCE = "a1b2c3d4e5f60718@2026-03-02T10:00:00Z"


def test_firing_then_resolved_is_one_occurrence_in_any_order(runner, session, tmp_path):
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
        OCCURRENCE,
        "resolved",
        "web-1 is down",
    )
    assert (alert_state.priority, alert_state.category, alert_state.event_count) == (
        "critical",
        "HostDown",
        2,
    )
    assert (alert_state.opened_at.isoformat(), alert_state.closed_at.isoformat()) == (
        "2026-03-02T10:00:00+00:00",
        "2026-03-02T10:45:00+00:00",
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
    # Resolved first: the record implies the raise, with the id the firing
    # record's raise has; the firing record then adds nothing.
    assert ingest(runner, write(tmp_path / "r2.json", RESOLVED))["accepted"] == 1
    assert ingest(runner, write(tmp_path / "f2.json", FIRING))["duplicate"] == 1
    assert entity_states(session) == in_order


def test_an_alert_that_arrives_resolved_still_fired(runner, session, tmp_path):
    """An imported history is mostly resolved alerts: each one fired at
    `startsAt`, with the labels the briefing reads recurrence from."""
    make_client("acme", identities=[("alertmanager", "acme")])
    assert ingest(runner, write(tmp_path / "r.json", RESOLVED))["accepted"] == 1
    raised, resolved = session.scalars(select(Event).order_by(Event.occurred_at)).all()
    assert (raised.kind, raised.occurred_at.isoformat()) == (
        "alert.raised",
        "2026-03-02T10:00:00+00:00",
    )
    assert raised.external_id == "a1b2c3d4e5f60718:2026-03-02T10:00:00Z:firing"
    assert raised.attributes["implied_by"] == resolved.external_id
    assert (raised.attributes["instance"], raised.attributes["alertname"]) == (
        "web-1:9100",
        "HostDown",
    )
    assert (raised.title, raised.detail) == ("web-1 is down", "No scrape for 5 minutes")
    assert raised.thread_key == resolved.thread_key == OCCURRENCE


def test_each_occurrence_is_its_own_thread(runner, session, tmp_path):
    """The same check on the same target, firing three times: three alerts,
    whichever way they arrive; a fourth still firing stays open."""
    make_client("acme", identities=[("alertmanager", "acme")])
    starts = ["2026-03-02T10:00:00Z", "2026-03-05T08:00:00Z", "2026-03-09T22:30:00Z"]
    ends = ["2026-03-02T10:20:00Z", "2026-03-05T09:00:00Z", "2026-03-10T01:00:00Z"]
    history = [
        alert("resolved", end, start, customer="acme")
        for start, end in zip(starts, ends, strict=True)
    ]
    history.append(alert("firing", starts_at="2026-03-11T06:00:00Z", customer="acme"))
    assert ingest(runner, write(tmp_path / "h.json", body("resolved", history)))["accepted"] == 4
    threads = session.scalars(select(Entity).order_by(Entity.opened_at)).all()
    assert [(t.key, t.status) for t in threads] == [
        ("a1b2c3d4e5f60718@2026-03-02T10:00:00Z", "resolved"),
        ("a1b2c3d4e5f60718@2026-03-05T08:00:00Z", "resolved"),
        ("a1b2c3d4e5f60718@2026-03-09T22:30:00Z", "resolved"),
        ("a1b2c3d4e5f60718@2026-03-11T06:00:00Z", "firing"),
    ]
    raises = session.scalars(select(Event.occurred_at).where(Event.kind == "alert.raised"))
    assert sorted(at.isoformat() for at in raises) == [
        "2026-03-02T10:00:00+00:00",
        "2026-03-05T08:00:00+00:00",
        "2026-03-09T22:30:00+00:00",
        "2026-03-11T06:00:00+00:00",
    ]


def test_the_bodies_alertmanager_delivered(runner, session):
    """Bodies the real Alertmanager 0.25 posted for one alert, firing then
    resolved. They carry no client label: they wait under the host of their
    `instance`, and one mapping places both."""
    assert ingest(runner, RECORDED_RESOLVED)["unmatched"] == 1
    assert ingest(runner, RECORDED_FIRING)["unmatched"] == 1
    reasons = session.scalars(select(InboxRecord.reason)).all()
    assert reasons == ["no client found for host web-1.acme.example"] * 2
    acme = make_client("acme")
    # A host is named in any case, as a person types it.
    result = runner.invoke(args=["identities", "map", "host", "WEB-1.acme.example", "acme"])
    assert result.output.startswith("host web-1.acme.example -> acme")
    # Replayed together, the firing record's own raise goes in, not the implied one.
    assert "replayed 2 alertmanager records: 2 accepted" in result.output
    [thread] = session.scalars(select(Entity)).all()
    assert (thread.client_id, thread.key, thread.status) == (
        acme.id,
        "29dbe43989c481a2@2026-12-04T16:16:18Z",
        "resolved",
    )
    assert (thread.opened_at.isoformat(), thread.closed_at.isoformat()) == (
        "2026-12-04T16:16:18+00:00",
        "2026-12-04T16:26:18+00:00",
    )
    assert thread.event_count == 2


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
    host = ("host", "web-1")  # the device, which the inventory may know the client of
    assert AlertmanagerConnector().convert(data)[0].hints.identities == (
        ("alertmanager", "acme"),
        host,
    )
    chosen = AlertmanagerConnector(client_label="site").convert(data)[0]
    assert chosen.hints.identities == (("alertmanager", "north"), host)
    monkeypatch.setenv(SETTING, "site")
    assert AlertmanagerConnector().client_label == "site"
    app.config[SETTING] = "region"
    assert AlertmanagerConnector().client_label == "region"
    assert AlertmanagerConnector().convert(data)[0].hints.identities == (host,)
    unplaced = data | {"labels": {"alertname": "HostDown", "customer": "acme"}}
    with pytest.raises(RecordError) as error:
        AlertmanagerConnector().convert(unplaced)
    assert error.value.field == "labels.region"


@pytest.mark.parametrize(
    ("labels", "hint"),
    [
        (
            {"instance": "https://shop.acme.example/health", "job": "blackbox"},
            ("host", "shop.acme.example"),
        ),
        ({"instance": "[fe80::1]:9100", "job": "node"}, ("host", "fe80::1")),
        ({"job": "acme-node", "cluster": "eu-1"}, ("alertmanager-job", "acme-node")),
        ({"cluster": "acme-prod"}, ("alertmanager-cluster", "acme-prod")),
    ],
)
def test_an_alert_without_a_client_label_waits_under_what_it_carries(
    runner, session, tmp_path, labels, hint
):
    """Its device's host (without the port), else its job, else its cluster:
    one mapping of that hint places every alert that carries it."""
    acme = make_client("acme")
    raw = [alert(status, "2026-03-02T10:45:00Z") for status in ("firing", "resolved")]
    for record in raw:
        record["labels"] = {"alertname": "Probe"} | labels
    assert ingest(runner, write(tmp_path / "a.json", body("firing", raw)))["unmatched"] == 2
    hints = session.execute(select(InboxHint.system, InboxHint.key)).all()
    assert hints == [hint, hint]
    result = runner.invoke(args=["identities", "map", *hint, "acme"])
    assert "2 accepted" in result.output, result.output
    assert set(session.scalars(select(Event.client_id))) == {acme.id}


def test_the_queue_names_the_device_and_whose_it_probably_is(runner, session):
    """One group per device, with the client whose mail domain its host is in."""
    make_client("acme", name="Acme Corp", emails=["ops@acme.example"])
    make_client("globex", name="Globex")
    ingest(runner, RECORDED_FIRING)
    ingest(runner, RECORDED_RESOLVED)
    [group] = unmatched_groups(session).items
    assert (group.label, group.records) == ("device web-1.acme.example", 2)
    best = group.suggestions[0]
    assert best.slug == "acme"
    assert best.reasons[0].startswith("same email domain acme.example")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_the_briefing_counts_occurrences_and_flags_the_recurrence(client, runner, tmp_path):
    """The same check on the same device three times in a month, each time
    delivered resolved only: three alerts raised and resolved, each timed,
    and the recurring-alert flag, read from the raises the records implied."""
    make_client("acme", identities=[("alertmanager", "acme")])
    now = datetime.now(UTC).replace(microsecond=0)
    history = []
    for days, minutes in ((20, 30), (12, 90), (4, 60)):
        start = now - timedelta(days=days)
        end = start + timedelta(minutes=minutes)
        history.append(alert("resolved", iso(end), iso(start), customer="acme"))
    assert ingest(runner, write(tmp_path / "h.json", body("resolved", history)))["accepted"] == 3

    briefing = client.get("/api/v1/clients/acme/briefing").json
    numbers = briefing["numbers"]
    assert (numbers["alerts_raised"], numbers["alerts_resolved"]) == (3, 3)
    assert (numbers["alerts_timed"], numbers["median_time_to_resolve_seconds"]) == (3, 3600)
    [recurring] = [flag for flag in briefing["flags"] if flag["kind"] == "recurring_alert"]
    assert recurring["title"] == "HostDown on web-1:9100"
    assert len(recurring["event_ids"]) == 3
    page = client.get("/clients/acme/briefing").get_data(as_text=True)
    assert "Median time to resolve: 1 h (3 alerts)." in page
    assert "3 alerts raised and 3 resolved in 12 months" in page


def test_an_occurrence_has_its_page(client, runner, tmp_path):
    make_client("acme", identities=[("alertmanager", "acme")])
    ingest(runner, write(tmp_path / "r.json", RESOLVED))
    page = client.get(f"/clients/acme/threads/alert/{OCCURRENCE}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "web-1 is down" in text and "alert raised" in text and "alert resolved" in text
    answer = client.get(f"/api/v1/clients/acme/threads/alert/{OCCURRENCE}").json
    assert [event["kind"] for event in answer["events"]] == ["alert.raised", "alert.resolved"]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_split_order_and_mapping_of_deliveries_gives_the_same_alerts(app, session, data):
    """Occurrences seen firing, resolved or both, delivered in any order and
    any split into bodies, with the client label mapped before or after:
    each occurrence is one thread, raised at its start once, closed at its end
    when a resolve came."""
    for table in reversed(db.metadata.sorted_tables):
        session.execute(table.delete())
    session.commit()
    seen = data.draw(
        st.lists(st.sampled_from(["firing", "resolved", "both"]), min_size=1, max_size=4)
    )
    records, expected = [], []
    for day, what in enumerate(seen, start=1):
        start, end = f"2026-03-0{day}T10:00:00Z", f"2026-03-0{day}T11:30:00Z"
        if what in ("firing", "both"):
            records.append(alert("firing", starts_at=start, customer="acme"))
        if what in ("resolved", "both"):
            records.append(alert("resolved", end, start, customer="acme"))
        closed = datetime.fromisoformat(end) if what != "firing" else None
        expected.append((f"a1b2c3d4e5f60718@{start}", datetime.fromisoformat(start), closed))
    deliveries = data.draw(st.permutations(records))
    cuts = sorted(data.draw(st.lists(st.integers(1, len(deliveries)), max_size=3)))
    mapped_first = data.draw(st.booleans())

    acme = make_client("acme", identities=[("alertmanager", "acme")] if mapped_first else [])
    connector = AlertmanagerConnector()
    for begin, stop in zip([0, *cuts], [*cuts, len(deliveries)], strict=True):
        if begin < stop:
            content = json.dumps(body("firing", list(deliveries[begin:stop]))).encode()
            Pipeline(session).ingest(connector, content, "body.json", "test")
    if not mapped_first:
        map_and_replay(session, "alertmanager", "acme", acme, "test", via="test")
        session.commit()

    threads = session.execute(
        select(Entity.key, Entity.opened_at, Entity.closed_at).order_by(Entity.opened_at)
    ).all()
    assert [tuple(thread) for thread in threads] == expected
    raises = session.scalars(select(Event.occurred_at).where(Event.kind == "alert.raised"))
    assert sorted(raises) == [opened for _, opened, _ in expected]
