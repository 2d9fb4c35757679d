"""Talking points: the good news and the open questions, worded for the conversation.

"Bob set up the wireless access point on 3 Nov: is it working well?" is what
one says; "T123456 resolved" is not. Work that starts with a verb we know
("Install a network printer") is told as done ("installed the network
printer"); anything else is told as a problem solved ("solved “Outlook slow”").

Read from the same snapshot as the flags (reports.briefing.snapshot):
- work done: tickets solved in the period, newest first;
- deals won in the period;
- renewals due within crm.flags.RENEWAL_HORIZON of the briefing, or already past due
  and not settled, and quotes still open: what lies ahead (crm.flags), as
  the card has it, whatever the period and whenever the thread opened (a
  record may date a renewal at its renewal day, or a quote at its close);
- campaigns the client's contacts received lately (in the period, and at
  least the last CAMPAIGN_WINDOW), so nobody pitches the same thing twice.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from crm import flags as rules
from reports.briefing.model import TalkingPoint, TalkingPoints
from reports.briefing.phrasing import days_text, first_name, money_text, plural, without_label
from reports.briefing.snapshot import Snapshot
from reports.briefing.threads import records

CAMPAIGN_WINDOW = timedelta(days=90)
CAMPAIGN_IDS = 50  # the events a campaign point keeps (its first): a sample, not every open
# Imperative verbs tickets start with, and how a sentence says them done.
PAST_TENSE = {
    "set up": "set up",
    "install": "installed",
    "replace": "replaced",
    "migrate": "migrated",
    "mount": "mounted",
    "cable": "cabled",
    "configure": "configured",
    "upgrade": "upgraded",
    "update": "updated",
    "move": "moved",
    "add": "added",
    "restore": "restored",
    "deploy": "deployed",
    "connect": "connected",
    "create": "created",
    "remove": "removed",
    "fix": "fixed",
    "repair": "repaired",
    "review": "reviewed",
    "enable": "enabled",
    "test": "tested",
    "renew": "renewed",
    "order": "ordered",
    "clean up": "cleaned up",
    "onboard": "onboarded",
    "reset": "reset",
}
_VERB = re.compile(
    r"^(" + "|".join(sorted(map(re.escape, PAST_TENSE), key=len, reverse=True)) + r")\s+(.+)$",
    re.IGNORECASE,
)
_ARTICLE = re.compile(r"^(a|an)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Campaign:
    """What a campaign point is told from: the campaign's first sending (or
    first event, when none was sent), its sendings, opens and clicks, and its
    first CAMPAIGN_IDS events."""

    key: str
    title: str | None
    at: datetime
    sent: int
    opened: int
    clicked: int
    threaded: bool  # its events are a thread (the vendor threads its campaigns)
    event_ids: list[int]


def talking_points(
    s: Snapshot, limit: int | None = None, found_campaigns: list[Campaign] | None = None
) -> TalkingPoints:
    """The talking points; with `limit`, the work done and the deals won are
    told only for the newest `limit` of them (a busy client solves tens of
    thousands of tickets a quarter, and a briefing shows a few), their
    numbers kept in `totals`."""
    solved, won = _solved(s), _won(s)
    points = TalkingPoints(
        work_done=_work_points(s, solved, limit),
        deals_won=_deal_points(s, won, limit),
        renewals_due=renewals_due(s),
        open_quotes=open_quotes(s),
        campaigns=campaigns(s, found_campaigns),
    )
    if limit is not None:
        points.totals.update(work_done=len(solved), deals_won=len(won))
    return points


def work_sentence(title: str, actor: str | None, day: str) -> str:
    """How to bring up a solved ticket in conversation."""
    who = first_name(actor) or "We"
    done = _as_done(title.strip())
    if done:
        return f"{who} {done} on {day}: is it working well?"
    return f"{who} solved “{title.strip()}” on {day}: has it stayed fixed?"


def _as_done(title: str) -> str | None:
    """ "Mount and cable a server rack" -> "mounted and cabled the server rack"."""
    match = _VERB.match(title)
    if not match:
        return None
    verb, rest = match.groups()
    done = PAST_TENSE[verb.lower()]
    joined = re.match(r"^and\s+(.+)$", rest, re.IGNORECASE)
    if joined:
        second = _VERB.match(joined.group(1))
        if second:
            done += f" and {PAST_TENSE[second.group(1).lower()]}"
            rest = second.group(2)
    return f"{done} {_ARTICLE.sub('the ', rest)}"


def work_done(s: Snapshot) -> list[TalkingPoint]:
    """Tickets solved in the period, newest first."""
    return _work_points(s, _solved(s))


def _solved(s: Snapshot) -> pd.DataFrame:
    """The last solving of each ticket solved in the period, oldest first."""
    events = s.events
    solved = events[(events["kind"] == "ticket.resolved") & s.in_period(events["occurred_at"])]
    return solved[solved["thread_key"].notna()].drop_duplicates("thread_key", keep="last")


def _work_points(s: Snapshot, solved: pd.DataFrame, limit: int | None = None) -> list[TalkingPoint]:
    if limit is not None:
        solved = solved.iloc[len(solved) - min(limit, len(solved)) :]
    tickets = _by_key(s.entities, "ticket", solved["thread_key"])
    points = []
    for event in reversed(records(solved[["occurred_at", "title", "actor", "thread_key"]])):
        ticket = tickets.get(event.thread_key)
        title = (ticket.title if ticket is not None else None) or event.title
        actor = event.actor or (ticket.assignee if ticket is not None else None)
        points.append(
            TalkingPoint(
                kind="work_done",
                text=work_sentence(title, actor, s.day(event.occurred_at)),
                at=event.occurred_at.to_pydatetime(),
                thread_type="ticket",
                thread_key=event.thread_key,
                event_ids=s.threads.ids("ticket", event.thread_key),
            )
        )
    return points


def deals_won(s: Snapshot) -> list[TalkingPoint]:
    """Deals won in the period, newest first."""
    return _deal_points(s, _won(s))


def _won(s: Snapshot) -> pd.DataFrame:
    events = s.events
    return events[(events["kind"] == "deal.won") & s.in_period(events["occurred_at"])]


def _deal_points(s: Snapshot, won: pd.DataFrame, limit: int | None = None) -> list[TalkingPoint]:
    if limit is not None:
        won = won.iloc[len(won) - min(limit, len(won)) :]
    deals = _by_key(s.entities, "deal", won["thread_key"])
    points = []
    for event in reversed(records(won)):
        deal = deals.get(event.thread_key)
        project = without_label((deal.title if deal is not None else None) or event.title)
        amount = event.amount if event.amount is not None else _value(deal, "amount")
        currency = event.currency or _value(deal, "currency")
        worth = money_text(amount, currency)
        points.append(
            TalkingPoint(
                kind="deal_won",
                text=(
                    f"They signed “{project}”{f' ({worth})' if worth else ''} on "
                    f"{s.day(event.occurred_at)}: ask how it is going."
                ),
                at=event.occurred_at.to_pydatetime(),
                amount=amount,
                currency=currency,
                thread_type="deal" if event.thread_key else None,
                thread_key=event.thread_key,
                event_ids=(
                    s.threads.ids("deal", event.thread_key) if event.thread_key else [event.id]
                ),
            )
        )
    return points


def _ahead(s: Snapshot, is_it) -> list:
    """The renewals or quotes of s.ahead that `is_it` (crm.flags) says lie ahead."""
    scope = s.scope
    return [row for row in records(s.ahead) if is_it(row, scope.as_of, present=scope.present)]


def renewals_due(s: Snapshot) -> list[TalkingPoint]:
    as_of = s.scope.as_of
    points = []
    for renewal in sorted(_ahead(s, rules.renewal_due), key=lambda row: row.due_at):
        worth = money_text(renewal.amount, renewal.currency)
        what = f"“{renewal.title or renewal.key}”" + (f" ({worth})" if worth else "")
        if renewal.due_at >= as_of:
            text = (
                f"{what} renews on {s.day(renewal.due_at)}, in {days_text(as_of, renewal.due_at)}: "
                "confirm they are renewing and whether anything should change."
            )
        else:
            text = (
                f"{what} was due for renewal on {s.day(renewal.due_at)} and is not settled: "
                "settle it in the meeting."
            )
        points.append(_thread_point(s, "renewal_due", text, renewal, renewal.due_at))
    return points


def open_quotes(s: Snapshot) -> list[TalkingPoint]:
    as_of = s.scope.as_of
    points = []
    for quote in sorted(_ahead(s, rules.open_quote), key=lambda row: (row.opened_at, row.key)):
        worth = money_text(quote.amount, quote.currency)
        what = f"The quote for “{without_label(quote.title) or quote.key}”" + (
            f" ({worth})" if worth else ""
        )
        if quote.opened_at <= as_of:
            open_for = days_text(quote.opened_at, as_of)
            since = f"has been open since {s.day(quote.opened_at)} ({open_for})"
        else:  # a record that dates the quote ahead, as an export without created dates
            since = f"is open, dated {s.day(quote.opened_at)}"
        text = f"{what} {since}: ask whether they have decided."
        points.append(_thread_point(s, "open_quote", text, quote, quote.opened_at))
    return points


def campaigns(s: Snapshot, found: list[Campaign] | None = None) -> list[TalkingPoint]:
    """The campaigns since the period's start, and at least CAMPAIGN_WINDOW,
    newest first: those of the snapshot's events, or `found` (counted by the
    database, reports.briefing.census.campaigns)."""
    points = []
    for campaign in _campaigns(s) if found is None else found:
        reactions = []
        if campaign.opened:
            reactions.append(f"{campaign.opened} opened it")
        if campaign.clicked:
            reactions.append(f"{campaign.clicked} clicked through")
        text = (
            f"“{campaign.title}” reached {plural(max(campaign.sent, 1), 'contact')} on "
            f"{s.day(campaign.at)}"
            + (f" ({', '.join(reactions)})" if reactions else "")
            + ": they have heard this one, so build on it rather than pitch it as news."
        )
        points.append(
            TalkingPoint(
                kind="campaign",
                text=text,
                at=campaign.at,
                thread_type="campaign" if campaign.threaded else None,
                thread_key=campaign.key if campaign.threaded else None,
                event_ids=campaign.event_ids,
            )
        )
    return sorted(points, key=lambda p: p.at, reverse=True)


def campaigns_since(s: Snapshot) -> datetime:
    return min(s.scope.period_start, s.scope.as_of - CAMPAIGN_WINDOW)


def _campaigns(s: Snapshot) -> list[Campaign]:
    events = s.events
    marketing = events[
        (events["source"] == "marketing") & (events["occurred_at"] > campaigns_since(s))
    ]
    if marketing.empty:
        return []
    # Grouped by hand: a few dozen campaigns, and pandas' per-group cost
    # would be most of the briefing's talking points.
    by_campaign: dict[str, list] = defaultdict(list)
    for key, row in zip(_campaign_keys(marketing), records(marketing), strict=True):
        if key is not None:
            by_campaign[key].append(row)
    found = []
    for key, rows in by_campaign.items():
        sent = [row for row in rows if row.kind == "campaign.sent"]
        first = sent[0] if sent else rows[0]
        found.append(
            Campaign(
                key=key,
                title=first.title,
                at=first.occurred_at.to_pydatetime(),
                sent=len(sent),
                opened=sum(row.kind == "email.opened" for row in rows),
                clicked=sum(row.kind == "email.clicked" for row in rows),
                threaded=any(row.thread_key is not None for row in rows),
                event_ids=[int(row.id) for row in rows[:CAMPAIGN_IDS]],
            )
        )
    return found


def _campaign_keys(events: pd.DataFrame) -> list[str]:
    """Which campaign each event belongs to: its thread, else the `campaign`
    attribute the generic format keeps, else its subject."""
    return [
        key or (attributes.get("campaign") if isinstance(attributes, dict) else None) or title
        for key, attributes, title in zip(
            events["thread_key"], events["attributes"], events["title"], strict=True
        )
    ]


def _thread_point(s: Snapshot, kind: str, text: str, entity, at) -> TalkingPoint:
    """A point about a thread ahead, traced to all of its events (those the
    records date later than the briefing too)."""
    threads = s.all_threads or s.threads
    return TalkingPoint(
        kind=kind,
        text=text,
        at=at.to_pydatetime() if isinstance(at, pd.Timestamp) else at,
        amount=entity.amount,
        currency=entity.currency,
        thread_type=entity.type,
        thread_key=entity.key,
        event_ids=threads.ids(entity.type, entity.key),
    )


def _by_key(entities: pd.DataFrame, entity_type: str, keys: pd.Series) -> dict:
    """The threads of `entity_type` with these keys, by key (a busy client
    has thousands of threads, and a row costs far more than a lookup)."""
    rows = entities[(entities["type"] == entity_type) & entities["key"].isin(keys)]
    return {row.key: row for row in records(rows)}


def _value(row, name: str):
    return getattr(row, name) if row is not None else None
