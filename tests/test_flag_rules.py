"""crm.flags: one declaration of each flag, whose SQL and Python sides agree.

The directory and the portfolio report ask the database (the rules' SQL);
the card and the briefing ask Python (the same rules' `holds`, on an Entity
or on a row of a briefing's frame). Generated thread states, with their
times on and around every boundary a rule has (a due moment, the stale
threshold, the moment of reading), must get the same flags from all three;
and generated alerts the same recurrences from SQL and Python.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import hypothesis.strategies as st
import pytest
from hypothesis import example, given, settings
from sqlalchemy import delete, insert, select

from crm import flags as rules
from crm.flags import FlagSettings, Raised, ahead
from crm.flags.ranking import rank_sql
from crm.flags.severity import aging_bucket, aging_bucket_sql
from crm.formatting import age, span, whole_days
from crm.models import Entity, Event
from reports.briefing.threads import records
from tests.factories import entities_frame, make_client

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
SETTINGS = FlagSettings(stale_ticket_days=30)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
# Offsets from AT on and around each boundary a rule has, and some anywhere.
EDGES = [
    timedelta(0),
    SECOND,
    -SECOND,
    -30 * DAY,
    -30 * DAY + SECOND,
    -30 * DAY - SECOND,
    -31 * DAY,
    -91 * DAY,
    90 * DAY,
    90 * DAY + SECOND,
]
# Where a severity grows (31 and 91 days late; a stale ticket 30 days later).
SEVERITY_EDGES = (-31 * DAY, -61 * DAY, -91 * DAY, -121 * DAY)
offsets = st.one_of(
    st.sampled_from(EDGES),
    st.sampled_from(EDGES),
    st.integers(-400 * 86400, 120 * 86400).map(lambda seconds: timedelta(seconds=seconds)),
)
moments = offsets.map(lambda offset: AT + offset)
maybe_moments = st.one_of(st.none(), moments)
TYPES = (*rules.FLAGGED_TYPES, *rules.AHEAD_TYPES)
STATUSES = ("open", "failed", "failed", "paid", "firing", "due", "needs_response", "FAILED")
PRIORITIES = (None, "", "critical", "CRITICAL", "Critical", "crítical", "high", "urgent", "low")


@st.composite
def thread_states(draw) -> dict:
    opened = draw(moments)
    closed = draw(st.one_of(st.none(), st.none(), moments.filter(lambda at: at >= opened)))
    return {
        "type": draw(st.sampled_from(TYPES)),
        "status": draw(st.sampled_from(STATUSES)),
        "opened_at": opened,
        "closed_at": closed,
        "last_event_at": closed or opened,
        "due_at": draw(maybe_moments),
        "sla_due_at": draw(maybe_moments),
        "priority": draw(st.sampled_from(PRIORITIES)),
        "amount": Decimal("10"),
    }


def _check(condition: bool, message: str) -> None:
    """An assertion that says what disagreed (hypothesis shows the example)."""
    if not condition:
        raise AssertionError(message)


def _on_the_edges() -> list[dict]:
    """Every flagged type with each of its moments on a boundary of the rules."""
    states = []
    for thread_type in rules.FLAGGED_TYPES:
        for edge in (timedelta(0), -SECOND, SECOND, -30 * DAY, -30 * DAY + SECOND, *SEVERITY_EDGES):
            moment = AT + edge
            for status in ("failed", "open"):
                states.append(
                    {"type": thread_type, "status": status, "opened_at": min(moment, AT)}
                    | {"closed_at": None, "last_event_at": AT - DAY, "priority": "critical"}
                    | {"due_at": moment, "sla_due_at": moment, "amount": None}
                )
            states.append(states[-1] | {"opened_at": moment, "closed_at": moment})
            states.append(states[-2] | {"opened_at": moment, "due_at": None, "sla_due_at": None})
    return states


def test_each_flags_sql_and_python_agree_on_generated_thread_states(session):
    client = make_client()
    seen: set[str] = set()

    @settings(max_examples=80, deadline=None, derandomize=True, database=None)
    @given(st.lists(thread_states(), min_size=1, max_size=25))
    @example(_on_the_edges())
    def agree(states):
        rows = [
            {"client_id": client.id, "key": f"K{number}", "event_count": 1} | state
            for number, state in enumerate(states)
        ]
        session.execute(insert(Entity), rows)
        try:
            stored = session.scalars(
                select(Entity)
                .where(Entity.client_id == client.id)
                .execution_options(populate_existing=True)
            ).all()
            frame = records(entities_frame(*rows))
            by_entity = {e.key: rules.flag_of(e, AT, SETTINGS) for e in stored}
            by_row = {row.key: rules.flag_of(row, AT, SETTINGS) for row in frame}
            _check(by_entity == by_row, "an Entity and a frame's row disagree")

            def sql_keys(condition) -> set[str]:
                return set(
                    session.scalars(
                        select(Entity.key).where(Entity.client_id == client.id, condition)
                    )
                )

            for kind in rules.THREAD_KINDS:
                python = {key for key, flag in by_entity.items() if flag and flag.kind == kind}
                _check(sql_keys(rules.kind_sql(kind, AT, SETTINGS)) == python, kind)
                seen.update([kind] if python else [])
            for thread_type in rules.FLAGGED_TYPES:
                python = {
                    e.key for e in stored if e.type == thread_type and by_entity[e.key] is not None
                }
                _check(sql_keys(rules.rule_sql(thread_type, AT, SETTINGS)) == python, thread_type)
            rank = rank_sql(AT, SETTINGS)
            ranked = session.execute(
                select(Entity.key, rank.severity, rank.since, rank.kind).where(
                    Entity.client_id == client.id, rank.flagged
                )
            )
            _check(
                {key: (severity, since, kind) for key, severity, since, kind in ranked}
                == {key: rules.rank(flag) for key, flag in by_entity.items() if flag},
                "a flag ranks otherwise in SQL",
            )
            # read at a past moment (a briefing's start of its period), a thread
            # closed since was still open then
            past = rank_sql(AT, SETTINGS, present=False)
            ranked_then = session.execute(
                select(Entity.key, past.severity, past.since, past.kind).where(
                    Entity.client_id == client.id, past.flagged
                )
            )
            then = {e.key: rules.flag_of(e, AT, SETTINGS, present=False) for e in stored}
            _check(
                {key: (severity, since, kind) for key, severity, since, kind in ranked_then}
                == {key: rules.rank(flag) for key, flag in then.items() if flag},
                "a flag at a past moment ranks otherwise in SQL",
            )
            overdue = {
                key for key, raised in by_entity.items() if raised and "overdue" in raised.facets
            }
            invoices = {e.key for e in stored if e.type == "invoice"}
            _check(
                sql_keys(rules.facet_sql("invoice", "overdue", AT)) == overdue & invoices,
                "overdue invoices",
            )
            for present in (True, False):
                for python, sql in (
                    (rules.renewal_due, ahead.renewal_due_sql),
                    (rules.open_quote, ahead.open_quote_sql),
                ):
                    _check(
                        sql_keys(sql(AT, present=present))
                        == {e.key for e in stored if python(e, AT, present=present)},
                        f"{python.__name__}, present={present}",
                    )
            buckets = session.execute(
                select(Entity.key, aging_bucket_sql(Entity.due_at, AT)).where(
                    Entity.client_id == client.id, Entity.due_at.is_not(None)
                )
            )
            _check(
                dict(buckets.all())
                == {e.key: aging_bucket(whole_days(e.due_at, AT)) for e in stored if e.due_at},
                "an aging bucket in SQL",
            )
        finally:
            session.execute(delete(Entity).where(Entity.client_id == client.id))

    agree()
    assert seen == set(rules.THREAD_KINDS)  # every flag was raised in some example


# Mostly one device and one check, for recurrences to happen; some name none.
INSTANCES = ("NAS01", 5, "NAS01", 5, None, "", "nas01", "absent")
CHECKS = ("BackupFailed", "BackupFailed", "HighCPU", None, "", "absent")
ALERT_TIMES = [*EDGES, -29 * DAY, -2 * DAY, -2 * DAY, -10 * DAY, -45 * DAY]


@st.composite
def alerts(draw) -> dict:
    attributes = {}
    for name, values in (("instance", INSTANCES), ("alertname", CHECKS)):
        found = draw(st.sampled_from(values))
        if found != "absent":
            attributes[name] = found
    return {
        "kind": draw(st.sampled_from(("alert.raised",) * 3 + ("alert.resolved",))),
        "occurred_at": AT + draw(st.sampled_from(ALERT_TIMES)),
        "attributes": attributes,
    }


def _on_nas(offset: timedelta, kind: str = "alert.raised") -> dict:
    device = {"instance": 5, "alertname": "BackupFailed"}
    return {"kind": kind, "occurred_at": AT + offset, "attributes": device}


def test_recurrences_in_sql_and_in_python_agree_on_generated_alerts(session):
    client = make_client()
    recurring = []

    @settings(max_examples=60, deadline=None, derandomize=True, database=None)
    @given(st.lists(alerts(), min_size=3, max_size=40))
    # three in the window on a device named by a number, one more just outside,
    # and one resolved (no occurrence)
    @example([_on_nas(-DAY), _on_nas(-30 * DAY + SECOND), _on_nas(timedelta(0))])
    @example([_on_nas(-DAY), _on_nas(-30 * DAY), _on_nas(-DAY, "alert.resolved"), _on_nas(-SECOND)])
    def agree(generated):
        rows = [
            {
                "client_id": client.id,
                "source": "rmm",
                "origin": "test",
                "external_id": f"a{number}",
                "title": "An alert",
                "thread_type": "alert",
                "thread_key": f"fp{number}",
            }
            | alert
            for number, alert in enumerate(generated)
        ]
        if rows:
            session.execute(insert(Event), rows)
        try:
            found = session.execute(rules.recurring_sql(AT, Event.client_id == client.id)).all()
            sql = {(row.instance, row.alertname): (row.times, row.first, row.last) for row in found}
            stored = session.scalars(
                select(Event)
                .where(Event.client_id == client.id, Event.kind == "alert.raised")
                .order_by(Event.occurred_at, Event.id)
            )
            python = {
                (r.instance, r.alertname): (r.times, r.first, r.last)
                for r in rules.recurrences(map(rules.raised_alert, stored), AT)
            }
            _check(sql == python, f"{sql} != {python}")
            # the card's way: the rules' SQL rows, grouped in Python
            raised = rules.raised_in_window(AT, Event.client_id == client.id).order_by(
                Event.occurred_at, Event.id
            )
            card = rules.recurrences(
                (rules.RaisedAlert(*row[:5]) for row in session.execute(raised)), AT
            )
            _check({(r.instance, r.alertname) for r in card} == set(python), "the card's way")
            # the directory's filter: whether the client has any
            recurs = session.scalar(select(rules.recurs_sql(client.id, AT)))
            _check(recurs == bool(python), "the directory's filter")
            recurring.extend(python)
        finally:
            session.execute(delete(Event).where(Event.client_id == client.id))

    agree()
    assert ("5", "BackupFailed") in recurring  # a number is grouped by its digits, as in SQL
    assert len(recurring) > 1  # and the generated alerts recur too


# --- what each rule says -------------------------------------------------------------


def thread(**state):
    """A thread's state as a briefing's frame row holds it (None for what is missing)."""
    values = {"type": "ticket", "key": "K", "opened_at": AT - 2 * DAY} | state
    [row] = records(entities_frame(values))
    return row


def raised(**state) -> Raised | None:
    return rules.flag_of(thread(**state), AT, SETTINGS)


def test_a_failed_payment_on_an_overdue_invoice_is_one_overdue_invoice():
    both = raised(type="invoice", status="failed", due_at=AT - 3 * DAY, last_event_at=AT - DAY)
    assert (both.kind, both.facets, both.facet_kinds) == (
        "overdue_invoice",
        ("overdue", "payment_failed"),
        ("overdue_invoice", "failed_payment"),
    )
    assert (both.severity, both.since) == ("high", AT - 3 * DAY)
    within = raised(type="invoice", status="failed", due_at=AT + DAY, last_event_at=AT - DAY)
    assert (within.kind, within.severity, within.since) == ("failed_payment", "high", AT - DAY)
    assert raised(type="invoice", due_at=AT + DAY) is None


@pytest.mark.parametrize(
    "state, severity",
    [
        ({"sla_due_at": AT - DAY}, "high"),
        ({"sla_due_at": AT - 30 * DAY, "opened_at": AT - 31 * DAY}, "high"),
        ({"sla_due_at": AT - 31 * DAY, "opened_at": AT - 32 * DAY}, "critical"),
        ({"sla_due_at": AT - SECOND, "priority": "Urgent"}, "critical"),
        ({"opened_at": AT - 30 * DAY}, "medium"),  # open 30 days: too long
        ({"opened_at": AT - 30 * DAY, "priority": "high"}, "high"),
        ({"opened_at": AT - 61 * DAY}, "high"),  # 31 days past the threshold
        ({"opened_at": AT - 121 * DAY}, "critical"),  # 91 days past it
    ],
)
def test_a_late_tickets_severity_grows_with_how_late_it_is(state, severity):
    assert raised(**state).severity == severity


def test_a_ticket_is_late_from_the_moment_its_sla_passes_or_it_turns_30_days_old():
    assert raised(sla_due_at=AT) is None  # due now: not yet past
    assert raised(opened_at=AT - 30 * DAY + SECOND) is None
    assert raised(opened_at=AT - 30 * DAY).facets == ("open_too_long",)
    assert rules.flag_of(thread(opened_at=AT - 30 * DAY), AT, FlagSettings(31)) is None


def test_open_means_opened_by_the_moment_and_not_closed_by_it():
    later = {"type": "dispute", "closed_at": AT + DAY}
    # read now, a closing on record counts; at an earlier moment it had not happened
    assert raised(**later) is None
    assert rules.flag_of(thread(**later), AT, SETTINGS, present=False).kind == "open_dispute"
    assert raised(type="dispute", opened_at=AT + SECOND) is None


def test_an_alert_is_critical_by_its_priority():
    assert raised(type="alert", priority="CRITICAL").kind == "critical_alert"
    assert raised(type="alert", priority="warning") is None
    assert raised(type="alert") is None


def test_what_lies_ahead_counts_whatever_its_opened_time():
    renewal = thread(type="renewal", opened_at=AT + 60 * DAY, due_at=AT + 60 * DAY)
    assert rules.renewal_due(renewal, AT)
    assert not rules.renewal_due(thread(type="renewal", due_at=AT + 91 * DAY), AT)
    assert rules.renewal_due(thread(type="renewal", due_at=AT - 5 * DAY), AT)  # past, unsettled
    assert not rules.renewal_due(thread(type="renewal"), AT)  # no date: not coming up
    assert rules.open_quote(thread(type="deal", opened_at=AT + 7 * DAY), AT)
    assert not rules.open_quote(thread(type="deal", closed_at=AT - DAY), AT)


def test_flags_read_most_severe_first_then_longest_waiting():
    flags = [
        raised(sla_due_at=AT - DAY),  # high since opened, 2 days ago
        raised(type="dispute"),  # critical
        raised(type="commitment", due_at=AT - 5 * DAY),  # high, 5 days overdue
        raised(opened_at=AT - 40 * DAY),  # medium
    ]
    assert [flag.kind for flag in sorted(flags, key=rules.rank)] == [
        "open_dispute",
        "overdue_commitment",
        "late_ticket",
        "late_ticket",
    ]
    # by kind: the worst of each, then in the order of crm.flags.KINDS
    assert rules.summary(flags) == ["1 open dispute", "2 late tickets", "1 overdue commitment"]


def test_a_ticket_long_past_its_sla_ranks_above_a_fresh_password_reset():
    """Severity follows harm: 38 days past the SLA is critical; a password reset
    that missed its SLA yesterday is high, and even when urgent (critical too)
    it has waited less, so it comes second."""
    old = raised(title="Backups failing", sla_due_at=AT - 38 * DAY, opened_at=AT - 40 * DAY)
    reset = raised(title="Password reset", sla_due_at=AT - DAY, opened_at=AT - 2 * DAY)
    urgent = raised(
        title="Password reset", sla_due_at=AT - DAY, opened_at=AT - 2 * DAY, priority="urgent"
    )
    assert (old.severity, reset.severity, urgent.severity) == ("critical", "high", "critical")
    assert sorted([reset, old], key=rules.rank)[0] is old
    assert sorted([urgent, old], key=rules.rank)[0] is old


# --- ages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "length, said",
    [
        (timedelta(seconds=59), "under a minute"),
        (timedelta(minutes=59, seconds=59), "59 min"),
        (timedelta(hours=23, minutes=59), "23 h"),
        (timedelta(days=4, hours=23), "4 days"),  # counted down: the card said 5, the briefing 4
        (DAY, "1 day"),
        (timedelta(days=20, hours=23), "20 days"),
        (timedelta(days=45), "6 weeks"),
        (timedelta(days=400), "13 months"),
    ],
)
def test_a_length_of_time_is_said_in_whole_units_counted_down(length, said):
    assert span(length) == said
    assert span(-length) == said


def test_an_age_and_its_whole_days_count_the_same_way():
    opened = AT - timedelta(days=4, hours=23)
    assert (age(opened, AT), whole_days(opened, AT)) == ("4 days ago", 4)
    assert age(AT + timedelta(days=2, hours=1), AT) == "in 2 days"
    assert age(AT - timedelta(seconds=30), AT) == "just now"
    assert whole_days(AT, opened) == 0
