"""Search's newest-first answer for events, whatever stretch of ids they are
in: PostgreSQL looks at the newest stretch of 65,536 ids, then the eight
before it, then the rest (crm.search.engines); SQLite reads FTS5 by rowid.
Both give the newest matches first and miss none."""

from crm.extensions import db
from crm.search.operations import search
from tests.factories import make_client, stored_event

# One in the newest stretch's neighbour, two in the newest, one in each of
# the eight before it and in the rest.
IDS = (5, 70_000, 140_000, 600_000, 700_000, 700_002)


def found(typed: str, limit: int = 10) -> list[str]:
    return [hit.title for hit in search(db.session, typed, ["event"], limit).hits]


def test_events_come_newest_first_across_stretches_of_ids(runner):
    client = make_client("kestrel-labs", name="Kestrel Labs")
    db.session.commit()
    for event_id in IDS:  # in order: SQLite indexes the ids past the last indexed
        stored_event(client, "note", title=f"Printer jam {event_id}", id=event_id)
        stored_event(client, "note", title=f"Scanner fine {event_id}", id=event_id + 1)
    db.session.commit()
    newest_first = [f"Printer jam {event_id}" for event_id in reversed(IDS)]
    assert found("printer") == newest_first
    assert found("printer jam", limit=3) == newest_first[:3]
    assert found("jam 5") == ["Printer jam 5"]  # only in the oldest stretch
    assert found("scanner printer") == []


def test_a_whole_word_is_looked_for_before_words_it_starts(runner, monkeypatch):
    """With enough events holding the word whole, newer ones that only start
    with it ("Backups") are not fetched; with too few, they are."""
    from crm.search import operations

    monkeypatch.setattr(operations, "CANDIDATES", 2)
    client = make_client("kestrel-labs", name="Kestrel Labs")
    db.session.commit()
    for title in ("Backup failed", "Backup slow", "Backups paused"):
        stored_event(client, "note", title=title)
    db.session.commit()
    assert found("backup") == ["Backup slow", "Backup failed"]
    assert found("backups") == ["Backups paused"]
    assert found("back") == ["Backups paused", "Backup slow"]
