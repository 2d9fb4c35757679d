"""The `alertmanager` connector: the Alertmanager webhook body, which Grafana sends too.

One body groups several alerts; each alert is one record ("alerts[2]").
Every *occurrence* of an alert (its `fingerprint` and `startsAt`: the same
check on the same target firing again starts a new one) is a thread of its
own, keyed `FINGERPRINT@STARTS_AT`, so the timeline, the counts and the
recurrence of alerts see each time it fired:

- `firing` raises the occurrence at `startsAt` (`alert.raised`);
- `resolved` clears it at `endsAt` (`alert.resolved`) and implies the raise
  at `startsAt` (connectors.lifecycle), with the very id a firing record of
  that occurrence gives its raise (`FINGERPRINT:STARTS_AT:firing`): an
  alert that arrives resolved still fired, and seeing both is one raise.
  Alertmanager and Grafana send resolved notifications, and an imported
  history is mostly resolved alerts.

Every raise keeps the `instance` and `alertname` labels among its attributes:
the briefing reads "the same check on the same device" from them.

Alertmanager has no client field: the provider puts the client in a label.
Which label is a setting, `TOUCHLINE_ALERTMANAGER_CLIENT_LABEL` (app config,
else the environment), default `customer`; an alert without it falls back to
label `tenant`. Its value is the key of identity system `alertmanager`. An
alert also names the device it is about: the host of its `instance` label
(without the port) is a key of system `host`, which the device inventory
(connectors.devices) registers for the device's client. An alert whose labels
name no client waits in the unmatched queue under the most precise of what it
does carry: its host, else its `job` (`alertmanager-job`), else its `cluster`
(`alertmanager-cluster`); mapping that one hint places all of its alerts. Only
an alert with none of these is rejected, naming the setting.
"""

import hashlib
import json
import os
from collections.abc import Iterator

from flask import current_app, has_app_context
from marshmallow import ValidationError, fields, pre_load, validate

from connectors.base import CanonicalEvent, Connector, RecordError, Skip
from connectors.fields import REQUIRED, KnownFieldsSchema, parse_datetime
from connectors.lifecycle import Moment, implied
from connectors.readers import Record, items_under
from connectors.registry import register
from crm.devices import HOST_SYSTEM, host_key
from crm.identities import ClientHints

SETTING = "TOUCHLINE_ALERTMANAGER_CLIENT_LABEL"
FALLBACK_LABEL = "tenant"
# Labels that place an alert with no client label, most precise first, and
# the identity system each is a key of.
PLACING_LABELS = (
    ("instance", HOST_SYSTEM),
    ("job", "alertmanager-job"),
    ("cluster", "alertmanager-cluster"),
)
# Alertmanager's "no end yet" (Go's zero time).
ZERO_TIME = "0001-01-01T00:00:00Z"
# What of the group an alert's record keeps, so that it replays on its own.
GROUP_FIELDS = ("receiver", "externalURL", "groupKey")


class Time(fields.Field):
    """RFC 3339, as Alertmanager writes it; the zero time means "not yet"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value == ZERO_TIME:
            return None
        try:
            value = parse_datetime(value)
        except (TypeError, ValueError, AttributeError):
            raise ValidationError("is not an RFC 3339 date-time") from None
        return None if value.year == 1 else value


class AlertSchema(KnownFieldsSchema):
    status = fields.String(required=True, error_messages=REQUIRED)
    labels = fields.Dict(keys=fields.String(), load_default=dict)
    annotations = fields.Dict(keys=fields.String(), load_default=dict)
    startsAt = Time(required=True, error_messages=REQUIRED)  # noqa: N815 - the vendor's name
    endsAt = Time(load_default=None, allow_none=True)  # noqa: N815
    generatorURL = fields.String(load_default=None, allow_none=True)  # noqa: N815
    silenceURL = fields.String(load_default=None, allow_none=True)  # noqa: N815
    dashboardURL = fields.String(load_default=None, allow_none=True)  # noqa: N815
    panelURL = fields.String(load_default=None, allow_none=True)  # noqa: N815
    fingerprint = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=150)
    )
    values = fields.Raw(load_default=None, allow_none=True)
    group = fields.Dict(load_default=dict)

    @pre_load
    def an_alert(self, data, **kwargs):
        """A body that is not an Alertmanager webhook says so, not "status missing"."""
        if "alerts" in data or not ({"labels", "startsAt", "fingerprint"} & data.keys()):
            raise ValidationError(
                "is required: an Alertmanager webhook body lists its alerts under `alerts`",
                "alerts",
            )
        data = {k: (None if v == "" else v) for k, v in data.items()}
        if isinstance(data.get("labels"), dict):
            data["labels"] = {k: v for k, v in data["labels"].items() if isinstance(v, str)}
        return data


def configured_label() -> str:
    """The label naming the client: app config, else the environment, else `customer`."""
    label = current_app.config.get(SETTING) if has_app_context() else None
    return label or os.environ.get(SETTING) or AlertmanagerConnector.client_label


@register
class AlertmanagerConnector(Connector):
    """Monitoring alerts from Prometheus Alertmanager or Grafana Alerting."""

    name = "alertmanager"
    # The client label's value is a key of this system whichever sender
    # delivered the alert: a client mapped once is mapped for both.
    identity_system = "alertmanager"
    natural_key = ("fingerprint", "startsAt", "status")
    schema = AlertSchema
    client_label = "customer"

    def __init__(self, client_label: str | None = None):
        self.client_label = client_label or configured_label()

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """One record per alert, carrying what it needs of its group."""
        return items_under(super().parse(content, filename), "alerts", _group)

    def convert(self, data: dict) -> list[CanonicalEvent]:
        labels, notes = data["labels"], data["annotations"]
        status = data["status"].strip().lower()
        if status not in ("firing", "resolved"):
            raise Skip(
                f"alertmanager alert status {status!r} is not mapped; mapped: firing, resolved"
            )
        if data["startsAt"] is None:
            raise RecordError("startsAt", "is required")
        if status == "resolved" and data["endsAt"] is None:
            raise RecordError("endsAt", "is required for a resolved alert")
        fingerprint = data["fingerprint"] or _fingerprint(labels)
        started = data["startsAt"].isoformat().replace("+00:00", "Z")
        alertname, instance = labels.get("alertname"), labels.get("instance")
        where = f" on {instance}" if instance else ""
        title = (_text(notes.get("summary")) or f"{alertname or 'Alert'}{where}")[:500]
        detail = _text(notes.get("description"))
        occurrence = f"{fingerprint}:{started}"
        raised = Moment(data["startsAt"], f"{occurrence}:firing", "firing", title, detail)
        event = CanonicalEvent(
            origin=self.name,
            external_id=f"{occurrence}:{status}",
            kind="alert.raised" if status == "firing" else "alert.resolved",
            occurred_at=data["startsAt"] if status == "firing" else data["endsAt"],
            hints=self.hints(labels),
            title=title,
            detail=detail,
            thread_key=f"{fingerprint}@{started}",
            url=data["generatorURL"] or data["silenceURL"],
            attributes={
                "alertname": alertname,
                "instance": instance,
                "host": host_key(instance) if instance else None,
                "severity": labels.get("severity"),
                "labels": labels,
                "fingerprint": fingerprint,
                "starts_at": started,
                "runbook_url": _text(notes.get("runbook_url")),
                "silence_url": data["silenceURL"],
                "dashboard_url": data["dashboardURL"],
                "panel_url": data["panelURL"],
                "values": data["values"],
            }
            | data["group"],
            status=status,
            priority=_clip(labels.get("severity"), 32),
            category=_clip(alertname, 80),
        )
        return [event] if status == "firing" else implied(event, opened=raised)

    def hints(self, labels: dict) -> ClientHints:
        """Whose the alert is: the client label; the device's host, which the
        device inventory knows the client of; else the job or the cluster."""
        identities = []
        client = labels.get(self.client_label) or labels.get(FALLBACK_LABEL)
        if client:
            identities.append((self.identity_system, client))
        for label, system in PLACING_LABELS:
            value = labels.get(label, "").strip()
            key = host_key(value) if system == HOST_SYSTEM else value
            if key and (not client or system == HOST_SYSTEM):
                identities.append((system, key))
                break
        if not identities:
            raise RecordError(
                f"labels.{self.client_label}",
                f"is required: the client is named by label `{self.client_label}` "
                f"(or `{FALLBACK_LABEL}`; set {SETTING} to use another label), "
                "else placed by label `instance`, `job` or `cluster`, and this alert has none",
            )
        return ClientHints(identities=tuple(identities))


def _group(body: dict) -> dict:
    """What of its group an alert's record keeps, so that it replays on its own."""
    return {"group": {k: body[k] for k in GROUP_FIELDS if body.get(k) is not None}}


def _text(value) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _clip(value: str | None, limit: int) -> str | None:
    """Entity columns have limits; labels do not."""
    return value[:limit] if value else None


def _fingerprint(labels: dict) -> str:
    """Old Alertmanagers send no fingerprint; it is a hash of the label set,
    so a stable hash of the labels keys the same thread."""
    encoded = json.dumps(labels, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


@register
class GrafanaConnector(AlertmanagerConnector):
    """Grafana Alerting's webhook contact point, at `/webhooks/grafana`.

    Grafana posts the Alertmanager body with fields of its own (`values`,
    `dashboardURL`, `panelURL`, `orgId`, `title`, `state`), which this
    connector already reads; what differs is the sender: Grafana signs with
    its HMAC header (connectors.senders), and the events say `grafana`."""

    name = "grafana"
