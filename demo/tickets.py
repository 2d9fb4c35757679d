"""Helpdesk tickets: the daily work, the stale ones and the broken promises.

Most tickets are solved within their SLA. Some are solved late, a few urgent
ones are open past their SLA right now, `problem` clients (and a few others)
have a ticket that has been open for over a month, and new clients had
installation work finished in the last two weeks.
"""

import random
from datetime import timedelta

from demo.roster import DemoClient
from demo.world import TECHNICIANS, Calendar, record, stream, token

CATEGORIES = {
    "hardware": ("Laptop will not boot", "Monitor flickers", "Docking station not detected"),
    "software": ("Accounting software crashes on start", "PDF printer missing", "Outlook slow"),
    "network": ("VPN drops every few minutes", "Wi-Fi slow in the meeting room", "No internet"),
    "email": ("Mailbox full", "Emails to a client bounce", "Shared calendar not syncing"),
    "access": ("New employee needs accounts", "Password reset", "Access to the finance share"),
    "security": ("Suspicious email reported", "MFA phone replaced", "Antivirus warning"),
    "backup": ("Restore a deleted folder", "Backup report shows warnings"),
}
INSTALLS = (
    "Set up a wireless access point",
    "Install a network printer",
    "Set up a laptop for a new employee",
    "Install the new firewall",
    "Mount and cable a server rack",
    "Set up Microsoft 365 mailboxes",
)
STALE = (
    "Migrate the file server to SharePoint",
    "Replace the ageing NAS",
    "Phones drop calls intermittently",
)
PRIORITIES = {"low": 72, "normal": 24, "high": 8, "urgent": 4}  # SLA hours
PRIORITY_WEIGHTS = (25, 50, 20, 5)
TICKETS_PER_MONTH = {"key": 1.6, "standard": 0.6, "problem": 1.6, "new": 1.5}


class _Tickets:
    def __init__(self, rng: random.Random, calendar: Calendar):
        self.rng, self.calendar = rng, calendar
        self.events: list[dict] = []

    def ticket(self, client, opened_ago, title, category, priority, *, fix_hours, tech=None):
        """A ticket opened `opened_ago` days ago; solved after `fix_hours`, or open if None.

        Open tickets older than a week wait on the client (`pending`).
        """
        rng, calendar = self.rng, self.calendar
        thread = f"T{rng.randrange(100_000, 999_999)}"
        opened = calendar.local(client.zone, opened_ago, rng.randint(8, 16), rng.randrange(60))
        sla_due = opened + timedelta(hours=PRIORITIES[priority])
        requester = rng.choice(client.contacts)
        tech = tech or rng.choice(TECHNICIANS)
        state = {"priority": priority, "category": category, "sla_due_at": sla_due}
        common = {"account": client.account, "thread": thread}
        self.events.append(
            record(
                f"zd-{token(rng)}",
                "ticket.opened",
                opened,
                title=title,
                detail=f"Reported by {requester.name} ({requester.role}).",
                actor=requester.name,
                status="new",
                **state,
                **common,
            )
        )
        picked_up = calendar.past(opened + timedelta(minutes=rng.randint(10, 90)))
        self.events.append(
            record(
                f"zd-{token(rng)}",
                "ticket.updated",
                picked_up,
                title=f"{tech} is on it",
                detail="Contacted the requester and started remotely.",
                actor=tech,
                assignee=tech,
                status="pending" if fix_hours is None and opened_ago > 7 else "open",
                **common,
            )
        )
        if fix_hours is None:
            return
        self.events.append(
            record(
                f"zd-{token(rng)}",
                "ticket.resolved",
                calendar.past(picked_up + timedelta(hours=fix_hours)),
                title=f"Solved: {title}",
                actor=tech,
                assignee=tech,
                **common,
            )
        )


def ticket_events(roster: list[DemoClient], seed: int, calendar: Calendar) -> list[dict]:
    rng = stream(seed, "tickets")
    tickets = _Tickets(rng, calendar)
    for client in roster:
        expected = TICKETS_PER_MONTH[client.tier] * client.history_days / 30
        for _ in range(round(expected * rng.uniform(0.7, 1.3))):
            _everyday(tickets, client)
        if client.tier == "problem" or rng.random() < 0.1:
            stale_ago = rng.randint(35, 80)
            title = rng.choice(STALE)
            tickets.ticket(client, stale_ago, title, "project", "normal", fix_hours=None)
        if client.tier == "new" or rng.random() < 0.2:
            for title in rng.sample(INSTALLS, rng.randint(1, 3) if client.tier == "new" else 1):
                opened_ago = rng.randint(4, 14)
                hours = 24 * rng.randint(1, opened_ago - 2)
                tech = "Bob Ferreira" if rng.random() < 0.7 else None
                tickets.ticket(
                    client, opened_ago, title, "install", "normal", fix_hours=hours, tech=tech
                )
    return tickets.events


def _everyday(tickets: _Tickets, client: DemoClient) -> None:
    rng = tickets.rng
    category = rng.choice(sorted(CATEGORIES))
    title = rng.choice(CATEGORIES[category])
    priority = rng.choices(tuple(PRIORITIES), PRIORITY_WEIGHTS)[0]
    opened_ago = rng.randint(1, client.history_days)
    sla = PRIORITIES[priority]
    breach = rng.random() < (0.35 if client.tier == "problem" else 0.1)
    if opened_ago <= 3 and (priority in ("high", "urgent") or rng.random() < 0.4):
        fix_hours = None  # still being worked on; urgent ones are past their SLA
    elif breach:
        fix_hours = sla * rng.uniform(1.3, 4)
    else:
        fix_hours = sla * rng.uniform(0.05, 0.6)
    tickets.ticket(client, opened_ago, title, category, priority, fix_hours=fix_hours)
