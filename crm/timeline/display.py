"""A page of the timeline as a person reads it.

The API gives every event as it is. The page says them in the client's
terms: days and times on the client's wall clock (as the card and the
briefing speak), one row for a campaign however many of the client's
contacts it reached (a send to four contacts is one touch, not four), and a
kept promise that says which promise it kept when its own record does not.
"""

import itertools
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.formatting import zone
from crm.models import Client, Entity
from crm.vocabulary import KINDS

# Kinds whose events of one campaign, on one day, are one row on the page.
PER_RECIPIENT = frozenset(name for name, kind in KINDS.items() if kind.source == "marketing")
KEPT = "commitment.done"


@dataclass(frozen=True)
class ShownRow:
    """One row of the page: an event (TIMELINE_COLUMNS), or the first of
    `alike` events alike; `title` as the page says it."""

    row: object
    title: str
    alike: int = 1  # how many events the row stands for

    def __getattr__(self, name: str):
        return getattr(self.row, name)


def timeline_days(session: Session, client: Client, rows: list) -> list[tuple[date, list]]:
    """The page's rows by the client's day, newest first, alike rows as one."""
    client_zone = zone(client.timezone)
    promises = _promises(session, client, rows)
    days = []
    for day, group in itertools.groupby(
        rows, key=lambda row: row.occurred_at.astimezone(client_zone).date()
    ):
        shown: list[ShownRow] = []
        for row in group:
            previous = shown[-1] if shown else None
            if previous is not None and _alike(previous.row, row):
                shown[-1] = ShownRow(previous.row, previous.title, previous.alike + 1)
                continue
            shown.append(ShownRow(row, _title(row, promises)))
        days.append((day, shown))
    return days


def _alike(shown, row) -> bool:
    """One campaign's events of one kind, to the same client, side by side."""
    return (
        row.kind in PER_RECIPIENT
        and row.kind == shown.kind
        and row.thread_key is not None
        and row.thread_key == shown.thread_key
    )


def _title(row, promises: dict[str, str]) -> str:
    if row.kind == KEPT and row.title == KINDS[KEPT].summary and row.thread_key in promises:
        return f"{row.title}: {promises[row.thread_key]}"
    return row.title


def _promises(session: Session, client: Client, rows: list) -> dict[str, str]:
    """The promises kept on the page whose records do not say which: key -> title."""
    keys = {
        row.thread_key
        for row in rows
        if row.kind == KEPT and row.thread_key and row.title == KINDS[KEPT].summary
    }
    if not keys:
        return {}
    found = session.execute(
        select(Entity.key, Entity.title).where(
            Entity.client_id == client.id, Entity.type == "commitment", Entity.key.in_(keys)
        )
    )
    return {key: title for key, title in found if title}
