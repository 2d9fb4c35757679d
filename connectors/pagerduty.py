"""The `pagerduty` connector (rmm): PagerDuty v3 webhooks and REST incidents.

Input: a v3 webhook body (`{"event": {"event_type": "incident.triggered",
"data": <incident>, ...}}`, one a delivery; a file may hold an array or
NDJSON of them), or incidents as `GET /incidents` answers them
(`{"incidents": [...]}`, `{"incident": {...}}`, or the objects).

Each incident is an alert thread keyed by its id, placed by its service
("the service names the client": identity system `pagerduty`, the service's
id). Its urgency is the thread's priority, its PagerDuty priority (P1...)
an attribute.

  incident.triggered     alert.raised at the event's `occurred_at` (or the
                         incident's `created_at`), id `<incident>:triggered`;
                         it names the check (`alertname`: the title) and the
                         device (`instance`: the service) that recurrences count
  incident.resolved      alert.resolved at `occurred_at`, id `<incident>:resolved`;
                         with `created_at`, it implies the raise
  acknowledged, unacknowledged, reopened, priority_updated, escalated,
  reassigned, delegated  alert.updated with the incident's status
                         (acknowledged, else firing), id the event's `id`;
                         the acknowledger is its actor and the assignee

Other event types (notes, responders, services...) are skipped by name. A
REST incident tells what its state shows: raised at `created_at`, and,
resolved or acknowledged, that step at `last_status_change_at`.

A REST log entry (`GET /log_entries`, `{"log_entries": [...]}`) is one step
of its incident, read with the incident it names (`include[]=incidents`
gives the whole incident; a bare reference is placed by the entry's own
`service`), at the entry's `created_at`:

  trigger_log_entry      the raise, as incident.triggered
  resolve_log_entry      the resolution, as incident.resolved
  acknowledge_log_entry  alert.updated, acknowledged, id
                         `<incident>:acknowledged@<time>` (as a REST
                         incident's acknowledgement at that time)
  unacknowledge_log_entry  alert.updated, firing again, id the entry's

Each is keyed as the webhook's step of the same incident, so the same step
read from a webhook, the incident list and the log is one event. Other
entries (notifications, annotations, escalations...) are skipped by name.
"""

from collections.abc import Iterator
from datetime import datetime

from marshmallow import INCLUDE, Schema, fields

from connectors.accounting import AnswerConnector, Reader, parse_iso_time
from connectors.base import CanonicalEvent, RecordError, Skip
from connectors.lifecycle import IMPLIED_BY
from connectors.registry import register
from crm.identities import ClientHints

ORIGIN = "pagerduty"
UPDATES = {
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.reopened",
    "incident.priority_updated",
    "incident.escalated",
    "incident.reassigned",
    "incident.delegated",
}
STATUS = {"triggered": "firing", "acknowledged": "acknowledged", "resolved": "resolved"}


ACKNOWLEDGED = {"acknowledge_log_entry", "acknowledgement_log_entry"}  # the latter: the spec's enum


def _lists(data: dict) -> Iterator[tuple[str, object]]:
    for name in ("incidents", "log_entries"):
        if isinstance(data.get(name), list):
            for index, item in enumerate(data[name]):
                yield f"{name}[{index}]", item
            return
    if isinstance(data.get("incident"), dict):
        yield "incident", data["incident"]


class WebhookBodySchema(Schema):
    """A v3 webhook body: one event, read field by field in `convert`."""

    class Meta:
        unknown = INCLUDE

    event = fields.Dict(required=True)


@register
class PagerDutyConnector(AnswerConnector):
    name = "pagerduty"
    natural_key = ("id",)
    schema = WebhookBodySchema

    lists = staticmethod(_lists)

    def schema_applies(self, data: dict) -> bool:
        """The schema is the webhook body's; REST incidents are read in `convert`."""
        return "event" in data

    def key_of(self, data: dict) -> str:
        event = data.get("event")
        if isinstance(event, dict):
            return str(event.get("id", ""))[:200]
        if str(data.get("type", "")).endswith("_log_entry"):
            return f"log:{data.get('id', '')}"[:200]
        return f"{data.get('id', '')}:{data.get('status', '')}"[:200]

    def convert(self, data: dict) -> list[CanonicalEvent]:
        if "event" in data:
            return webhook_event(Reader(data, parse_iso_time).part("event"))
        if data.get("type") in ("incident", "incident_reference") or "incident_number" in data:
            return rest_incident(Reader(data, parse_iso_time))
        if str(data.get("type", "")).endswith("_log_entry"):
            return log_entry(Reader(data, parse_iso_time))
        raise RecordError(
            None, 'neither a v3 webhook body ({"event": ...}), an incident nor a log entry'
        )


def _event(f: Reader, kind: str, external_id: str, at: datetime, **fields) -> CanonicalEvent:
    """An event of the incident `f`, with what every one says of its thread."""
    incident_id = f.text("id", required=True)
    service = f.part("service")
    service_id = service.text("id", required=True)
    number = f.text("incident_number") or f.text("number")
    title = f.text("title") or f.text("summary") or incident_id
    urgency = f.text("urgency")
    attributes = {
        "pagerduty_id": incident_id,
        "number": number,
        "service": service.text("summary"),
        "urgency": urgency,
        "pagerduty_priority": f.part("priority").text("summary"),
        "escalation_policy": f.part("escalation_policy").text("summary"),
    }
    return CanonicalEvent(
        origin=ORIGIN,
        external_id=external_id,
        kind=kind,
        occurred_at=at,
        hints=ClientHints(identities=((ORIGIN, service_id),)),
        title=f"Incident #{number}: {title}"[:500] if number else title[:500],
        thread_key=incident_id,
        url=f.text("html_url"),
        priority=urgency,
        attributes=attributes | fields.pop("attributes", {}),
        **fields,
    )


def _raised(f: Reader, at: datetime) -> CanonicalEvent:
    """The incident's raise, naming what recurrences count by."""
    event = _event(f, "alert.raised", f"{f.text('id', required=True)}:triggered", at)
    event.status = "firing"
    event.attributes |= {
        "alertname": f.text("title") or f.text("summary"),
        "instance": f.part("service").text("summary") or f.part("service").text("id"),
    }
    return event


def _resolved(f: Reader, at: datetime, agent: str | None) -> list[CanonicalEvent]:
    """The resolution at `at`; with an earlier `created_at`, the raise it implies."""
    reason = f.text("resolve_reason")
    resolved = _event(
        f, "alert.resolved", f"{f.text('id', required=True)}:resolved", at, actor=agent,
        attributes={"resolve_reason": reason} if reason else {},
    )  # fmt: skip
    created = f.time("created_at")
    if created is None or created >= at:
        return [resolved]
    opened = _raised(f, created)  # the raise, with what recurrences count by
    opened.attributes[IMPLIED_BY] = resolved.external_id
    return [opened, resolved]


def _acknowledged(f: Reader, at: datetime, actor: str | None, assignee: str | None):
    """An acknowledgement read from the REST API (an incident, a log entry)."""
    incident_id = f.text("id", required=True)
    return _event(
        f, "alert.updated", f"{incident_id}:acknowledged@{at.isoformat()}", at,
        status="acknowledged", actor=actor, assignee=assignee,
    )  # fmt: skip


def webhook_event(e: Reader) -> list[CanonicalEvent]:
    event_type = e.text("event_type", required=True)
    event_id = e.text("id", required=True)
    at = e.time("occurred_at", required=True)
    f = e.part("data")
    agent = e.part("agent").text("summary")
    if event_type == "incident.triggered":
        return [_raised(f, f.time("created_at") or at)]
    if event_type == "incident.resolved":
        return _resolved(f, at, agent)
    if event_type in UPDATES:
        status = STATUS.get(f.text("status") or "triggered", "firing")
        acknowledged = event_type == "incident.acknowledged"
        updated = _event(
            f, "alert.updated", event_id, at, actor=agent, status=status,
            assignee=agent if acknowledged else _assignee(f),
            attributes={"pagerduty_event": event_type},
        )  # fmt: skip
        updated.title = f"{updated.title} ({event_type.partition('.')[2].replace('_', ' ')})"
        return [updated]
    raise Skip(f"pagerduty event type {event_type!r} is not mapped")


def _assignee(f: Reader) -> str | None:
    """The assignees: a webhook's `assignees`, a REST incident's `assignments`."""
    names = [a.text("summary") for _, a in f.items("assignees")]
    names += [a.part("assignee").text("summary") for _, a in f.items("assignments")]
    return ", ".join(name for name in names if name) or None


def rest_incident(f: Reader) -> list[CanonicalEvent]:
    """An incident as the REST API gives it: the steps its status shows."""
    events = [_raised(f, f.time("created_at", required=True))]
    status = f.text("status", required=True)
    if status not in STATUS:
        raise f.error("status", f"{status!r} is not triggered, acknowledged or resolved")
    changed = f.time("last_status_change_at")
    incident_id = f.text("id", required=True)
    if status == "resolved":
        events.append(
            _event(f, "alert.resolved", f"{incident_id}:resolved", changed or events[0].occurred_at)
        )
    elif status == "acknowledged" and changed is not None:
        changer = f.part("last_status_change_by").text("summary")
        events.append(_acknowledged(f, changed, changer, _assignee(f)))
    return events


def log_entry(e: Reader) -> list[CanonicalEvent]:
    """One step of the incident the entry names (module docstring)."""
    entry_type = e.text("type", required=True)
    at = e.time("created_at", required=True)
    agent = e.part("agent").text("summary")
    f = e.part("incident")
    if f.raw("service") is None and e.raw("service") is not None:  # a bare reference
        f = Reader(f.data | {"service": e.raw("service")}, parse_iso_time, f.prefix)
    if entry_type == "trigger_log_entry":
        return [_raised(f, f.time("created_at") or at)]
    if entry_type == "resolve_log_entry":
        return _resolved(f, at, agent)
    if entry_type in ACKNOWLEDGED:
        return [_acknowledged(f, at, agent, agent)]
    if entry_type == "unacknowledge_log_entry":
        updated = _event(
            f, "alert.updated", e.text("id", required=True), at, status="firing",
            assignee=_assignee(f), attributes={"pagerduty_log_entry": entry_type},
        )  # fmt: skip
        updated.title = f"{updated.title} (unacknowledged)"
        return [updated]
    raise Skip(f"pagerduty log entry type {entry_type!r} is not mapped")
