"""What a snapshot says about its object's past: the events it implies.

Most records we receive are not the moment they describe. A ticket list
gives each ticket's state *now*, with the time it was created; a paid
invoice says when it was finalized and when it was paid; a resolved alert
says when it started firing. If only the record itself went on the
timeline, a ticket created in 2012 and exported in 2015 would open in 2015,
and every age, SLA state and "opened in the period" would be wrong.

So a connector that reads such a time hands its event to `implied`, with
the opening (and, where the record says so, the closing) it knows of. What
comes back is the record's event together with the events the record
implies: the thread's opening kind at the creation time, and its closing
kind at the time it was closed. Each implied event:

- carries an external id the connector chooses so that it equals the id the
  real event of that moment has (a Zendesk ticket seen on the day it was
  created is `ID@created_at` either way), so seeing the real moment and a
  later snapshot gives the timeline one event, not two;
- is marked `implied_by` with the external id of the record it was read
  from, so the timeline can say where it came from;
- sorts before the record (an opening is only implied when it came before
  it), and the fold (crm.threads) takes the thread's opened time from the
  earliest event and its closed time from when it became closed.

docs/formats.md lists, per connector, which fields give which times.
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from connectors.base import CanonicalEvent
from crm.vocabulary import KINDS, OPENING_KIND

IMPLIED_BY = "implied_by"


@dataclass(frozen=True, slots=True)
class Moment:
    """A moment in the object's life that the record tells of: when, the
    external id of the event that stands for it, and optionally the status
    the thread had then and the title and detail the event is shown with."""

    at: datetime | None
    external_id: str
    status: str | None = None
    title: str | None = None
    detail: str | None = None


def implied(
    event: CanonicalEvent,
    opened: Moment | None = None,
    closed: Moment | None = None,
    *,
    closing_kind: str | None = None,
) -> list[CanonicalEvent]:
    """`event` with the events its record implies, earliest first.

    `opened`: when the object was created; an opening event is implied when
    that is before the record's own time. `closed`: when it was closed
    (solved, paid, won...); a closing event of `closing_kind` (by default the
    record's own kind) is implied when that is before the record's time.
    The record's event always comes last, so a record whose opening or
    closing is the record itself gives just the record.
    """
    events = []
    if opened is not None and _before(opened.at, event):
        events.append(_opening(event, opened))
    if closed is not None and _before(closed.at, event):
        events.append(_closing(event, closed, closing_kind or event.kind))
    events.append(event)
    return events


def _before(at: datetime | None, event: CanonicalEvent) -> bool:
    return at is not None and at < event.occurred_at


def _opening(event: CanonicalEvent, moment: Moment) -> CanonicalEvent:
    thread = KINDS[event.kind].thread
    kind = OPENING_KIND.get(thread)
    if kind is None:
        raise ValueError(f"{event.kind} joins {thread} threads, which have no opening kind")
    return _at(event, moment, kind)


def _closing(event: CanonicalEvent, moment: Moment, kind: str) -> CanonicalEvent:
    if KINDS[kind].thread != KINDS[event.kind].thread:
        raise ValueError(f"{kind} does not close the thread of {event.kind}")
    return _at(event, moment, kind)


def _at(event: CanonicalEvent, moment: Moment, kind: str) -> CanonicalEvent:
    """A copy of the event as the `kind` event of `moment`. The state fields
    the record gives (priority, assignee, due dates) are the best knowledge
    of them there is; a later event's own values win in the fold anyway."""
    return dataclasses.replace(
        event,
        kind=kind,
        external_id=moment.external_id,
        occurred_at=moment.at,
        title=moment.title or event.title,
        detail=moment.detail,
        status=moment.status,
        attributes=event.attributes | {IMPLIED_BY: event.external_id},
        aliases=(),
    )
