"""The sendgrid connector, against the Event Webhook samples SendGrid documents."""

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from crm.models import Entity, Event, InboxRecord
from tests.factories import make_client
from tests.helpers import inbox_by_locator, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
ALL_TYPES = VENDORS / "sendgrid_event_webhook_all_event_types.json"
BOUNCE = VENDORS / "sendgrid_event_webhook_bounce_with_type.json"
SENT_AT = datetime(2017, 12, 15, 0, 59, 29, tzinfo=UTC)  # 1513299569


def ingest(runner, path) -> dict:
    return ingest_file(runner, "sendgrid", path)


def counts(summary: dict) -> tuple:
    return tuple(
        summary[name] for name in ("accepted", "duplicate", "skipped", "rejected", "unmatched")
    )


def timeline(session) -> list[tuple]:
    return session.execute(
        select(
            Event.external_id,
            Event.client_id,
            Event.kind,
            Event.occurred_at,
            Event.title,
            Event.thread_type,
            Event.thread_key,
            Event.url,
        ).order_by(Event.external_id)
    ).all()


def write(path: Path, events: list[dict]) -> Path:
    path.write_text(json.dumps(events))
    return path


def sample() -> list[dict]:
    return json.loads(ALL_TYPES.read_text())


def test_every_documented_event_type_is_mapped_or_skipped_by_name(runner, session):
    acme = make_client("acme", emails=["example@test.com"])
    assert counts(ingest(runner, ALL_TYPES)) == (8, 0, 3, 0, 0)

    kinds = {row.external_id: row.kind for row in timeline(session)}
    assert kinds == {
        "sg_event_id:delivered": "email.delivered",
        "sg_event_id:open": "email.opened",
        "sg_event_id:click": "email.clicked",
        "sg_event_id:bounce": "email.bounced",
        "sg_event_id:dropped": "email.bounced",
        "sg_event_id:spamreport": "email.spam_reported",
        "sg_event_id:unsubscribe": "email.unsubscribed",
        "sg_event_id:group_unsubscribe": "email.unsubscribed",
    }
    for row in timeline(session):
        assert row.client_id == acme.id
        assert row.occurred_at.replace(tzinfo=UTC) == SENT_AT
        assert (row.thread_type, row.thread_key) == ("campaign", "category:cat facts")
    skipped = {row.locator: row.reason for row in inbox_by_locator(session).values()}
    assert set(skipped) == {"index 0", "index 1", "index 10"}
    assert "'processed' is not mapped" in skipped["index 0"]
    assert "'deferred' is not mapped" in skipped["index 1"]
    assert "'group_resubscribe' is not mapped" in skipped["index 10"]
    # Marketing threads are not entities: nothing to fold.
    assert session.scalar(select(func.count()).select_from(Entity)) == 0


def test_titles_links_and_attributes(runner, session):
    make_client("acme", emails=["example@test.com"])
    ingest(runner, ALL_TYPES)
    events = {e.external_id: e for e in session.scalars(select(Event))}

    opened = events["sg_event_id:open"]
    assert opened.title == "Email opened: cat facts"
    assert opened.actor == "example@test.com"
    assert opened.source == "marketing" and opened.origin == "sendgrid"
    click = events["sg_event_id:click"]
    assert click.url == "http://www.sendgrid.com/"
    assert click.attributes["url"] == "http://www.sendgrid.com/"
    dropped = events["sg_event_id:dropped"]
    assert dropped.title == "Email dropped: cat facts"
    assert dropped.attributes["sendgrid_event"] == "dropped"
    assert dropped.attributes["reason"] == "Bounced Address"
    assert dropped.attributes["smtp_status"] == "5.0.0"
    assert "status" not in dropped.attributes  # would read as the thread's state
    assert events["sg_event_id:bounce"].attributes["sendgrid_event"] == "bounce"
    assert events["sg_event_id:group_unsubscribe"].attributes["asm_group_id"] == 10


def test_bounce_with_its_type(runner, session):
    make_client("acme", emails=["example@test.com"])
    assert counts(ingest(runner, BOUNCE)) == (1, 0, 0, 0, 0)
    bounce = session.scalars(select(Event)).one()
    assert bounce.external_id == "6g4ZI7SA-xmRDv57GoPIPw==:bounce"
    assert bounce.kind == "email.bounced"
    assert bounce.detail == "example@test.com: 500 unknown recipient"
    assert bounce.attributes["bounce_type"] == "bounce"
    assert bounce.attributes["reason"] == "500 unknown recipient"
    assert bounce.attributes["sg_message_id"].startswith("14c5d75ce93")


def test_twice_and_in_reverse_give_the_same_timeline(runner, session, tmp_path):
    make_client("acme", emails=["example@test.com"])
    ingest(runner, ALL_TYPES)
    rows = timeline(session)
    assert counts(ingest(runner, ALL_TYPES)) == (0, 8, 3, 0, 0)
    assert timeline(session) == rows

    session.execute(Event.__table__.delete())
    session.commit()
    reverse = write(tmp_path / "reverse.json", sample()[::-1])
    assert counts(ingest(runner, reverse)) == (8, 0, 3, 0, 0)
    assert timeline(session) == rows


def test_unmatched_until_the_domain_is_mapped_then_replayed(runner, session):
    acme = make_client("acme")
    assert counts(ingest(runner, BOUNCE)) == (0, 0, 0, 0, 1)
    waiting = next(iter(inbox_by_locator(session).values()))
    assert waiting.status == "unmatched"
    assert {(h.system, h.key) for h in waiting.hints} == {
        ("email", "example@test.com"),
        ("domain", "test.com"),
    }
    # Received again while waiting: one record waits, not two.
    assert counts(ingest(runner, BOUNCE)) == (0, 1, 0, 0, 0)

    result = runner.invoke(args=["identities", "map", "domain", "test.com", "acme"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.scalars(select(Event.client_id)).all() == [acme.id]
    assert session.get(InboxRecord, waiting.id).status == "replayed"


def test_campaign_identifiers_pick_the_most_specific(runner, session, tmp_path):
    make_client("acme", emails=["ana@acme.example"])
    base = {"email": "Ana@Acme.example", "timestamp": 1700000000, "event": "open"}
    events = [
        base | {"sg_event_id": "a", "category": ["newsletter", "nov"]},
        base | {"sg_event_id": "b", "category": "x", "marketing_campaign_id": 42},
        base
        | {
            "sg_event_id": "c",
            "marketing_campaign_id": 42,
            "singlesend_id": "ss-9",
            "singlesend_name": "November news",
        },
        base | {"sg_event_id": "d"},
    ]
    assert counts(ingest(runner, write(tmp_path / "e.json", events))) == (4, 0, 0, 0, 0)
    rows = {row.external_id: row for row in timeline(session)}
    assert rows["a:open"].thread_key == "category:newsletter, nov"
    assert rows["b:open"].thread_key == "campaign:42"
    assert rows["c:open"].thread_key == "singlesend:ss-9"
    assert rows["c:open"].title == "Email opened: November news"
    assert rows["d:open"].thread_key is None
    assert rows["d:open"].title == "Email opened: Ana@Acme.example"


def test_unknown_events_are_skipped_and_bad_ones_rejected_by_field(runner, session, tmp_path):
    make_client("acme", emails=["a@acme.example"])
    good = {"email": "a@acme.example", "timestamp": 1700000000, "event": "open"}
    events = [
        good | {"sg_event_id": "1", "event": "machine_opened"},
        {k: v for k, v in good.items() if k != "email"} | {"sg_event_id": "2"},
        good,
        good | {"sg_event_id": "4", "timestamp": "yesterday"},
        good | {"sg_event_id": "5"},
    ]
    summary = ingest(runner, write(tmp_path / "edge.json", events))
    assert counts(summary) == (1, 0, 1, 3, 0)
    rows = inbox_by_locator(session)
    assert "'machine_opened' is not mapped" in rows["index 0"].reason
    assert (rows["index 1"].status, rows["index 1"].field) == ("rejected", "email")
    assert (rows["index 2"].status, rows["index 2"].field) == ("rejected", "sg_event_id")
    assert (rows["index 3"].status, rows["index 3"].field) == ("rejected", "timestamp")
