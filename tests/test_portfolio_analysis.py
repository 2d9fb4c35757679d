"""The portfolio's analysis on small hand-built frames, numbers checked by hand."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from crm.money import Rates
from reports.portfolio.analysis import (
    client_table,
    clients_per,
    eighty_twenty,
    pareto_circle,
    ranked_flags,
    top_categories,
)
from reports.portfolio.flag_frames import FLAG_COLUMNS, FLAG_THREAD_COLUMNS, RAISED_COLUMNS
from reports.portfolio.frames import (
    CATEGORY_COLUMNS,
    CLIENT_COLUMNS,
    REVENUE_COLUMNS,
    TICKET_COLUMNS,
)
from reports.portfolio.period import Period
from reports.portfolio.tiers import suggest_tiers

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)
AS_OF = date(2026, 9, 30)
PERIOD = Period(date(2025, 10, 1), AS_OF)


def revenue_of(amounts: dict[int, int | str]) -> pd.Series:
    return pd.Series({client: Decimal(str(amount)) for client, amount in amounts.items()})


def clients(*rows) -> pd.DataFrame:
    """(client_id, slug, tier, customer_since[, timezone, language, manager]) rows."""
    full = []
    for row in rows:
        client_id, slug, tier, since, *rest = row
        timezone, language, manager = (rest + ["UTC", "en", None][len(rest) :])[:3]
        full.append((client_id, slug, slug.title(), tier, since, timezone, language, manager))
    return pd.DataFrame(full, columns=list(CLIENT_COLUMNS))


def revenue_frame(*rows) -> pd.DataFrame:
    return pd.DataFrame(
        [(c, cur, Decimal(str(amount))) for c, cur, amount in rows], columns=list(REVENUE_COLUMNS)
    )


def tickets_frame(counts: dict[int, int]) -> pd.DataFrame:
    return pd.DataFrame(list(counts.items()), columns=list(TICKET_COLUMNS))


# --- the 80/20 circle ------------------------------------------------------------


def test_ten_clients_the_five_biggest_make_80_percent():
    # 30 + 20 + 15 + 10 = 75 < 80; with the 8 of client 5 it is 83.
    amounts = {1: 30, 2: 20, 3: 15, 4: 10, 5: 8, 6: 6, 7: 5, 8: 3, 9: 2, 10: 1}
    circle = pareto_circle(revenue_of(amounts))
    assert circle.members == (1, 2, 3, 4, 5)
    assert circle.total == Decimal(100) and circle.covered == Decimal(83)
    assert circle.contributors == 10
    assert circle.client_share == pytest.approx(0.5)
    assert circle.covered_share == pytest.approx(0.83)


def test_order_of_the_input_does_not_matter_biggest_go_first():
    amounts = {7: 5, 3: 15, 10: 1, 1: 30, 9: 2, 5: 8, 2: 20, 8: 3, 4: 10, 6: 6}
    assert pareto_circle(revenue_of(amounts)).members == (1, 2, 3, 4, 5)


def test_reaching_exactly_80_percent_is_enough():
    circle = pareto_circle(revenue_of({1: 50, 2: 30, 3: 20}))
    assert circle.members == (1, 2)
    assert circle.covered == Decimal(80)


def test_money_is_compared_exactly():
    # Ten clients of 0.10 each: eight make exactly 0.80 of 1.00. In floats
    # 0.1 * 8 is 0.7999999999999999 and a ninth client would be taken.
    circle = pareto_circle(revenue_of(dict.fromkeys(range(1, 11), "0.10")))
    assert circle.size == 8
    assert circle.covered == Decimal("0.80")


def test_a_tie_at_the_boundary_takes_the_smaller_client_id():
    # 40, then one of the three 20s makes 60 and another makes 80: 2, 7 and 9 tie.
    circle = pareto_circle(revenue_of({9: 20, 4: 40, 7: 20, 2: 20}))
    assert circle.members == (4, 2, 7)


def test_clients_with_nothing_or_less_are_never_in_a_circle():
    circle = pareto_circle(revenue_of({1: 100, 2: 0, 3: -40}))
    assert circle.members == (1,)
    assert circle.contributors == 1
    empty = pareto_circle(revenue_of({1: 0, 2: -5}))
    assert empty.members == () and empty.total == 0 and empty.covered_share == 0.0


def test_one_client_alone_is_the_whole_circle():
    assert pareto_circle(pd.Series({42: 3})).members == (42,)


def test_each_currency_has_its_own_circle_and_the_circles_meet_tickets():
    revenue = revenue_frame(
        (1, "EUR", 900),
        (2, "EUR", 50),
        (3, "EUR", 50),
        (4, "JPY", 100_000),  # the whole yen revenue: in, though small in euros
        (2, "JPY", 10),
    )
    # 40 + 30 = 70, + 15 = 85: clients 2, 3 and 5 make the ticket circle.
    tickets = tickets_frame({2: 40, 3: 30, 5: 15, 1: 10, 4: 5})
    picture = eighty_twenty(revenue, tickets)
    assert list(picture.revenue) == ["EUR", "JPY"]
    assert picture.revenue["EUR"].members == (1,)
    assert picture.revenue["JPY"].members == (4,)
    assert picture.revenue_members == {1, 4}
    assert picture.tickets.members == (2, 3, 5)
    assert picture.both == set()
    assert picture.revenue_only == {1, 4}
    assert picture.tickets_only == {2, 3, 5}
    assert picture.currencies_of(4) == ["JPY"]


def test_overlap_of_the_circles():
    revenue = revenue_frame((1, "EUR", 60), (2, "EUR", 30), (3, "EUR", 10))
    tickets = tickets_frame({2: 50, 3: 40, 1: 10})
    picture = eighty_twenty(revenue, tickets)
    assert picture.revenue_members == {1, 2}
    assert picture.ticket_members == {2, 3}
    assert (picture.both, picture.revenue_only, picture.tickets_only) == ({2}, {1}, {3})


def test_no_revenue_and_no_tickets_give_empty_circles():
    picture = eighty_twenty(revenue_frame(), tickets_frame({}))
    assert picture.revenue == {} and picture.tickets.members == ()


# --- staffing and training -------------------------------------------------------


def test_clients_and_tickets_per_time_zone_and_language():
    roster = clients(
        (1, "a", "standard", None, "Europe/Lisbon", "pt"),
        (2, "b", "standard", None, "Europe/Lisbon", "en"),
        (3, "c", "standard", None, "Asia/Tokyo", "ja"),
        (4, "d", "standard", None, "Europe/Lisbon", None),
        (5, "e", "standard", None, "Asia/Tokyo", "en"),
    )
    tickets = tickets_frame({1: 4, 3: 7, 5: 2})
    zones = clients_per(roster, tickets, "timezone")
    assert zones.to_dict("records") == [
        {"timezone": "Europe/Lisbon", "clients": 3, "tickets": 4},
        {"timezone": "Asia/Tokyo", "clients": 2, "tickets": 9},
    ]
    languages = clients_per(roster, tickets, "language")
    assert languages.to_dict("records") == [
        {"language": "en", "clients": 2, "tickets": 2},
        {"language": "ja", "clients": 1, "tickets": 7},
        {"language": "pt", "clients": 1, "tickets": 4},
        {"language": "unknown", "clients": 1, "tickets": 0},
    ]


def test_top_categories_with_their_share():
    categories = pd.DataFrame(
        [
            ("network", 12, 5, 2),
            ("email", 20, 9, 1),
            (None, 3, 2, 0),
            ("access", 5, 4, 5),
        ],
        columns=list(CATEGORY_COLUMNS),
    )
    top = top_categories(categories, limit=3)
    assert top["category"].tolist() == ["email", "network", "access"]
    assert top["share"].tolist() == pytest.approx([0.5, 0.3, 0.125])
    assert top.iloc[2][["clients", "missed_sla"]].tolist() == [4, 5]
    everything = top_categories(categories)
    assert everything["category"].tolist()[-1] == "uncategorised"


# --- open flags ------------------------------------------------------------------


def flag_row(client_id, type_, key, flag, severity, since, labels=None, **fields) -> tuple:
    """A row of the flags frame: a thread and what crm.flags says of it."""
    values = dict.fromkeys(FLAG_THREAD_COLUMNS) | {"client_id": client_id, "type": type_}
    values |= {"key": key, "title": key, "opened_at": NOW - timedelta(days=10)}
    values["last_event_at"] = values["opened_at"]
    values |= fields
    raised = {"flag": flag, "severity": severity, "since": since}
    raised["labels"] = labels or flag.replace("_", " ")
    return tuple(values[name] for name in FLAG_THREAD_COLUMNS) + tuple(
        raised[name] for name in RAISED_COLUMNS
    )


def flags_frame(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(FLAG_THREAD_COLUMNS + RAISED_COLUMNS))


ROSTER = clients(
    (1, "alpha", "key", None, "UTC", "en", "Ana Lima"),
    (2, "beta", "standard", None, "UTC", "en", "Mark Hughes"),
)


def ago(**span) -> datetime:
    return NOW - timedelta(**span)


def test_flags_rank_by_severity_then_by_how_long_they_have_waited():
    flags = flags_frame(
        flag_row(1, "commitment", "CMT-1", "overdue_commitment", "high", ago(days=40)),
        flag_row(2, "ticket", "T-old", "late_ticket", "medium", ago(days=50), assignee="Bob"),
        flag_row(
            2,
            "invoice",
            "in_1",
            "overdue_invoice",
            "high",
            ago(days=20),
            "overdue invoice, failed payment",
            amount=Decimal("120.50"),
            currency="EUR",
        ),
        flag_row(1, "invoice", "in_2", "overdue_invoice", "medium", ago(days=9)),
        flag_row(1, "invoice", "in_3", "overdue_invoice", "medium", ago(days=30, hours=23)),
        flag_row(1, "alert", "a1", "critical_alert", "critical", ago(hours=5)),
        flag_row(2, "dispute", "dp_1", "open_dispute", "critical", ago(days=2)),
        flag_row(1, "alert", None, "recurring_alert", "high", ago(days=20), "recurring alert"),
    )
    ranked = ranked_flags(flags, ROSTER, NOW)
    # critical first, the longest waiting first; at the same moment, in crm.flags' order
    assert ranked["key"].tolist() == ["dp_1", "a1", "CMT-1", "in_1", "", "T-old", "in_3", "in_2"]
    failed = ranked.iloc[3]
    assert failed["labels"] == "overdue invoice, failed payment"
    # whole days, counted down as everywhere
    assert ranked.set_index("key").loc["in_3", "days"] == 30
    assert ranked["slug"].tolist()[:2] == ["beta", "alpha"]
    # A bill's owner is the account manager; a ticket's is who works it.
    assert ranked.set_index("key")["owner"].to_dict() == {
        "dp_1": "Mark Hughes",
        "a1": "Ana Lima",
        "CMT-1": "Ana Lima",
        "in_1": "Mark Hughes",
        "": "Ana Lima",
        "T-old": "Bob",
        "in_3": "Ana Lima",
        "in_2": "Ana Lima",
    }


def test_no_flags_give_an_empty_ranking():
    ranked = ranked_flags(flags_frame(), ROSTER, NOW)
    assert ranked.empty and {"flag", "owner", "since", "days"} <= set(ranked.columns)


def test_client_table_has_one_row_per_client_with_its_figures():
    roster = clients(
        (1, "zeta", "standard", date(2020, 1, 1)),
        (2, "alpha", "new", AS_OF),
        (3, "mid", "key", date(2021, 1, 1)),
    )
    revenue = revenue_frame((1, "EUR", "10.5"), (1, "USD", 7), (3, "EUR", 100))
    tickets = tickets_frame({1: 4})
    # as reports.portfolio.flag_frames counts them: per client with flags
    counts = pd.DataFrame(
        [{"failed_payment": 1, "overdue_invoice": 1, "late_ticket": 1}],
        index=pd.Index([1], name="client_id"),
    ).reindex(columns=list(FLAG_COLUMNS), fill_value=0)
    counts["flags"] = counts.sum(axis=1)
    picture = eighty_twenty(revenue, tickets)
    suggestions = suggest_tiers(roster, revenue, tickets, Rates("USD"), PERIOD)
    table = client_table(roster, revenue, tickets, picture, suggestions, counts).set_index("slug")
    assert table.index.tolist() == ["alpha", "mid", "zeta"]
    assert table.loc["zeta", "revenue_EUR"] == Decimal("10.5")
    assert table.loc["zeta", "revenue_USD"] == Decimal(7)
    assert pd.isna(table.loc["mid", "revenue_USD"])
    assert table["tickets"].to_dict() == {"alpha": 0, "mid": 0, "zeta": 4}
    counts = table.loc["zeta", ["failed_payment", "overdue_invoice", "late_ticket", "flags"]]
    assert counts.tolist() == [1, 1, 1, 3]
    assert table.loc["mid", "flags"] == 0
    assert table["suggested_tier"].to_dict() == {"alpha": "new", "mid": "standard", "zeta": "key"}
    # in USD, without a rate for EUR: only zeta's USD 7 ranks (mid's EUR is named as left out)
    assert table.loc["zeta", "revenue_total"] == Decimal("7.00")
    assert table.loc["mid", "revenue_unconverted"] == "EUR 100.00"
