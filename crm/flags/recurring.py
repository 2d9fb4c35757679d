"""Recurring alerts: the same check on the same device, three times or more in 30 days.

Counted from occurrences, not threads: the alert.raised events in the 30
days up to the moment, by the device (attribute `instance`) and the check
(`alertname`) they name, each group of RECURRING_TIMES or more one
recurrence. In Python for the card and the briefing, in SQL for the
directory and the portfolio report; tests/test_flag_rules.py holds them equal.
An attribute that is a number is grouped by its digits, as SQL casts it.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import String, cast, func, literal, select

from crm.models import Event

RECURRING_TIMES = 3
RECURRING_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Recurrence:
    """One check on one device that fired RECURRING_TIMES or more in RECURRING_WINDOW."""

    instance: str
    alertname: str
    times: int
    first: datetime
    last: datetime
    last_thread_key: str | None  # the latest occurrence's thread
    event_ids: tuple[int, ...] = ()

    kind = "recurring_alert"
    severity = "high"

    @property
    def since(self) -> datetime:
        return self.first

    @property
    def title(self) -> str:
        return f"{self.alertname} on {self.instance}"


class RaisedAlert(NamedTuple):
    """An alert.raised event as recurrences are counted from it."""

    id: int
    occurred_at: datetime
    thread_key: str | None
    instance: str
    alertname: str


def _label(found) -> str | None:
    """An attribute as the text it is grouped by (as SQL casts it); missing or empty is None."""
    if found is None or found == "":
        return None
    return found if isinstance(found, str) else str(found)


def raised_alert(event) -> RaisedAlert | None:
    """What an alert.raised event (id, occurred_at, thread_key, attributes) says
    for recurrences; None when it names no device or no check."""
    attributes = event.attributes or {}
    device, check = _label(attributes.get("instance")), _label(attributes.get("alertname"))
    if device is None or check is None:
        return None
    return RaisedAlert(event.id, event.occurred_at, event.thread_key, device, check)


def recurrences(raised: Iterable[RaisedAlert | None], at: datetime) -> list[Recurrence]:
    """The recurrences at `at` among alerts raised (in time order; None and
    those outside RECURRING_WINDOW are passed over)."""
    start = at - RECURRING_WINDOW
    groups: dict[tuple[str, str], list[RaisedAlert]] = defaultdict(list)
    for alert in raised:
        if alert is not None and start < alert.occurred_at <= at:
            groups[(alert.instance, alert.alertname)].append(alert)
    found = []
    for (device, check), alerts in groups.items():
        if len(alerts) >= RECURRING_TIMES:
            first, last = alerts[0], alerts[-1]
            found.append(
                Recurrence(
                    instance=device,
                    alertname=check,
                    times=len(alerts),
                    first=first.occurred_at,
                    last=last.occurred_at,
                    last_thread_key=last.thread_key,
                    event_ids=tuple(int(alert.id) for alert in alerts),
                )
            )
    return sorted(found, key=lambda r: (-r.times, r.first, r.instance, r.alertname))


def _text(attribute: str):
    return cast(Event.attributes[attribute].as_string(), String)


def raised_in_window(at: datetime, *conditions):
    """The alert.raised events that count towards recurrences at `at`, as SQL:
    RaisedAlert's columns, and client_id. `conditions` narrow the events (a client)."""
    instance, alertname = _text("instance"), _text("alertname")
    return select(
        Event.id,
        Event.occurred_at,
        Event.thread_key,
        instance.label("instance"),
        alertname.label("alertname"),
        Event.client_id,
    ).where(
        *conditions,
        *_in_window(at),
        # NULL (no such attribute) is no more "" than it is anything else: false
        instance != "",
        alertname != "",
    )


def _in_window(at: datetime) -> tuple:
    return (
        Event.kind == "alert.raised",
        Event.occurred_at > at - RECURRING_WINDOW,
        Event.occurred_at <= at,
    )


def recurring_sql(at: datetime, *conditions):
    """recurrences() as SQL: one row per (client_id, instance, alertname) with
    `times`, `first` and `last`. `conditions` narrow the events (a client).

    The attributes are read once per event; which groups name no device or no
    check is asked of the groups (HAVING), not of every event: on a client
    whose alerts fire all day, reading the attributes is most of the cost."""
    raised = (
        select(
            Event.client_id,
            _text("instance").label("instance"),
            _text("alertname").label("alertname"),
            Event.occurred_at,
        )
        .where(*conditions, *_in_window(at))
        .subquery("raised")
    )
    return (
        select(
            raised.c.client_id,
            raised.c.instance,
            raised.c.alertname,
            func.count().label("times"),
            func.min(raised.c.occurred_at).label("first"),
            func.max(raised.c.occurred_at).label("last"),
        )
        .group_by(raised.c.client_id, raised.c.instance, raised.c.alertname)
        .having(func.count() >= RECURRING_TIMES, raised.c.instance != "", raised.c.alertname != "")
    )


def recurs_sql(client_id, at: datetime):
    """Whether the client `client_id` (a column of the enclosing query) has a
    recurrence at `at`, as SQL: correlated, so each client is one range of the
    events' timeline index, whatever the engine's planner would do with a
    window of the whole portfolio's events."""
    instance, alertname = _text("instance"), _text("alertname")
    return (
        select(literal(1))
        .where(Event.client_id == client_id, *_in_window(at), instance != "", alertname != "")
        .group_by(instance, alertname)
        .having(func.count() >= RECURRING_TIMES)
        .exists()
    )


def recurring_with_thread_sql(at: datetime, *conditions):
    """recurring_sql() with each recurrence's latest occurrence's thread
    (`last_thread_key`, as recurrences() names it), as a subquery to select
    from: a view that lists a few recurrences orders and LIMITs it."""
    recurring = recurring_sql(at, *conditions).subquery("recurring")
    latest = latest_thread_sql(recurring, at, *conditions)
    return select(*recurring.c, latest.label("last_thread_key")).subquery("recurrences")


def latest_thread_sql(recurring, at: datetime, *conditions):
    """The thread of the latest occurrence of each recurrence of `recurring`
    (a subquery with recurring_sql()'s columns), as a correlated scalar
    subquery. A view that names a few recurrences of many asks it of those
    few only: SQLite would otherwise read the window's alerts once for each
    recurrence, named or not."""
    raised = raised_in_window(at, *conditions).subquery("raised")
    return (
        select(raised.c.thread_key)
        .where(
            raised.c.client_id == recurring.c.client_id,
            raised.c.instance == recurring.c.instance,
            raised.c.alertname == recurring.c.alertname,
            raised.c.occurred_at == recurring.c.last,
        )
        .order_by(raised.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
