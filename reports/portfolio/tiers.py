"""Suggested tiers, calibrated on the portfolio's own distribution.

A fixed rule ("in the revenue circle") moves most of a flat portfolio at
once: when forty clients make 80% of the revenue, forty become "key", and a
suggestion that moves everyone is no suggestion. So the cut-offs come from
the portfolio itself, and each suggestion says the figure and the cut-off.

First rule that applies:
1. new: a customer for under NEW_CUSTOMER_DAYS at the end of the period
   (before that, neither its revenue nor its tickets say much yet);
2. key: revenue in the period, in the reporting currency (crm.money), in the
   top TOP_SHARE of active clients: at least the revenue of the client at
   that rank (the cut-off);
3. problem: tickets opened in the period in the top TOP_SHARE, the same way;
4. a key client whose revenue is nothing or below the median client's, or a
   problem client whose tickets are, is standard again; a "new" client
   customer for NEW_CUSTOMER_DAYS or more is standard;
5. anything else keeps its tier: no figure asks for a change.

Revenue in a currency without an exchange rate cannot be ranked against the
rest: it is left out of the client's figure, and its reason says so.
"""

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pandas as pd

from crm.formatting import money
from crm.money import Rates, total
from reports.portfolio.period import Period

TOP_SHARE = Fraction(1, 10)
NEW_CUSTOMER_DAYS = 90


@dataclass(frozen=True)
class Cutoffs:
    """The figures a client must reach to be in the top share, and the medians."""

    revenue: Decimal | None  # None: no client has revenue
    tickets: int | None
    revenue_median: Decimal  # of every active client, zero included
    tickets_median: float


def converted_revenue(revenue: pd.DataFrame, rates: Rates) -> pd.DataFrame:
    """Per client of the revenue frame (client_id, currency, revenue): `revenue_total`,
    its revenue in the reporting currency, and `revenue_unconverted`, what had no
    rate ("JPY 5,000.00"), empty when none."""
    # plain dicts: a pandas group per client costs a millisecond each at 5,000 clients
    by_client: dict[int, list] = defaultdict(list)
    for client_id, currency, amount in zip(
        revenue["client_id"].tolist(),
        revenue["currency"].tolist(),
        revenue["revenue"].tolist(),
        strict=True,
    ):
        by_client[int(client_id)].append((currency, amount))
    rows = []
    for client_id in sorted(by_client):
        summed = total(by_client[client_id], rates)
        left_out = ", ".join(money(amount, code) for code, amount in summed.unconverted.items())
        rows.append((client_id, summed.amount, left_out))
    return pd.DataFrame(rows, columns=["client_id", "revenue_total", "revenue_unconverted"])


def top_cutoff(values: list, share: Fraction = TOP_SHARE, population: int | None = None):
    """The value a client must reach to be in the top `share` of `population`
    clients (default: as many as values; the share rounded up, at least one);
    only positive values rank. Clients tied across the boundary are all left
    out, so never more than the share are reached: when every client had one
    ticket, none is "the top 10%". None when nothing qualifies."""
    population = len(values) if population is None else population
    positive = sorted((value for value in values if value > 0), reverse=True)
    rank = max(1, math.ceil(population * share.numerator / share.denominator))
    if len(positive) <= rank:
        return positive[-1] if positive else None
    boundary = positive[rank - 1]
    if positive[rank] != boundary:
        return boundary
    above = [value for value in positive if value > boundary]
    return above[-1] if above else None


def cutoffs(revenue: list[Decimal], tickets: list[int]) -> Cutoffs:
    """From one figure per active client (zero for those with none)."""
    return Cutoffs(
        revenue=top_cutoff(revenue),
        tickets=top_cutoff(tickets),
        revenue_median=statistics.median(revenue) if revenue else Decimal(0),
        tickets_median=float(statistics.median(tickets)) if tickets else 0.0,
    )


def period_words(period: Period) -> str:
    if period.days in (365, 366):
        return "in the last 12 months"
    return f"from {period.start:%d %b %Y} to {period.end:%d %b %Y}"


def suggest_tiers(
    clients: pd.DataFrame,
    revenue: pd.DataFrame,
    tickets: pd.DataFrame,
    rates: Rates,
    period: Period,
) -> pd.DataFrame:
    """One row per client: client_id, tier, suggested_tier, reason, and its
    revenue_total / revenue_unconverted (converted_revenue)."""
    ids = [int(client_id) for client_id in clients["client_id"].tolist()]
    converted = converted_revenue(revenue, rates)
    # dicts, not Series lookups: thousands of clients each look up once
    converted_ids = converted["client_id"].tolist()
    by_id = dict(zip(converted_ids, converted["revenue_total"].tolist(), strict=True))
    apart = dict(zip(converted_ids, converted["revenue_unconverted"].tolist(), strict=True))
    amounts = [by_id.get(i, Decimal(0)) for i in ids]
    left_out = [apart.get(i, "") for i in ids]
    ticket_counts = dict(
        zip(tickets["client_id"].tolist(), tickets["tickets"].tolist(), strict=True)
    )
    counts = [int(ticket_counts.get(i, 0)) for i in ids]
    cut = cutoffs(amounts, counts)
    words = period_words(period)
    top = f"top {int(TOP_SHARE * 100)}% of clients"

    def paid(amount) -> str:
        return money(amount, rates.reporting)

    rows = []
    for client_id, tier, since, amount, unconverted, count in zip(
        ids,
        clients["tier"].tolist(),
        clients["customer_since"].tolist(),
        amounts,
        left_out,
        counts,
        strict=True,
    ):
        days = (period.end - since).days if isinstance(since, date) else None
        revenue_text = f"revenue {paid(amount)} {words}" + (
            f" (not counting {unconverted}: no exchange rate)" if unconverted else ""
        )
        tickets_text = f"{count} ticket{'' if count == 1 else 's'} opened {words}"
        if days is not None and days < NEW_CUSTOMER_DAYS:
            suggested, reason = "new", f"a customer for {days} days (new under {NEW_CUSTOMER_DAYS})"
        elif cut.revenue is not None and amount >= cut.revenue:
            suggested, reason = "key", f"{revenue_text}, {top} (cut-off {paid(cut.revenue)})"
        elif cut.tickets is not None and count >= cut.tickets:
            suggested, reason = "problem", f"{tickets_text}, {top} (cut-off {cut.tickets})"
        elif tier == "key" and (amount <= 0 or amount < cut.revenue_median):
            suggested = "standard"
            reason = f"{revenue_text}, below the median client (median {paid(cut.revenue_median)})"
        elif tier == "problem" and (count == 0 or count < cut.tickets_median):
            suggested = "standard"
            reason = f"{tickets_text}, below the median client (median {cut.tickets_median:g})"
        elif tier == "new" and days is not None:
            suggested, reason = "standard", f"a customer for {days} days, no longer new"
        else:
            suggested, reason = (
                tier,
                f"no figure asks for a change ({revenue_text}; {tickets_text})",
            )
        rows.append((client_id, tier, suggested, reason, amount, unconverted))
    return pd.DataFrame(
        rows,
        columns=[
            "client_id",
            "tier",
            "suggested_tier",
            "reason",
            "revenue_total",
            "revenue_unconverted",
        ],
    )
