"""The `alertmanager` connector: the Alertmanager webhook body, which Grafana sends too.

One body groups several alerts; each alert is one record ("alerts[2]") and one
event: `firing` raises it at `startsAt`, `resolved` clears it at `endsAt`.
Both join the thread keyed by the alert's `fingerprint`, so a raise and its
resolve land on the same alert entity whatever order they arrive in.

Alertmanager has no client field: the provider puts the client in a label.
Which label is a setting, `TOUCHLINE_ALERTMANAGER_CLIENT_LABEL` (app config,
else the environment), default `customer`; an alert without it falls back to
label `tenant`. Its value is the key of identity system `alertmanager`.
"""

import hashlib
import json
import os
from collections.abc import Iterator

from flask import current_app, has_app_context
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from connectors.base import CanonicalEvent, Connector, RecordError, Skip
from connectors.fields import parse_datetime
from connectors.readers import Record
from connectors.registry import register
from crm.identities import ClientHints

SETTING = "TOUCHLINE_ALERTMANAGER_CLIENT_LABEL"
FALLBACK_LABEL = "tenant"
# Alertmanager's "no end yet" (Go's zero time).
ZERO_TIME = "0001-01-01T00:00:00Z"
REQUIRED = {"required": "is required", "null": "is required"}
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


class AlertSchema(Schema):
    class Meta:
        unknown = EXCLUDE

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
    source = "rmm"
    natural_key = ("fingerprint", "startsAt", "status")
    schema = AlertSchema
    client_label = "customer"

    def __init__(self, client_label: str | None = None):
        self.client_label = client_label or configured_label()

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """One record per alert, carrying what it needs of its group."""
        position = 0
        for outer in super().parse(content, filename):
            alerts = outer.data.get("alerts") if outer.parse_error is None else None
            if not isinstance(alerts, list):
                yield Record(position, outer.locator, outer.data, outer.parse_error)
                position += 1
                continue
            group = {k: outer.data[k] for k in GROUP_FIELDS if outer.data.get(k) is not None}
            prefix = "" if outer.locator == "index 0" else f"{outer.locator}: "
            for i, alert in enumerate(alerts):
                locator = f"{prefix}alerts[{i}]"
                if isinstance(alert, dict):
                    yield Record(position, locator, alert | {"group": group})
                else:
                    yield Record(position, locator, {"_raw": alert}, "is not a JSON object")
                position += 1

    def convert(self, data: dict) -> list[CanonicalEvent]:
        labels, notes = data["labels"], data["annotations"]
        status = data["status"].strip().lower()
        if status == "firing":
            kind, occurred_at = "alert.raised", data["startsAt"]
        elif status == "resolved":
            kind, occurred_at = "alert.resolved", data["endsAt"]
            if occurred_at is None:
                raise RecordError("endsAt", "is required for a resolved alert")
        else:
            raise Skip(
                f"alertmanager alert status {status!r} is not mapped; mapped: firing, resolved"
            )
        if data["startsAt"] is None:
            raise RecordError("startsAt", "is required")
        client = labels.get(self.client_label) or labels.get(FALLBACK_LABEL)
        if not client:
            raise RecordError(
                f"labels.{self.client_label}",
                f"is required: the client is named by label `{self.client_label}` "
                f"(or `{FALLBACK_LABEL}`); set {SETTING} to use another label",
            )
        fingerprint = data["fingerprint"] or _fingerprint(labels)
        alertname, instance = labels.get("alertname"), labels.get("instance")
        started = data["startsAt"].isoformat().replace("+00:00", "Z")
        where = f" on {instance}" if instance else ""
        return [
            CanonicalEvent(
                origin=self.name,
                external_id=f"{fingerprint}:{started}:{status}",
                kind=kind,
                occurred_at=occurred_at,
                hints=ClientHints(identities=((self.name, client),)),
                title=(_text(notes.get("summary")) or f"{alertname or 'Alert'}{where}")[:500],
                detail=_text(notes.get("description")),
                thread_key=fingerprint,
                url=data["generatorURL"] or data["silenceURL"],
                attributes={
                    "alertname": alertname,
                    "instance": instance,
                    "severity": labels.get("severity"),
                    "labels": labels,
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
        ]


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
