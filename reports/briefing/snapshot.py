"""A briefing's picture of one moment: its frames cut to what existed then, and what lay ahead.

Flags and talking points read a client "as of" a moment (now, or the
morning of a past meeting; the health score also the start of the period)
from the events and thread states of reports.briefing.frames: a thread is
open at that moment when it was opened by then and not closed by then
(crm.flags.is_open). Renewals and quotes not settled by then are kept apart,
whenever they opened: what lies ahead counts whatever a record dates it.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import pandas as pd

from crm import flags as rules
from crm.flags import DEFAULT_STALE_TICKET_DAYS, FlagSettings, Raised
from reports.briefing.phrasing import day_text
from reports.briefing.threads import ThreadEvents, records


@dataclass(frozen=True)
class Scope:
    """The moment flags are read at, and what the reading depends on.

    `present`: `as_of` is the moment of reading, so a thread whose closing is
    on record is closed, whatever date the record gives it (crm.flags.is_open),
    as the directory and the card see it."""

    as_of: datetime
    period_start: datetime
    stale_days: int = DEFAULT_STALE_TICKET_DAYS
    zone: tzinfo = UTC
    last_meeting_at: datetime | None = None
    present: bool = False

    @property
    def settings(self) -> FlagSettings:
        return FlagSettings(stale_ticket_days=self.stale_days)


@dataclass
class Snapshot:
    """The frames cut to what existed at `scope.as_of`, and what lay ahead of it."""

    scope: Scope
    events: pd.DataFrame  # up to as_of
    entities: pd.DataFrame  # threads opened by as_of
    open: pd.DataFrame  # threads open at as_of
    threads: ThreadEvents  # of `events`
    # Renewals and quotes not settled by as_of, whenever they opened (a record
    # may date a renewal at its renewal day), and the events of every thread.
    ahead: pd.DataFrame = field(default_factory=pd.DataFrame)
    all_threads: ThreadEvents | None = None

    @classmethod
    def take(
        cls,
        events: pd.DataFrame,
        entities: pd.DataFrame,
        scope: Scope,
        threads: ThreadEvents | None = None,
    ) -> "Snapshot":
        """`threads`, the ThreadEvents of the whole `events` frame, saves indexing
        it again for each moment a briefing reads it at."""
        every_thread = threads if threads is not None else ThreadEvents(events)
        existed = events["occurred_at"] <= scope.as_of
        count = int(existed.sum())
        # In time order (reports.briefing.frames), what existed is the frame's head.
        if bool(existed.iloc[:count].all()):
            threads = every_thread.until(count)
            events = events.iloc[:count]
        else:
            events = events[existed]
            threads = ThreadEvents(events)
        ahead_types = entities[entities["type"].isin(rules.AHEAD_TYPES)]
        pending = [
            rules.is_pending(row, scope.as_of, present=scope.present)
            for row in records(ahead_types)
        ]
        entities = entities[entities["opened_at"] <= scope.as_of]
        is_open = entities["closed_at"].isna() | (entities["closed_at"] > scope.as_of)
        return cls(
            scope,
            events,
            entities,
            entities[is_open],
            threads,
            ahead=ahead_types[pd.Series(pending, index=ahead_types.index, dtype=bool)],
            all_threads=every_thread,
        )

    def in_period(self, moments: pd.Series) -> pd.Series:
        return (moments > self.scope.period_start) & (moments <= self.scope.as_of)

    def day(self, moment) -> str:
        return day_text(moment, self.scope.zone, self.scope.as_of)

    def raised(self, thread) -> Raised | None:
        scope = self.scope
        return rules.flag_of(thread, scope.as_of, scope.settings, present=scope.present)
