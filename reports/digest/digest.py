"""What the weekly digest says: four lists, each read with the rule that owns it.

- New critical flags: threads whose flag (crm.flags.flag_of) is critical now
  and was not critical at the week's start (no flag, a milder one, or not yet
  open). Recurring alerts are never critical, so only threads can be.
- Health scores that fell: crm.health's score now against the score of the
  flags raised at the week's start (crm.health.scores_at).
- Renewals in the next RENEWAL_DAYS days: renewal threads not settled and
  due from now to then.
- Meetings overdue: crm.meetings.cadence.

Only active clients. Pure reads: a page view changes nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm import flags as rules
from crm.flags import CRITICAL, FlagSettings, Raised
from crm.health import current_scores, scores_at
from crm.meetings.cadence import describe_cadence, overdue_ids
from crm.models import Client, Entity

WEEK = timedelta(days=7)
RENEWAL_DAYS = 30


@dataclass(frozen=True)
class NewFlag:
    client: Client
    thread: Entity
    flag: Raised


@dataclass(frozen=True)
class Fall:
    client: Client
    before: int
    now: int


@dataclass(frozen=True)
class Digest:
    start: datetime
    end: datetime
    new_critical: list[NewFlag]
    fallen: list[Fall]  # the biggest fall first
    renewals: list[Entity]  # the soonest first
    meeting_overdue: list[Client]  # by name


def build_digest(
    session: Session,
    now: datetime,
    settings: FlagSettings,
    cadence: dict[str, int],
) -> Digest:
    """The digest of the week up to `now`."""
    start = now - WEEK
    clients = {
        client.id: client
        for client in session.scalars(select(Client).where(Client.status == "active"))
    }
    ids = list(clients)
    return Digest(
        start=start,
        end=now,
        new_critical=_new_critical(session, clients, start, now, settings),
        fallen=_fallen(session, clients, start, now, settings),
        renewals=_renewals(session, ids, now),
        meeting_overdue=sorted(
            (clients[i] for i in overdue_ids(session, ids, now, cadence)),
            key=lambda client: (client.name.lower(), client.id),
        ),
    )


def _new_critical(session, clients, start, now, settings) -> list[NewFlag]:
    if not clients:
        return []
    threads = session.scalars(
        select(Entity).where(
            Entity.client_id.in_(list(clients)),
            or_(*(rules.rule_sql(kind, now, settings) for kind in rules.FLAGGED_TYPES)),
        )
    )
    found = []
    for thread in threads:
        raised = rules.flag_of(thread, now, settings)
        if raised is None or raised.severity != CRITICAL:
            continue
        before = rules.flag_of(thread, start, settings, present=False)
        if before is None or before.severity != CRITICAL:
            found.append(NewFlag(clients[thread.client_id], thread, raised))
    return sorted(found, key=lambda new: (rules.rank(new.flag), new.thread.id))


def _fallen(session, clients, start, now, settings) -> list[Fall]:
    ids = list(clients)
    if not ids:
        return []
    today = current_scores(session, ids, now, settings)
    before = scores_at(session, ids, start, settings)
    falls = [Fall(clients[i], before[i], today[i]) for i in ids if today[i] < before[i]]
    return sorted(falls, key=lambda fall: (fall.now - fall.before, fall.client.name.lower()))


def _renewals(session, ids: list[int], now: datetime) -> list[Entity]:
    if not ids:
        return []
    return list(
        session.scalars(
            select(Entity)
            .where(
                Entity.client_id.in_(ids),
                Entity.type == "renewal",
                Entity.closed_at.is_(None),
                Entity.due_at >= now,
                Entity.due_at <= now + timedelta(days=RENEWAL_DAYS),
            )
            .order_by(Entity.due_at, Entity.id)
        )
    )


def digest_context(session: Session, config, now: datetime) -> dict:
    """What the page and the e-mail render: the one digest both show."""
    cadence = config["MEETING_CADENCE"]
    return {
        "digest": build_digest(session, now, FlagSettings.from_config(config), cadence),
        "renewal_days": RENEWAL_DAYS,
        "cadence_text": describe_cadence(cadence),
    }
