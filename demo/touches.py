"""Our own touches: notes, calls, roadmap meetings and the promises made in them.

Key and standard clients have a roadmap meeting every quarter, and each one
leaves commitments behind. Most were kept; a few of the latest are still open,
and on some problem and key clients one is overdue, which is exactly what an
account manager must not walk into a meeting without knowing.
"""

import random

from demo.roster import DemoClient
from demo.world import Calendar, record, stream, token

MEETING_EVERY_DAYS = {"key": 90, "standard": 120, "problem": 60, "new": 0}
PROMISES = (
    "Send the backup restore test report",
    "Quote a second internet line for failover",
    "Review the firewall rules with their IT lead",
    "Share the laptop refresh plan",
    "Call back about the printer fleet",
    "Send the Microsoft 365 licence summary",
)
NOTES = (
    "Asked about moving the phones to Teams; follow up next quarter.",
    "Their office manager changes in January; new contact to be confirmed.",
    "Happy with the new Wi-Fi; mentioned the warehouse still drops out.",
    "Budget for next year is set in November.",
    "Prefers email to calls before 10:00.",
)


def touch_events(roster: list[DemoClient], seed: int, calendar: Calendar) -> list[dict]:
    rng = stream(seed, "touches")
    events: list[dict] = []
    for client in roster:
        every = MEETING_EVERY_DAYS[client.tier]
        if every:
            for days_ago in range(rng.randint(5, every), client.history_days, every):
                events += _meeting(rng, client, calendar, days_ago)
        for _ in range(rng.randint(1, 4)):
            events += _note_or_call(rng, client, calendar)
    return events


def _meeting(rng: random.Random, client: DemoClient, calendar: Calendar, days_ago: int):
    meeting = f"MTG-{token(rng, 32).upper()}"
    when = calendar.local(client.zone, days_ago, hour=rng.choice((10, 11, 14, 15)))
    events = [
        record(
            meeting,
            "meeting",
            when,
            account=client.account,
            title="Quarterly roadmap meeting",
            detail=f"Roadmap review with {client.contacts[0].name}.",
            actor=client.manager,
        )
    ]
    for promise in rng.sample(PROMISES, rng.randint(1, 2)):
        events += _commitment(rng, client, calendar, days_ago, promise)
    return events


def _commitment(rng, client: DemoClient, calendar: Calendar, made_ago: int, promise: str):
    thread = f"CMT-{token(rng, 32).upper()}"
    due_ago = made_ago - rng.randint(3, 21)  # negative: still in the future
    made = calendar.local(client.zone, made_ago, hour=17)
    due = calendar.local(client.zone, due_ago, hour=15)
    events = [
        record(
            f"{thread}-made",
            "commitment.made",
            made,
            account=client.account,
            thread=thread,
            title=promise,
            due_at=due,
            assignee=client.manager,
            actor=client.manager,
        )
    ]
    # Promises come due and are kept, except a few recent ones on clients
    # that are hard work: those are overdue now.
    overdue_allowed = client.tier in ("problem", "key") and 0 < due_ago <= 20
    kept = due_ago > 0 and not (overdue_allowed and rng.random() < 0.6)
    if kept:
        done_ago = max(1, due_ago + rng.randint(-2, 1))
        events.append(
            record(
                f"{thread}-done",
                "commitment.done",
                calendar.local(client.zone, done_ago, hour=12),
                account=client.account,
                thread=thread,
                actor=client.manager,
            )
        )
    return events


def _note_or_call(rng: random.Random, client: DemoClient, calendar: Calendar):
    kind = rng.choice(("note", "call"))
    days_ago = rng.randint(1, client.history_days)
    contact = rng.choice(client.contacts)
    title = f"Call with {contact.name}" if kind == "call" else "Account note"
    return [
        record(
            f"{kind.upper()}-{token(rng, 32).upper()}",
            kind,
            calendar.local(client.zone, days_ago, hour=rng.randint(9, 17)),
            account=client.account,
            title=title,
            detail=rng.choice(NOTES),
            actor=client.manager,
        )
    ]
