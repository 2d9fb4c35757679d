"""What the pre-contact card recalls of the last fortnight: the campaigns the
client's contacts received, and the work we finished (crm.timeline.precontact).

Both are read in SQL, grouped or cut to the latest few, whatever the
client's history.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from crm.models import Entity, Event

RECENT = timedelta(days=14)  # campaigns sent and work completed
LATELY = 10  # a busy client finishes hundreds of tickets a fortnight; the card names the latest

# Work worth asking about once it is done: the status that means "done
# well", the kind of event that closes it, and how a sentence says so.
COMPLETED = {
    "ticket": ("resolved", "ticket.resolved", "closed"),
    "commitment": ("done", "commitment.done", "done"),
    "deal": ("won", "deal.won", "won"),
    "renewal": ("renewed", "renewal.renewed", "renewed"),
}
CAMPAIGN_REACTIONS = ("email.opened", "email.clicked", "email.bounced", "email.unsubscribed")
CAMPAIGN_KINDS = ("campaign.sent", *CAMPAIGN_REACTIONS)


@dataclass(frozen=True)
class Campaign:
    key: str
    title: str
    sent_at: datetime
    recipients: int
    reactions: dict[str, int]  # email.opened -> how many
    thread_key: str | None  # when the campaign is a thread that can be opened


@dataclass(frozen=True)
class Completed:
    """Work finished lately: "Set up a wireless access point, closed 3 Nov by Bob"."""

    type: str
    key: str
    title: str
    verb: str
    closed_at: datetime
    by: str | None
    text: str


def recent_campaigns(session: Session, client_id: int, now: datetime) -> list[Campaign]:
    """Campaigns sent to the client's contacts in the last 14 days, newest first,
    with how their recipients reacted since.

    A campaign is its thread when the connector knows one (SendGrid); the
    generic formats keep it in the `campaign` attribute; failing both, the
    subject names it.
    """
    campaign = func.coalesce(
        Event.thread_key, Event.attributes["campaign"].as_string(), Event.title
    ).label("campaign")
    rows = session.execute(
        select(
            campaign,
            Event.kind,
            func.count(),
            func.min(Event.occurred_at),
            func.min(Event.title),
            func.max(Event.thread_key),
        )
        .where(
            Event.client_id == client_id,
            Event.occurred_at >= now - RECENT,
            Event.occurred_at <= now,
            Event.source == "marketing",
            # the kind names its source: by kind, a range of ix_events_client_kind each;
            # only the sending and the reactions shown (not every delivery)
            Event.kind.in_(CAMPAIGN_KINDS),
        )
        .group_by(campaign, Event.kind)
    ).all()
    reactions: dict[str, dict[str, int]] = defaultdict(dict)
    for key, kind, count, _, _, _ in rows:
        if kind in CAMPAIGN_REACTIONS:
            reactions[key][kind] = count
    ordered = {
        key: {kind: counts[kind] for kind in CAMPAIGN_REACTIONS if kind in counts}
        for key, counts in reactions.items()
    }
    campaigns = [
        Campaign(key, title, first, count, ordered.get(key, {}), thread_key)
        for key, kind, count, first, title, thread_key in rows
        if kind == "campaign.sent"
    ]
    return sorted(campaigns, key=lambda campaign: (campaign.sent_at, campaign.key), reverse=True)


def completed_lately(
    session: Session, client_id: int, now: datetime, client_zone
) -> tuple[list[Completed], int]:
    """The latest work finished in the last 14 days, newest first, with who
    finished it (whoever logged the closing event, else the thread's
    assignee), and how much was finished in all."""
    finished = and_(
        Entity.client_id == client_id,
        Entity.type.in_(COMPLETED),
        Entity.closed_at >= now - RECENT,
        Entity.closed_at <= now,
        or_(*(and_(Entity.type == t, Entity.status == s) for t, (s, _, _) in COMPLETED.items())),
    )
    closer = (
        select(Event.actor)
        .where(
            Event.client_id == Entity.client_id,
            Event.thread_type == Entity.type,
            Event.thread_key == Entity.key,
            Event.occurred_at == Entity.closed_at,
            Event.kind.in_([kind for _, kind, _ in COMPLETED.values()]),
        )
        .order_by(Event.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # How much was finished rides along on each row (asked once: it is not
    # correlated); with no row there is nothing finished to count.
    total = select(func.count()).select_from(Entity).where(finished).correlate(None)
    rows = session.execute(
        select(
            Entity.type,
            Entity.key,
            Entity.title,
            Entity.closed_at,
            func.coalesce(closer, Entity.assignee),
            total.scalar_subquery(),
        )
        .where(finished)
        .order_by(Entity.closed_at.desc(), Entity.id.desc())
        .limit(LATELY)
    ).all()
    completed = []
    for thread_type, key, title, closed_at, by, _ in rows:
        verb = COMPLETED[thread_type][2]
        title = title or key
        local = closed_at.astimezone(client_zone)
        text = f"{title}, {verb} {local.day} {local:%b}" + (f" by {by}" if by else "")
        completed.append(Completed(thread_type, key, title, verb, closed_at, by, text))
    return completed, (rows[0][-1] if rows else 0)
