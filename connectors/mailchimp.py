"""The `mailchimp` connector: Mailchimp's audience (list) webhooks.

Mailchimp posts each audience event as an HTML form
(`application/x-www-form-urlencoded`): `type` (subscribe, unsubscribe,
profile, upemail, cleaned, campaign), `fired_at` (`2009-03-26 21:35:57`, UTC,
as every reader of these webhooks takes it) and the event's fields as
`data[...]`, nested ones as `data[merges][FNAME]`. One delivery is one event.
A file holds one form body a line (as a log of deliveries writes them), or
the same events as JSON objects (`{"type": ..., "fired_at": ..., "data":
{...}}`), an array or NDJSON.

Mailchimp delivers again when an answer is late, and sends the same event
to every webhook of the audience: an event is keyed by its type, the
member's id (`data[id]`; a change of address: `data[new_id]`; a cleaned
address, which has none: the address) and `fired_at`, so a delivery seen
twice is one event.

The member's address is the only client hint, as for SendGrid: a contact
with it, else an identity mapped for the address or its domain. A campaign's
sending status names no member and so no client: it is skipped by name.

The Marketing API's answers (a live connection: a campaign's email activity,
an audience's members) are read into the same events by
connectors/mailchimp_api.py: opens, clicks and bounces beside the audience's
subscribes, unsubscribes and cleaned addresses. `fired_at` is keyed as UTC
`YYYY-MM-DD HH:MM:SS`, the webhook's own form, so the API's ISO 8601 time of
the same step keys alike.
"""

from collections.abc import Iterator
from urllib.parse import parse_qsl

from marshmallow import INCLUDE, Schema, fields, pre_load

from connectors.base import CanonicalEvent, Connector, RecordError, Skip
from connectors.fields import REQUIRED, parse_datetime
from connectors.mailchimp_api import api_records
from connectors.readers import Record
from connectors.registry import register
from crm.identities import ClientHints

# Mailchimp type -> (our kind, how the timeline says it).
KINDS = {
    "subscribe": ("email.subscribed", "Subscribed"),
    "unsubscribe": ("email.unsubscribed", "Unsubscribed"),
    "cleaned": ("email.bounced", "Address cleaned from the audience"),
    # A campaign's email activity (the Marketing API's reports).
    "open": ("email.opened", "Opened a campaign email"),
    "click": ("email.clicked", "Clicked a link in a campaign email"),
    "bounce": ("email.bounced", "A campaign email bounced"),
}
# Types that change no marketing fact of a client: why each is skipped.
SKIPPED = {
    "profile": "a profile update changes no marketing fact",
    "upemail": "a change of address changes no marketing fact",
    "campaign": "a campaign's sending status names no member, so no client",
    "pending": "a member not yet confirmed has made no marketing choice",
    "transactional": "a transactional address is no marketing audience member",
    "archived": "an archived member changes no marketing fact",
}


class WebhookSchema(Schema):
    """One audience event, its `data[...]` fields read into `data`."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, error_messages=REQUIRED)
    fired_at = fields.String(required=True, error_messages=REQUIRED)
    data = fields.Dict(load_default=dict)

    @pre_load
    def tidy(self, data, **kwargs):
        data = {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in data.items()}
        if isinstance(data.get("type"), str):
            data["type"] = data["type"].strip().lower()
        return data


@register
class MailchimpConnector(Connector):
    """Mailchimp audience events; the member's address is the client hint."""

    name = "mailchimp"
    natural_key = ("type", "id", "fired_at")
    schema = WebhookSchema
    # Mailchimp checks a webhook's URL with a GET before it saves it.
    webhook_answers_get = True

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        """Form bodies, one a line; JSON when the input is JSON."""
        text = content.decode("utf-8-sig", errors="replace")
        if text.lstrip()[:1] in ("{", "["):
            for record in super().parse(content, _json_name(filename)):
                yield from api_records(record)
            return
        position = 0
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            yield Record(position, f"line {number}", form_fields(line.strip()))
            position += 1

    def key_of(self, data: dict) -> str:
        fields_ = data.get("data") if isinstance(data.get("data"), dict) else {}
        return f"{data.get('type', '')}:{_member(fields_)}:{_moment(data.get('fired_at'))}"

    def convert(self, data: dict) -> list[CanonicalEvent]:
        kind_name, fields_ = data["type"], data["data"]
        if kind_name in SKIPPED:
            raise Skip(f"mailchimp {kind_name}: {SKIPPED[kind_name]}")
        if kind_name not in KINDS:
            known = ", ".join([*KINDS, *SKIPPED])
            raise Skip(f"mailchimp type {kind_name!r} is not mapped; known: {known}")
        try:
            fired = parse_datetime(data["fired_at"])
        except (TypeError, ValueError):
            raise RecordError("fired_at", "is not a date and time") from None
        email = fields_.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise RecordError("data[email]", "is required")
        email = email.strip()
        kind, verb = KINDS[kind_name]
        reason = fields_.get("reason")
        if kind_name == "cleaned" and reason == "abuse":
            kind, verb = "email.spam_reported", "Address cleaned after an abuse report"
        campaign = fields_.get("campaign_id")
        merges = fields_.get("merges") if isinstance(fields_.get("merges"), dict) else {}
        name = " ".join(str(merges[k]) for k in ("FNAME", "LNAME") if merges.get(k))
        return [
            CanonicalEvent(
                origin=self.name,
                external_id=f"{kind_name}:{_member(fields_)}:{_moment(data['fired_at'])}"[:200],
                kind=kind,
                occurred_at=fired,
                hints=ClientHints(emails=(email,)),
                title=f"{verb}: {name or email}"[:500],
                detail=f"{email}: {reason}" if reason else email,
                thread_key=f"campaign:{campaign}"[:200] if campaign else None,
                actor=email,
                attributes=_attributes(kind_name, fields_, email),
            )
        ]


def form_fields(body: str) -> dict:
    """A form body as the object it stands for: `data[merges][FNAME]=Ann`
    is `{"data": {"merges": {"FNAME": "Ann"}}}`; a repeated key
    (`data[merges][INTERESTS][]`) a list."""
    document: dict = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, _, rest = key.partition("[")
        path = [head] + ([part.rstrip("]") for part in rest.split("[")] if rest else [])
        repeated = len(path) > 1 and path[-1] == ""  # `name[]`: a list
        if repeated:
            path.pop()
        node = document
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        current = node.get(path[-1])
        if repeated:
            node[path[-1]] = [*current, value] if isinstance(current, list) else [value]
        else:
            node[path[-1]] = value
    return document


def _member(fields_: dict) -> str:
    """Whom an event is about: the member's id, else the address."""
    for name in ("id", "new_id", "email"):
        if fields_.get(name):
            return str(fields_[name]).strip()
    return ""


def _attributes(kind_name: str, fields_: dict, email: str) -> dict:
    attributes = {"mailchimp_type": kind_name, "email": email}
    names = ("list_id", "id", "web_id", "action", "reason", "campaign_id", "email_type")
    for name in (*names, "url", "bounce_type"):
        if fields_.get(name) not in (None, ""):
            attributes[f"member_{name}" if name == "id" else name] = fields_[name]
    merges = fields_.get("merges")
    if isinstance(merges, dict):
        attributes["merges"] = {k: v for k, v in merges.items() if v not in (None, "")}
    return attributes


def _moment(fired_at) -> str:
    """`fired_at` as the webhook writes it (UTC `YYYY-MM-DD HH:MM:SS`), or as
    given when it is no time (the record is then rejected for it)."""
    try:
        return parse_datetime(str(fired_at)).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return str(fired_at or "")


def _json_name(filename: str | None) -> str:
    if filename and filename.lower().endswith((".json", ".ndjson", ".jsonl")):
        return filename
    return "body.json"
