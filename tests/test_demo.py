"""The demo portfolio: deterministic files that load into a briefing worth reading."""

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from connectors import registry
from crm.models import Client, Entity, Event, Group, InboxRecord
from crm.vocabulary import GROUP_KINDS, TIERS
from demo.bulk import write_bulk_events
from demo.portfolio import write_portfolio
from reports.inventory import database_stats
from tests.factories import make_client

TODAY = date(2026, 3, 10)
EVENT_SOURCES = {"billing", "rmm", "tickets", "marketing", "sales", "manual"}
DEMO_FILES = [
    "clients.csv",
    "billing.csv",
    "rmm.ndjson",
    "tickets.json",
    "marketing.csv",
    "sales.ndjson",
    "touches.csv",
]


def _records(files) -> dict[str, list[dict]]:
    """Each demo file read back by its own connector's reader."""
    return {
        f.path.name: [
            r.data for r in registry.get(f.connector).parse(f.path.read_bytes(), f.path.name)
        ]
        for f in files
    }


def _load(runner, directory, *extra: str) -> str:
    result = runner.invoke(args=["demo", "load", "--dir", str(directory), *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _counts(session) -> dict:
    stats = database_stats(session)
    return {name: stats[name] for name in ("clients", "events", "entities")}


def test_the_same_seed_and_day_write_the_same_bytes(tmp_path):
    first = write_portfolio(tmp_path / "a", TODAY)
    again = write_portfolio(tmp_path / "b", TODAY)
    other = write_portfolio(tmp_path / "c", TODAY, seed=8)

    assert [f.path.name for f in first] == DEMO_FILES
    assert [f.path.read_bytes() for f in first] == [f.path.read_bytes() for f in again]
    assert first[1].path.read_bytes() != other[1].path.read_bytes()


def test_ids_depend_on_the_seed_only_and_dates_on_the_day(tmp_path):
    one_day = _records(write_portfolio(tmp_path / "a", TODAY))
    next_day = _records(write_portfolio(tmp_path / "b", TODAY + timedelta(days=1)))

    for name, records in one_day.items():
        if name == "clients.csv":
            assert [r["slug"] for r in records] == [r["slug"] for r in next_day[name]]
            continue
        assert sorted(r["id"] for r in records) == sorted(r["id"] for r in next_day[name])
        by_id = {r["id"]: r for r in next_day[name]}
        for record in records[:: max(1, len(records) // 50)]:
            moved = datetime.fromisoformat(by_id[record["id"]]["occurred_at"])
            shift = moved - datetime.fromisoformat(record["occurred_at"])
            # Wall-clock times keep their hour, so a DST change moves the instant.
            assert abs(shift - timedelta(days=1)) <= timedelta(hours=1)


def test_nothing_happens_after_today(tmp_path):
    midnight = datetime.combine(TODAY, datetime.min.time(), UTC)
    for name, records in _records(write_portfolio(tmp_path, TODAY)).items():
        times = [datetime.fromisoformat(r["occurred_at"]) for r in records if "occurred_at" in r]
        assert all(moment < midnight for moment in times), name


def test_bulk_events_are_reproducible_pairs(tmp_path):
    first = write_bulk_events(tmp_path / "a.ndjson", 1001, TODAY)
    again = write_bulk_events(tmp_path / "b.ndjson", 1001, TODAY)
    lines = first.path.read_text().splitlines()

    assert first.path.read_bytes() == again.path.read_bytes()
    assert len(lines) == 1001
    records = [json.loads(line) for line in lines]
    assert len({r["id"] for r in records}) == 1001
    assert Counter(r["kind"] for r in records) == {"alert.raised": 501, "alert.resolved": 500}
    assert records[0]["thread"] == records[1]["thread"]


def test_load_builds_a_portfolio_worth_a_briefing(runner, session, tmp_path):
    output = _load(runner, tmp_path)
    now = datetime.now(UTC)

    assert "clients.csv" in output and "3 unmatched" in output
    stats = database_stats(session)
    assert stats["clients"]["total"] >= 40
    assert all(stats["clients"]["by_tier"][tier] > 0 for tier in TIERS)
    assert session.scalar(select(func.count(func.distinct(Client.timezone)))) == 5
    assert session.scalar(select(func.count(func.distinct(Client.language)))) >= 3
    kinds = set(session.scalars(select(Group.kind)))
    assert kinds == set(GROUP_KINDS) - {"custom"}
    assert set(stats["events"]["by_source"]) == EVENT_SOURCES
    assert stats["inbox"] == {"unmatched": 3}
    inbox = session.scalars(select(InboxRecord.connector)).all()
    assert inbox == ["marketing"] * 3

    open_entities = select(Entity).where(Entity.closed_at.is_(None))
    disputes = session.scalars(open_entities.where(Entity.type == "dispute")).all()
    assert len(disputes) == 2
    assert {d.status for d in disputes} == {"needs_response"}
    invoices = session.scalars(open_entities.where(Entity.type == "invoice")).all()
    assert any(invoice.due_at < now for invoice in invoices)

    tickets = session.scalars(select(Entity).where(Entity.type == "ticket")).all()
    assert any(t.is_open and t.opened_at < now - timedelta(days=30) for t in tickets)
    assert any(t.sla_due_at < (t.closed_at or now) for t in tickets)
    assert any(
        t.category == "install" and t.closed_at and t.closed_at > now - timedelta(days=14)
        for t in tickets
    )
    renewals = session.scalars(select(Entity).where(Entity.type == "renewal")).all()
    assert any(now < r.due_at < now + timedelta(days=90) for r in renewals)
    assert {"won", "lost"} <= set(stats["entities"]["deal"])
    commitments = session.scalars(select(Entity).where(Entity.type == "commitment")).all()
    assert any(c.is_open and c.due_at < now for c in commitments), "an overdue promise"
    assert any(c.status == "done" for c in commitments)
    assert stats["events"]["by_kind"]["manual"]["meeting"] > 0

    raised = session.scalars(
        select(Event.attributes).where(
            Event.kind == "alert.raised", Event.occurred_at > now - timedelta(days=30)
        )
    )
    repeats = Counter((a["instance"], a["alertname"]) for a in raised)
    assert max(repeats.values()) >= 3


def test_loading_twice_changes_nothing(runner, session, tmp_path):
    _load(runner, tmp_path, "--events", "101")
    once = _counts(session)
    output = _load(runner, tmp_path, "--events", "101")

    assert _counts(session) == once
    assert len(output.splitlines()) == len(DEMO_FILES) + 1  # and bulk.ndjson
    assert all("records: 0 accepted" in line for line in output.splitlines())
    bulk = select(func.count()).select_from(Event).where(Event.external_id.like("bulk-%"))
    assert session.scalar(bulk) == 101


def test_if_empty_leaves_a_database_with_clients_alone(runner, session, tmp_path):
    make_client("acme-dental")

    output = _load(runner, tmp_path, "--if-empty")

    assert "not loaded" in output
    assert list(tmp_path.iterdir()) == []
    assert session.scalar(select(func.count()).select_from(Client)) == 1
