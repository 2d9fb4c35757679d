"""The portfolio report: its frames read, analysed and put together once, for
the page, the PDF, the CSV and the API alike.

Imports pandas (~0.6 s), so the views and the API import this module when a
report is asked for, never at app start.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import pandas as pd
from flask import current_app
from sqlalchemy.orm import Session

from crm.flags import FlagSettings
from crm.meetings.cadence import overdue_ids
from crm.money import Total, current_rates, total
from reports.portfolio import analysis, tiers
from reports.portfolio.flag_frames import FLAGS_LISTED
from reports.portfolio.frames import read_frames
from reports.portfolio.period import Period
from reports.portfolio.recurring import attach_mrr


@dataclass(frozen=True)
class PortfolioReport:
    period: Period
    generated_at: datetime  # also the moment the open flags are read at
    clients: pd.DataFrame  # analysis.client_table: one row per active client
    picture: analysis.EightyTwenty
    revenue_totals: dict[str, Decimal]  # by currency, as picture.revenue
    revenue_total: Total | None  # all of it in the reporting currency (crm.money)
    rates_stated: str  # the rates it was converted at
    tickets_total: int
    timezones: pd.DataFrame
    languages: pd.DataFrame
    categories: pd.DataFrame
    flags: pd.DataFrame  # analysis.ranked_flags: the FLAGS_LISTED most severe open flags, ranked
    flags_total: int  # every open flag, listed or not
    # recurring revenue per month as of generated_at (reports.portfolio.recurring)
    mrr_totals: dict[str, Decimal] = field(default_factory=dict)
    mrr_total: Total | None = None

    @property
    def tier_changes(self) -> pd.DataFrame:
        """The clients whose suggested tier is not their tier."""
        return self.clients[self.clients["suggested_tier"] != self.clients["tier"]]

    @property
    def flagged_clients(self) -> int:
        return int((self.clients["flags"] > 0).sum())

    @property
    def meeting_overdue_clients(self) -> int:
        """Active clients overdue for a roadmap meeting (crm.meetings.cadence)."""
        return int(self.clients["meeting_overdue"].sum())

    def slugs(self, client_ids) -> list[str]:
        """The slugs of `client_ids`, in their order."""
        by_id = self.clients.set_index("client_id")["slug"]
        return [by_id[client_id] for client_id in client_ids]


def build_portfolio(
    session: Session, period: Period, now: datetime, settings: FlagSettings | None = None
) -> PortfolioReport:
    """`settings`: the installation's flag settings (TOUCHLINE_BRIEFING_STALE_TICKET_DAYS)
    unless given."""
    settings = settings or FlagSettings.from_config(current_app.config)
    frames = read_frames(session, period, now, settings)
    picture = analysis.eighty_twenty(frames.revenue, frames.tickets)
    rates = current_rates()
    suggestions = tiers.suggest_tiers(frames.clients, frames.revenue, frames.tickets, rates, period)
    table = analysis.client_table(
        frames.clients, frames.revenue, frames.tickets, picture, suggestions, frames.flag_counts
    )
    revenue_totals = {
        code: amount for code, amount in frames.revenue.groupby("currency")["revenue"].sum().items()
    }
    table["reporting_currency"] = rates.reporting
    # As of `now`, like the open flags: the cadence is about today, not the period.
    # Every active client, which are the table's: asked by id, 10,000 ids
    # cost more to send than the query takes.
    overdue = overdue_ids(session, None, now, current_app.config["MEETING_CADENCE"])
    table["meeting_overdue"] = table["client_id"].isin(overdue)
    mrr_totals, mrr_total = attach_mrr(session, table, now, rates)
    return PortfolioReport(
        period=period,
        generated_at=now,
        clients=table,
        picture=picture,
        revenue_totals=revenue_totals,
        revenue_total=total(revenue_totals.items(), rates) if revenue_totals else None,
        rates_stated=rates.stated(),
        tickets_total=int(frames.tickets["tickets"].sum()),
        timezones=analysis.clients_per(frames.clients, frames.tickets, "timezone"),
        languages=analysis.clients_per(frames.clients, frames.tickets, "language"),
        categories=analysis.top_categories(frames.categories),
        flags=analysis.ranked_flags(frames.flags, frames.clients, now).head(FLAGS_LISTED),
        flags_total=int(frames.flag_counts["flags"].sum()),
        mrr_totals=mrr_totals,
        mrr_total=mrr_total,
    )
