"""The connectwise connector (ConnectWise PSA), against django-connectwise's
recorded API objects (a current and a 2017 ticket, a company, notes, a time
entry, an agreement) and data built to ConnectWise's documented shapes
(agreements with dates, configurations, a callback): tests/fixtures/vendors/SOURCES.md."""

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from connectors.signatures import (
    CONNECTWISE_HEADER,
    Delivery,
    SignatureError,
    verify_connectwise,
)
from crm import flags
from crm.models import Device, Entity, Event, Identity, InboxRecord
from tests.factories import make_client
from tests.helpers import entity_states, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
COMPANY = VENDORS / "connectwise_djconnectwise_company.json"
TICKET = VENDORS / "connectwise_djconnectwise_service_ticket.json"
TICKET_2017 = VENDORS / "connectwise_djconnectwise_service_ticket_2017.json"
NOTES = VENDORS / "connectwise_djconnectwise_ticket_notes.json"
TIME_ENTRY = VENDORS / "connectwise_djconnectwise_time_entry.json"
AGREEMENT = VENDORS / "connectwise_djconnectwise_agreement.json"
AGREEMENTS = VENDORS / "connectwise_agreements_DOCUMENTED_SHAPE.json"
CONFIGURATIONS = VENDORS / "connectwise_configurations_DOCUMENTED_SHAPE.json"
CALLBACK = VENDORS / "connectwise_callback_ticket_DOCUMENTED_SHAPE.json"
# The callback's signature, computed with openssl (not this code) as
# `openssl dgst -sha256 -mac HMAC -macopt hexkey:<sha256 of the key> -binary | base64`.
SIGNING_KEY = "cw-signing-key-9f2b"
SIGNATURE = "PcfjwCPW4NrmjX4+3nedfnEl85ilCI6YUniAXwo60ls="
ENTERED = datetime(2005, 5, 27, 17, 30, 19, tzinfo=UTC)
UPDATED = datetime(2016, 3, 8, 21, 59, 20, tzinfo=UTC)
COUNTS = ("accepted", "duplicate", "skipped", "rejected", "unmatched")


def load(path: Path):
    return json.loads(path.read_text())


def ingest(runner, tmp_path, document, name="cw.json") -> tuple:
    path = document if isinstance(document, Path) else tmp_path / name
    if not isinstance(document, Path):
        path.write_text(json.dumps(document))
    summary = ingest_file(runner, "connectwise", path)
    return tuple(summary[key] for key in COUNTS)


@pytest.fixture
def acme(session):
    return make_client("acme", identities=[("connectwise", "2")])


def test_the_signature_is_connectwise_scheme():
    body = CALLBACK.read_bytes()
    verify_connectwise(SIGNING_KEY, Delivery(body, {"X-Content-Signature": SIGNATURE}))
    with pytest.raises(SignatureError, match="does not match"):
        verify_connectwise(SIGNING_KEY, Delivery(body + b" ", {CONNECTWISE_HEADER: SIGNATURE}))
    with pytest.raises(SignatureError, match="does not match"):
        verify_connectwise("another key", Delivery(body, {CONNECTWISE_HEADER: SIGNATURE}))
    with pytest.raises(SignatureError, match="missing"):
        verify_connectwise(SIGNING_KEY, Delivery(body, {}))


def test_a_company_registers_its_id_identifier_and_name(runner, session, tmp_path):
    acme = make_client("acme", identities=[("connectwise-identifier", "YourCompany")])
    assert ingest(runner, tmp_path, COMPANY) == (1, 0, 0, 0, 0)
    names = session.scalars(select(Identity).where(Identity.client_id == acme.id)).all()
    assert {(i.system, i.external_key) for i in names} >= {
        ("connectwise", "2"),
        ("connectwise-identifier", "YourCompany"),
        ("connectwise-name", "TestCompany"),
    }
    # Known now by its id, the company's tickets go in.
    assert ingest(runner, tmp_path, TICKET)[0] == 1


def test_a_ticket_opens_at_its_entry_and_stands_at_its_last_update(runner, session, tmp_path, acme):
    assert ingest(runner, tmp_path, TICKET) == (1, 0, 0, 0, 0)
    entity = session.scalars(select(Entity)).one()
    assert (entity.type, entity.key, entity.status) == ("ticket", "69", "open")
    assert (entity.opened_at, entity.closed_at) == (ENTERED, None)
    assert (entity.priority, entity.assignee, entity.category) == ("normal", "User1", "Admin")
    kinds = session.scalars(select(Event.kind).order_by(Event.occurred_at)).all()
    assert kinds == ["ticket.opened", "ticket.updated"]
    latest = session.scalars(select(Event).where(Event.kind == "ticket.updated")).one()
    assert latest.occurred_at == UPDATED
    assert latest.attributes["connectwise_status"] == "New"
    # Open for eleven years: the age is the record's, not the import's.
    raised = flags.flag_of(entity, UPDATED, present=False)
    assert (raised.kind, raised.since) == ("late_ticket", ENTERED)


@pytest.mark.parametrize(
    ("change", "psa_status", "closed_at"),
    [
        (
            {"status": {"id": 9, "name": ">Closed"}, "closedFlag": True,
             "closedDate": "2016-03-01T10:00:00Z"},
            "closed", datetime(2016, 3, 1, 10, tzinfo=UTC),
        ),
        (
            {"status": {"id": 7, "name": "Resolved"}, "dateResolved": "2016-02-01T09:00:00Z"},
            "solved", datetime(2016, 2, 1, 9, tzinfo=UTC),
        ),
    ],
)  # fmt: skip
def test_closed_and_solved_tickets_close_at_their_own_time(
    runner, session, tmp_path, acme, change, psa_status, closed_at
):
    done = load(TICKET) | change
    assert ingest(runner, tmp_path, [done]) == (1, 0, 0, 0, 0)
    entity = session.scalars(select(Entity)).one()
    assert (entity.status, entity.opened_at, entity.closed_at) == ("resolved", ENTERED, closed_at)
    events = session.scalars(select(Event).order_by(Event.occurred_at)).all()
    assert [e.kind for e in events] == ["ticket.opened", "ticket.resolved", "ticket.resolved"]
    assert events[-1].attributes["psa_status"] == psa_status


def test_the_2017_shape_gives_the_same_thread(runner, session, tmp_path):
    make_client("wild-eagle", identities=[("connectwise-identifier", "WildEagleInc")])
    make_client("acme", identities=[("connectwise", "2")])
    assert ingest(runner, tmp_path, TICKET_2017) == (1, 0, 0, 0, 0)
    old = session.scalars(select(Entity)).one()
    assert (old.opened_at, old.status, old.priority) == (ENTERED, "open", "normal")
    # The same ticket in the current shape (`_info.dateEntered`) is the same
    # opening and version: nothing new but its owner.
    assert ingest(runner, tmp_path, TICKET) == (0, 1, 0, 0, 0)


def test_notes_and_time_join_the_ticket_thread_without_reopening_it(
    runner, session, tmp_path, acme
):
    closed = load(TICKET) | {"closedFlag": True, "closedDate": "2016-03-01T10:00:00Z"}
    # Notes name only their ticket: they wait for it, then go in with it.
    assert ingest(runner, tmp_path, NOTES) == (0, 0, 0, 0, 1)
    assert ingest(runner, tmp_path, [closed], "t.json") == (1, 0, 0, 0, 0)
    assert session.scalars(select(InboxRecord.status)).one() == "replayed"
    later_time = load(TIME_ENTRY) | {"timeStart": "2016-03-05T08:00:00Z"}
    assert ingest(runner, tmp_path, [later_time], "time.json") == (1, 0, 0, 0, 0)
    entity = session.scalars(select(Entity)).one()
    assert (entity.status, entity.event_count) == ("resolved", 5)
    noted = session.scalars(select(Event).where(Event.kind == "ticket.noted")).all()
    assert {(e.thread_key, e.client_id) for e in noted} == {("69", acme.id)}
    time = next(e for e in noted if e.external_id == "time-2")
    assert (time.title, time.attributes["hours"]) == ("2 h logged on ticket #69 by User1", "2")


def test_time_on_a_ticket_not_read_waits_instead_of_opening_a_thread(
    runner, session, tmp_path, acme
):
    assert ingest(runner, tmp_path, TIME_ENTRY) == (0, 0, 0, 0, 1)
    assert session.scalars(select(Entity)).all() == []
    assert ingest(runner, tmp_path, TICKET, "t.json") == (1, 0, 0, 0, 0)
    assert session.scalars(select(Entity.event_count)).one() == 3


def test_reingesting_everything_adds_nothing(runner, session, tmp_path, acme):
    files = (COMPANY, TICKET, NOTES, TIME_ENTRY, AGREEMENTS, CONFIGURATIONS)
    first = [ingest(runner, tmp_path, path) for path in files]
    states = entity_states(session)
    devices = session.scalars(select(Device.host)).all()
    again = [ingest(runner, tmp_path, path) for path in files]
    assert [counts[0] for counts in again] == [0] * len(files)
    assert [counts[1] for counts in again] == [c[0] + c[1] for c in first]
    assert entity_states(session) == states
    assert session.scalars(select(Device.host)).all() == devices


def test_agreements_are_recurring_revenue_and_renewals(runner, session, tmp_path, acme):
    assert ingest(runner, tmp_path, AGREEMENTS) == (3, 0, 0, 0, 0)
    started = {
        e.thread_key: e
        for e in session.scalars(select(Event).where(Event.kind == "subscription.created"))
    }
    assert {key: (e.amount, e.currency) for key, e in started.items()} == {
        "41": (Decimal("2500"), "USD"),
        "42": (Decimal("1200"), "USD"),
        "43": (Decimal("10000"), "USD"),
    }
    assert [started[k].attributes["monthly_amount"] for k in ("41", "42", "43")] == [
        "2500.00", "400.00", "833.33"
    ]  # fmt: skip
    renewals = {e.key: e for e in session.scalars(select(Entity).where(Entity.type == "renewal"))}
    gold, block = renewals["agreement-41"], renewals["agreement-43"]
    assert (gold.status, gold.due_at, gold.amount) == (
        "due", datetime(2026, 12, 31, tzinfo=UTC), Decimal("2500")
    )  # fmt: skip
    assert flags.renewal_due(gold, datetime(2026, 12, 5, tzinfo=UTC))
    assert not flags.renewal_due(gold, datetime(2026, 6, 1, tzinfo=UTC))
    assert (block.status, block.closed_at) == ("cancelled", datetime(2025, 9, 15, tzinfo=UTC))
    assert "agreement-42" not in renewals  # no end date: nothing to renew


def test_an_older_agreement_with_only_a_cycle_id_keeps_its_amount(runner, session, tmp_path, acme):
    older = {k: v for k, v in load(AGREEMENTS)[0].items() if k != "billingCycle"}
    assert ingest(runner, tmp_path, [older | {"billCycleId": 1}]) == (1, 0, 0, 0, 0)
    started = session.scalars(select(Event).where(Event.kind == "subscription.created")).one()
    assert started.amount == Decimal("2500") and started.attributes["bill_cycle_id"] == "1"
    assert "monthly_amount" not in started.attributes


def test_an_agreement_read_again_with_a_later_end_is_due_then(runner, session, tmp_path, acme):
    gold = load(AGREEMENTS)[0]
    ingest(runner, tmp_path, [gold])
    renewed = copy.deepcopy(gold)
    renewed["endDate"] = "2027-12-31T00:00:00Z"
    renewed["_info"]["lastUpdated"] = "2026-12-30T09:00:00Z"
    assert ingest(runner, tmp_path, [renewed], "renewed.json") == (1, 0, 0, 0, 0)
    entity = session.scalars(select(Entity).where(Entity.type == "renewal")).one()
    assert entity.due_at == datetime(2027, 12, 31, tzinfo=UTC)


def test_configurations_are_the_clients_devices(runner, session, tmp_path, acme):
    assert ingest(runner, tmp_path, CONFIGURATIONS) == (2, 0, 2, 0, 0)
    devices = session.scalars(select(Device).order_by(Device.host)).all()
    assert [(d.host, d.site, d.device_type, d.serial_number, d.rmm_id) for d in devices] == [
        ("yc-dc01", "Main", "Managed Server", "CZJ1234ABC", "301"),
        ("yc-lt-014.yourcompany.local", "Branch", "Managed Workstation", "5CD0123XYZ", "302"),
    ]
    assert {d.client_id for d in devices} == {acme.id}
    reasons = [r.reason for r in session.scalars(select(InboxRecord).order_by(InboxRecord.id))]
    assert "not named by a host name" in reasons[0] and "is inactive" in reasons[1]


def test_bad_records_are_rejected_naming_the_field(runner, session, tmp_path, acme):
    no_company = load(TICKET) | {"company": {"name": "TestCompany"}}
    bad_date = copy.deepcopy(load(TICKET))
    bad_date["_info"]["dateEntered"] = "2005-05-27T17: 30: 19Z"  # as the company's dates are
    note = load(NOTES)[0] | {"ticketId": None}
    documents = {
        "tickets": [no_company, bad_date, "not an object"],
        "notes": [note],
        # django-connectwise's agreement has no dates at all.
        "agreements": [load(AGREEMENT)],
        "configurations": [{"id": 9, "name": "host-9", "company": {}}],
    }
    assert ingest(runner, tmp_path, documents) == (0, 0, 0, 6, 0)
    rejected = {r.locator: (r.field, r.reason) for r in session.scalars(select(InboxRecord))}
    assert rejected["tickets[0]"][0] == "company.id"
    assert rejected["tickets[1]"][0] == "_info.dateEntered"
    assert "not an ISO 8601" in rejected["tickets[1]"][1]
    assert rejected["tickets[2]"][1] == "not an object"
    assert rejected["notes[0]"][0] == "ticketId"
    assert rejected["agreements[0]"][0] == "startDate"
    assert rejected["configurations[0]"][0] == "company.id"
    assert ingest(runner, tmp_path, [{"what": "no idea"}], "odd.json") == (0, 0, 0, 1, 0)


def test_a_signed_callback_brings_its_entity(app, client, session, acme):
    app.config["WEBHOOK_SECRETS"] = {"connectwise": SIGNING_KEY}
    body = CALLBACK.read_bytes()
    answer = client.post("/webhooks/connectwise", data=body,
                         headers={CONNECTWISE_HEADER: SIGNATURE,
                                  "Content-Type": "application/json"})  # fmt: skip
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["accepted"] == 1
    assert session.scalars(select(Entity.key)).one() == "69"
    forged = client.post("/webhooks/connectwise", data=body + b"\n",
                         headers={CONNECTWISE_HEADER: SIGNATURE})  # fmt: skip
    assert forged.status_code == 401


def test_callbacks_without_an_entity_wait_for_a_fetch(runner, session, tmp_path):
    callback = load(CALLBACK)
    deleted = callback | {"Action": "deleted", "Entity": None}
    bare = callback | {"Entity": None}
    broken = callback | {"Entity": "{not json"}
    assert ingest(runner, tmp_path, [deleted, bare, broken]) == (0, 0, 2, 1, 0)
    records = session.scalars(select(InboxRecord).order_by(InboxRecord.position)).all()
    assert "deleted object" in records[0].reason
    assert records[1].reason.startswith("needs fetching: connectwise ticket 69 (updated)")
    assert records[2].field == "Entity"


def test_the_ticket_seen_after_its_callback_is_not_new(runner, session, tmp_path, acme):
    assert ingest(runner, tmp_path, CALLBACK) == (1, 0, 0, 0, 0)
    assert ingest(runner, tmp_path, TICKET) == (0, 1, 0, 0, 0)
    assert session.scalars(select(Entity.opened_at)).one() == ENTERED


def test_the_renewal_is_in_what_lies_ahead(runner, session, tmp_path, acme):
    ingest(runner, tmp_path, AGREEMENTS)
    at = datetime(2026, 12, 31, tzinfo=UTC) - timedelta(days=30)
    due = session.scalars(select(Entity).where(Entity.type == "renewal")).all()
    assert [e.key for e in due if flags.renewal_due(e, at)] == ["agreement-41"]


JUNK = (None, "", "x", 0, -1, 1.5, True, [], {}, [1], {"a": 1}, "2005-13-45T99:00:00Z",
        10**40, 1.23456, "9" * 300)  # fmt: skip


def _mangled(document, rng: random.Random, depth: int = 0):
    """The document with a few values, at any depth, replaced by junk."""
    document = copy.deepcopy(document)
    if isinstance(document, dict) and document:
        for _ in range(rng.randint(1, 3)):
            key = rng.choice(list(document))
            if depth < 3 and isinstance(document[key], dict) and rng.random() < 0.3:
                document[key] = _mangled(document[key], rng, depth + 1)
            else:
                document[key] = rng.choice(JUNK)
    return document


def test_mangled_records_never_crash_and_read_again_add_nothing(runner, session, tmp_path, acme):
    samples = []
    for path in (COMPANY, TICKET, TICKET_2017, NOTES, TIME_ENTRY, AGREEMENT, AGREEMENTS, CALLBACK):
        found = load(path)
        samples += found if isinstance(found, list) else [found]
    rng = random.Random(11)
    documents = [_mangled(rng.choice(samples), rng) for _ in range(300)] + samples
    first = ingest(runner, tmp_path, documents)
    assert sum(first) == len(documents) and first[0] > 0 and first[3] > 0
    again = ingest(runner, tmp_path, documents)
    assert (again[0], again[3]) == (0, first[3])
