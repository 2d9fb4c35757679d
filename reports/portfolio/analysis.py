"""What the portfolio's figures say: pure functions on the frames of
reports.portfolio.frames, so each can be checked on a small hand-built frame.

**The 80/20 picture.** A circle is the smallest set of clients that together
make 80% of a total: clients are taken biggest first until they reach 80%
(reaching it exactly counts). Where clients tie at the boundary the smaller
client id (the older record) goes first, so the circle is the same on every
run. Clients with nothing (or, after refunds, less than nothing) are never in
a circle. Money is never converted between currencies, so each currency has
its own revenue circle, and "the revenue circle" is their union: a client
that makes much of the yen revenue counts as much as one that makes much of
the euro revenue.

Suggested tiers are reports.portfolio.tiers': calibrated on the portfolio, in
the reporting currency, not on these circles (which would move most of a flat
portfolio at once).
"""

from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

import numpy as np
import pandas as pd

from crm import flags as rules
from crm.formatting import whole_days
from reports.portfolio.flag_frames import FLAG_COLUMNS

PARETO_SHARE = Fraction(4, 5)
TOP_CATEGORIES = 10
UNCATEGORISED = "uncategorised"
UNKNOWN = "unknown"
FLAG_LABELS = rules.LABELS


@dataclass(frozen=True)
class Circle:
    """The clients that make PARETO_SHARE of a total, biggest first."""

    members: tuple[int, ...]
    total: object  # int tickets or Decimal money: whatever the values were
    covered: object  # what the members make together
    contributors: int  # clients with anything at all
    # The members as a set: asked of every client, a tuple would cost a scan each.
    member_set: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "member_set", frozenset(self.members))

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def covered_share(self) -> float:
        return float(self.covered / self.total) if self.total else 0.0

    @property
    def client_share(self) -> float:
        """The members as a share of the clients that contributed."""
        return self.size / self.contributors if self.contributors else 0.0


def pareto_circle(values: pd.Series, share: Fraction = PARETO_SHARE) -> Circle:
    """The smallest set of labels of `values` (client id -> amount) whose
    amounts reach `share` of the total of the positive ones."""
    positive = values[values > 0]
    if positive.empty:
        return Circle(members=(), total=0, covered=0, contributors=0)
    ordered = (
        pd.DataFrame({"client_id": positive.index, "value": positive.to_numpy()})
        .sort_values(["value", "client_id"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )
    total = ordered["value"].sum()
    cumulative = ordered["value"].cumsum()
    # Compared as integers over the fraction, so 80% is exact for money too.
    reached = (cumulative * share.denominator >= total * share.numerator).to_numpy(dtype=bool)
    size = int(np.argmax(reached)) + 1
    return Circle(
        members=tuple(int(client) for client in ordered["client_id"][:size]),
        total=total,
        covered=cumulative[size - 1],
        contributors=len(ordered),
    )


@dataclass(frozen=True)
class EightyTwenty:
    """The revenue circle of each currency, the ticket circle, and how they meet."""

    revenue: dict[str, Circle]  # by currency, alphabetically
    tickets: Circle
    revenue_members: frozenset[int] = field(init=False)

    def __post_init__(self):
        members = frozenset().union(*(circle.members for circle in self.revenue.values()))
        object.__setattr__(self, "revenue_members", members)

    @property
    def ticket_members(self) -> frozenset[int]:
        return self.tickets.member_set

    @property
    def both(self) -> frozenset[int]:
        return self.revenue_members & self.ticket_members

    @property
    def revenue_only(self) -> frozenset[int]:
        return self.revenue_members - self.ticket_members

    @property
    def tickets_only(self) -> frozenset[int]:
        return self.ticket_members - self.revenue_members

    def currencies_of(self, client_id: int) -> list[str]:
        """The currencies in whose revenue circle the client is."""
        return [code for code, circle in self.revenue.items() if client_id in circle.member_set]


def eighty_twenty(revenue: pd.DataFrame, tickets: pd.DataFrame) -> EightyTwenty:
    """From the revenue frame (client_id, currency, revenue) and the tickets
    frame (client_id, tickets)."""
    circles = {
        currency: pareto_circle(rows.set_index("client_id")["revenue"])
        for currency, rows in sorted(revenue.groupby("currency"), key=lambda item: item[0])
    }
    return EightyTwenty(
        revenue=circles, tickets=pareto_circle(tickets.set_index("client_id")["tickets"])
    )


def clients_per(clients: pd.DataFrame, tickets: pd.DataFrame, column: str) -> pd.DataFrame:
    """Clients and their tickets in the period per value of `column`
    ("timezone", "language"), most clients first; a missing value is "unknown"."""
    ticket_counts = tickets.set_index("client_id")["tickets"]
    table = pd.DataFrame(
        {
            column: clients[column].fillna(UNKNOWN).to_numpy(),
            "tickets": clients["client_id"].map(ticket_counts).fillna(0).astype(int).to_numpy(),
        }
    )
    grouped = table.groupby(column, as_index=False).agg(
        clients=(column, "size"), tickets=("tickets", "sum")
    )
    return grouped.sort_values(
        ["clients", "tickets", column], ascending=[False, False, True], kind="stable"
    ).reset_index(drop=True)


def top_categories(categories: pd.DataFrame, limit: int = TOP_CATEGORIES) -> pd.DataFrame:
    """The ticket categories with most tickets, each with its share of all
    tickets in the period; tickets without one are "uncategorised"."""
    table = categories.assign(category=categories["category"].fillna(UNCATEGORISED))
    # Two spellings of no category ("" and NULL) become one row.
    table = table.groupby("category", as_index=False)[["tickets", "clients", "missed_sla"]].sum()
    total = table["tickets"].sum()
    table["share"] = table["tickets"] / total if total else 0.0
    ordered = table.sort_values(["tickets", "category"], ascending=[False, True], kind="stable")
    return ordered.head(limit).reset_index(drop=True)


def ranked_flags(flags: pd.DataFrame, clients: pd.DataFrame, now: datetime) -> pd.DataFrame:
    """The flags (reports.portfolio.flag_frames reads the most severe few),
    ranked as crm.flags ranks them: most severe first, then the
    longest waiting (`since`: when a dispute, alert or ticket opened, an
    invoice or promise fell due, a payment last failed, a recurrence began),
    then in the order of its flags.

    Adds `days` (whole days since then, crm.formatting.whole_days), the
    client's slug, name, tier and account manager, and `owner` (the thread's
    assignee, else the account manager).
    """
    added = ("days", "slug", "name", "tier", "account_manager", "owner")
    if flags.empty:
        return flags.assign(**{column: [] for column in added})
    table = flags.copy()
    order = [
        rules.rank_of(kind, severity, since)
        for kind, severity, since in zip(
            table["flag"], table["severity"], table["since"], strict=True
        )
    ]
    table["days"] = [whole_days(since, now) for since in table["since"]]
    for column in ("opened_at", "due_at", "sla_due_at", "last_event_at", "since"):
        table[column] = pd.to_datetime(table[column], utc=True)
    table["rank"] = order
    who = clients[["client_id", "slug", "name", "tier", "account_manager"]]
    table = table.merge(who, on="client_id", how="left")
    # Whoever works the thread; a bill or a dispute is the account manager's.
    table["owner"] = table["assignee"].fillna(table["account_manager"])
    table["key"] = table["key"].fillna("")
    table = table.sort_values(["rank", "slug", "key"], kind="stable")
    return table.drop(columns="rank").reset_index(drop=True)


def client_table(
    clients: pd.DataFrame,
    revenue: pd.DataFrame,
    tickets: pd.DataFrame,
    picture: EightyTwenty,
    suggestions: pd.DataFrame,
    flag_counts: pd.DataFrame,
) -> pd.DataFrame:
    """One row per client with its figures: revenue in each currency
    (`revenue_EUR`, ...; empty where it paid nothing in that currency), all of
    it in the reporting currency (`revenue_total`, `revenue_unconverted`: from
    the suggestions, reports.portfolio.tiers), tickets, whether it is in each
    circle, tier and suggested tier, and its open flags (`flag_counts`: per
    client with flags, FLAG_COLUMNS and `flags`, as reports.portfolio.flag_frames
    counts them). Alphabetical by name."""
    table = clients.merge(suggestions.drop(columns="tier"), on="client_id", how="left")
    # the revenue frame has one row per client and currency
    by_currency = revenue.pivot(index="client_id", columns="currency", values="revenue")
    for currency in sorted(by_currency.columns):
        table[f"revenue_{currency}"] = table["client_id"].map(by_currency[currency])
    ticket_counts = tickets.set_index("client_id")["tickets"]
    table["tickets"] = table["client_id"].map(ticket_counts).fillna(0).astype(int)
    table["in_revenue_circle"] = table["client_id"].isin(picture.revenue_members)
    table["in_ticket_circle"] = table["client_id"].isin(picture.ticket_members)
    for column in (*FLAG_COLUMNS, "flags"):
        table[column] = table["client_id"].map(flag_counts[column]).fillna(0).astype(int)
    table["sort_name"] = table["name"].str.lower()
    ordered = table.sort_values(["sort_name", "client_id"], kind="stable")
    return ordered.drop(columns="sort_name").reset_index(drop=True)
