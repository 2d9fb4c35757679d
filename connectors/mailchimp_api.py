"""Mailchimp Marketing API answers read as the audience events the mailchimp
connector maps (`{"type", "fired_at", "data"}`, the webhook's fields), so
that one mapping, and one key, serves the webhook and the live connection.

- A campaign's email activity (`GET /reports/{campaign_id}/email-activity`,
  `{"emails": [{"email_id", "email_address", "list_id", "campaign_id",
  "activity": [{"action", "timestamp", "url", "ip", "type"}]}]}`): each
  activity is one event of its `action` (open, click, bounce; a bounce's
  `type` is hard or soft), fired at its `timestamp`, about the member
  `email_id` (the MD5 of the address), on the campaign's thread.
- An audience's members (`GET /lists/{list_id}/members`, `{"members":
  [...]}`): each member is the event its `status` shows: unsubscribed or
  cleaned at `last_changed` (with `unsubscribe_reason`), subscribed at its
  opt-in (`timestamp_opt`, else `timestamp_signup`, else `last_changed`), so
  that a later profile change of a subscriber is the same subscribe again;
  other statuses (pending, transactional, archived) by name, to be skipped.
  The member is named by `unique_email_id`, which is the webhook's
  `data[id]` (a cleaned address by the address, as the webhook names it):
  the same step from either is one event.
"""

from collections.abc import Iterator

from connectors.readers import Record

LOCATOR = 40  # the inbox's column


def api_records(record: Record) -> Iterator[Record]:
    """The events an API answer holds, or the record itself."""
    data = record.data
    if isinstance(data.get("emails"), list):
        yield from _activity(record, data["emails"])
    elif isinstance(data.get("members"), list):
        yield from _members(record, data["members"])
    else:
        yield record


def _activity(record: Record, emails: list) -> Iterator[Record]:
    position = record.position
    for index, member in enumerate(emails):
        if not isinstance(member, dict) or not isinstance(member.get("activity"), list):
            locator = f"emails[{index}]"
            yield Record(position, locator, {"_raw": member}, "no activity list")
            position += 1
            continue
        for step_index, step in enumerate(member["activity"]):
            locator = f"emails[{index}].activity[{step_index}]"[:LOCATOR]
            if not isinstance(step, dict):
                yield Record(position, locator, {"_raw": step}, "not an object")
            else:
                data = {
                    "email": member.get("email_address"),
                    "id": member.get("email_id"),
                    "list_id": member.get("list_id"),
                    "campaign_id": member.get("campaign_id"),
                    "url": step.get("url"),
                    "ip": step.get("ip"),
                    "bounce_type": step.get("type"),
                }
                event = {"type": step.get("action"), "fired_at": step.get("timestamp")}
                yield Record(position, locator, event | {"data": _given(data)})
            position += 1


def _members(record: Record, members: list) -> Iterator[Record]:
    for index, member in enumerate(members):
        locator = f"members[{index}]"
        if not isinstance(member, dict):
            yield Record(record.position + index, locator, {"_raw": member}, "not an object")
            continue
        status = member.get("status")
        if status == "subscribed":
            kind = "subscribe"
            fired = member.get("timestamp_opt") or member.get("timestamp_signup")
        else:
            kind = {"unsubscribed": "unsubscribe"}.get(status, status)
            fired = None
        data = {
            "email": member.get("email_address"),
            # The webhook names a cleaned address by the address alone.
            "id": member.get("unique_email_id") if kind != "cleaned" else None,
            "web_id": member.get("web_id"),
            "list_id": member.get("list_id"),
            "reason": member.get("unsubscribe_reason"),
            "merges": member.get("merge_fields"),
        }
        event = {"type": kind, "fired_at": fired or member.get("last_changed")}
        yield Record(record.position + index, locator, event | {"data": _given(data)})


def _given(data: dict) -> dict:
    return {k: v for k, v in data.items() if v not in (None, "", {})}
