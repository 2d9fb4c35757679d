"""Talking points: worded for the conversation, read from hand-built frames."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from reports.briefing.snapshot import Scope, Snapshot
from reports.briefing.talking_points import (
    campaigns,
    deals_won,
    open_quotes,
    renewals_due,
    work_done,
    work_sentence,
)
from tests.factories import entities_frame, events_frame

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=40)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def snapshot(events=(), entities=()) -> Snapshot:
    return Snapshot.take(events_frame(*events), entities_frame(*entities), Scope(NOW, START))


@pytest.mark.parametrize(
    "title, actor, sentence",
    [
        (
            "Set up a wireless access point",
            "Bob Ferreira",
            "Bob set up the wireless access point on 3 Nov: is it working well?",
        ),
        (
            "Mount and cable a server rack",
            "Carla Mendes",
            "Carla mounted and cabled the server rack on 3 Nov: is it working well?",
        ),
        (
            "Install the new firewall",
            None,
            "We installed the new firewall on 3 Nov: is it working well?",
        ),
        (
            "Laptop will not boot",
            "helpdesk@example.com",
            "We solved “Laptop will not boot” on 3 Nov: has it stayed fixed?",
        ),
    ],
)
def test_work_is_told_the_way_one_says_it(title, actor, sentence):
    assert work_sentence(title, actor, "3 Nov") == sentence


def test_work_done_is_the_tickets_solved_in_the_period_newest_first():
    events = [
        {"kind": "ticket.opened", "occurred_at": ago(21), "thread_key": "T1"},
        {"kind": "ticket.resolved", "occurred_at": ago(20), "thread_key": "T1",
         "title": "Solved: Set up a wireless access point", "actor": "Bob Ferreira"},
        {"kind": "ticket.resolved", "occurred_at": ago(5), "thread_key": "T2",
         "actor": "Kenji Sato"},
        {"kind": "ticket.resolved", "occurred_at": ago(60), "thread_key": "T0"},
    ]  # fmt: skip
    entities = [
        {"type": "ticket", "key": "T1", "title": "Set up a wireless access point",
         "opened_at": ago(21), "closed_at": ago(20), "status": "resolved"},
        {"type": "ticket", "key": "T2", "title": "Outlook slow",
         "opened_at": ago(6), "closed_at": ago(5), "status": "resolved"},
    ]  # fmt: skip
    s = snapshot(events, entities)

    points = work_done(s)

    assert [p.text for p in points] == [
        "Kenji solved “Outlook slow” on 18 Nov: has it stayed fixed?",
        "Bob set up the wireless access point on 3 Nov: is it working well?",
    ]
    assert points[1].thread_key == "T1"
    t1 = s.events[s.events["thread_key"] == "T1"]
    assert points[1].event_ids == [int(i) for i in t1["id"]] and len(t1) == 2


def test_deals_won_in_the_period():
    events = [
        {"kind": "quote.sent", "occurred_at": ago(30), "thread_key": "OPP-1"},
        {"kind": "deal.won", "occurred_at": ago(10), "thread_key": "OPP-1",
         "amount": Decimal("8000"), "currency": "EUR", "title": "Won: Microsoft 365 migration"},
        {"kind": "deal.won", "occurred_at": ago(90), "thread_key": "OPP-0"},
    ]  # fmt: skip
    entities = [
        {"type": "deal", "key": "OPP-1", "title": "Quote: Microsoft 365 migration",
         "opened_at": ago(30), "closed_at": ago(10), "status": "won"},
    ]  # fmt: skip

    [point] = deals_won(snapshot(events, entities))

    assert point.text == (
        "They signed “Microsoft 365 migration” (EUR 8,000.00) on 13 Nov: ask how it is going."
    )
    assert len(point.event_ids) == 2


def test_renewals_due_within_90_days_and_any_past_due_and_unsettled():
    entities = [
        {"type": "renewal", "key": "soon", "title": "Annual contract", "opened_at": ago(50),
         "due_at": ago(-40), "amount": Decimal("1200"), "currency": "EUR", "status": "due"},
        {"type": "renewal", "key": "late", "title": "Backup contract", "opened_at": ago(100),
         "due_at": ago(3), "status": "due"},
        {"type": "renewal", "key": "far", "opened_at": ago(1), "due_at": ago(-120)},
        {"type": "renewal", "key": "done", "opened_at": ago(50), "due_at": ago(-20),
         "status": "renewed", "closed_at": ago(2)},
    ]  # fmt: skip

    points = renewals_due(snapshot(entities=entities))

    assert [p.thread_key for p in points] == ["late", "soon"]
    assert points[0].text.startswith("“Backup contract” was due for renewal on 20 Nov")
    assert points[1].text.startswith(
        "“Annual contract” (EUR 1,200.00) renews on 2 Jan 2027, in 40 days: confirm"
    )


def test_open_quotes_oldest_first():
    entities = [
        {"type": "deal", "key": "B", "title": "Quote: Backup expansion", "opened_at": ago(9),
         "amount": Decimal("18700"), "currency": "EUR"},
        {"type": "deal", "key": "A", "title": "Firewall upgrade", "opened_at": ago(30)},
        {"type": "deal", "key": "W", "opened_at": ago(30), "closed_at": ago(1), "status": "won"},
    ]  # fmt: skip

    points = open_quotes(snapshot(entities=entities))

    assert [p.thread_key for p in points] == ["A", "B"]
    assert points[1].text == (
        "The quote for “Backup expansion” (EUR 18,700.00) has been open since 14 Nov "
        "(9 days): ask whether they have decided."
    )


def test_renewals_and_quotes_dated_ahead_of_the_briefing_are_there_with_their_events():
    # Records that date a renewal at its renewal day and a quote at its close:
    # the threads open after the briefing's moment.
    events = [
        {"kind": "renewal.due", "occurred_at": ago(-60), "thread_key": "R"},
        {"kind": "quote.sent", "occurred_at": ago(-7), "thread_key": "Q"},
    ]
    entities = [
        {"type": "renewal", "key": "R", "title": "Contract", "opened_at": ago(-60),
         "due_at": ago(-60), "status": "due"},
        {"type": "deal", "key": "Q", "title": "Quote: Wi-Fi", "opened_at": ago(-7)},
    ]  # fmt: skip
    s = snapshot(events, entities)
    assert s.entities.empty and s.events.empty  # nothing of them had happened by then

    [renewal] = renewals_due(s)
    [quote] = open_quotes(s)

    assert renewal.text.startswith("“Contract” renews on 22 Jan 2027, in 60 days")
    assert (
        quote.text == "The quote for “Wi-Fi” is open, dated 30 Nov: ask whether they have decided."
    )
    assert len(renewal.event_ids) == len(quote.event_ids) == 1


def test_campaigns_received_lately_with_how_they_were_read():
    sent = {"kind": "campaign.sent", "title": "New: security awareness training"}
    events = [
        sent | {"occurred_at": ago(12), "attributes": {"campaign": "NL-07"}},
        sent | {"occurred_at": ago(12), "attributes": {"campaign": "NL-07"}},
        {"kind": "email.opened", "occurred_at": ago(11), "attributes": {"campaign": "NL-07"}},
        {"kind": "email.clicked", "occurred_at": ago(11), "attributes": {"campaign": "NL-07"}},
        # a vendor that threads its campaigns
        {"kind": "campaign.sent", "occurred_at": ago(50), "thread_key": "sg-1",
         "title": "Hardware refresh"},
        {"kind": "campaign.sent", "occurred_at": ago(200), "thread_key": "old"},
    ]  # fmt: skip

    points = campaigns(snapshot(events))

    assert [p.text for p in points] == [
        "“New: security awareness training” reached 2 contacts on 11 Nov (1 opened it, "
        "1 clicked through): they have heard this one, so build on it rather than pitch it "
        "as news.",
        "“Hardware refresh” reached 1 contact on 4 Oct: they have heard this one, so build on "
        "it rather than pitch it as news.",
    ]
    assert len(points[0].event_ids) == 4
    assert (points[1].thread_type, points[1].thread_key) == ("campaign", "sg-1")


def test_empty_frames_give_no_points():
    s = snapshot()
    assert [work_done(s), deals_won(s), renewals_due(s), open_quotes(s), campaigns(s)] == [
        [],
        [],
        [],
        [],
        [],
    ]
