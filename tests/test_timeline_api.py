"""/api/v1/clients/<slug>/timeline, threads, card, touches and commitments."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from crm.extensions import db
from crm.models import Entity, Event
from crm.models.types import utcnow
from crm.timeline.queries import TIMELINE_COLUMNS
from crm.timeline.schemas import TimelineItemSchema, timeline_item
from tests.factories import make_client, stored_event

API = "/api/v1/clients"


def count(session, model=Event) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def acme(session):
    client = make_client("acme", timezone="Europe/Berlin")
    stored_event(
        client,
        "invoice.issued",
        0,
        thread="INV-1",
        title="Invoice INV-1",
        amount=Decimal("120.5"),
        currency="EUR",
        url="https://billing.example/INV-1",
    )
    stored_event(client, "alert.raised", 24, thread="A-1", title="Disk full")
    stored_event(
        client,
        "ticket.opened",
        48,
        thread="T-1",
        title="Printer offline",
        actor="Bob",
        status="new",
    )
    stored_event(client, "note", 72, title="Asked about printers", actor="Ana")
    stored_event(client, "call", 96, title="Budget call", actor="Carla")
    session.commit()
    return client  # fmt: skip


def titles(response) -> list[str]:
    assert response.status_code == 200, response.json
    return [item["title"] for item in response.json["items"]]


def test_the_timeline_newest_first_as_json(client, acme):
    response = client.get(f"{API}/acme/timeline")
    assert titles(response) == [
        "Budget call",
        "Asked about printers",
        "Printer offline",
        "Disk full",
        "Invoice INV-1",
    ]
    invoice = response.json["items"][-1]
    assert invoice["occurred_at"] == "2026-10-01T09:00:00+00:00"
    assert (invoice["amount"], invoice["currency"], invoice["status"]) == (
        "120.5000",
        "EUR",
        "open",
    )
    assert (invoice["thread_type"], invoice["thread_key"]) == ("invoice", "INV-1")
    assert invoice["url"] == "https://billing.example/INV-1"
    assert response.json["items"][2]["status"] == "new"
    assert response.json["next_cursor"] is None


def test_filters_by_source_kind_dates_and_text(client, acme):
    base = f"{API}/acme/timeline"
    assert titles(client.get(f"{base}?source=billing,rmm")) == ["Disk full", "Invoice INV-1"]
    assert titles(client.get(f"{base}?source=billing&source=tickets")) == [
        "Printer offline",
        "Invoice INV-1",
    ]
    assert titles(client.get(f"{base}?kind=note&kind=call")) == [
        "Budget call",
        "Asked about printers",
    ]
    assert titles(client.get(f"{base}?from=2026-10-02&to=2026-10-03")) == [
        "Printer offline",
        "Disk full",
    ]
    assert titles(client.get(f"{base}?q=PRINTER")) == ["Asked about printers", "Printer offline"]
    assert titles(client.get(f"{base}?q=carla&source=manual")) == ["Budget call"]


def test_cursor_pages_cover_everything_once(client, session):
    owner = make_client("paged")
    for i in range(7):
        stored_event(owner, "note", i // 3, title=f"n{i}")  # three share each timestamp
    seen, cursor = [], None
    while True:
        url = f"{API}/paged/timeline?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).json
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = session.scalars(
        select(Event.id).order_by(Event.occurred_at.desc(), Event.id.desc())
    ).all()
    assert seen == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("source=billing,crm", "source"),
        ("kind=ticket.exploded", "kind"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2026-10-05&to=2026-10-01", "to"),
        ("cursor=not-a-cursor", "cursor"),
        ("limit=0", "limit"),
        ("limit=10000", "limit"),
    ],
)
def test_bad_filters_name_the_field(client, acme, query, field):
    response = client.get(f"{API}/acme/timeline?{query}")
    assert response.status_code == 422
    assert response.json["field"] == field
    assert field in response.json["message"]


def test_unknown_source_error_lists_the_known_ones(client, acme):
    message = client.get(f"{API}/acme/timeline?source=crm").json["message"]
    assert "'crm'" in message
    assert "billing" in message


def test_unknown_client_is_404(client):
    response = client.get(f"{API}/nobody/timeline")
    assert response.status_code == 404
    assert "nobody" in response.json["message"]
    assert client.get(f"{API}/nobody/card").status_code == 404


def test_lean_rows_are_exactly_what_the_schema_documents(session, acme):
    stored_event(acme, "payment.received", 5, thread="INV-1", amount=Decimal("0"), currency="EUR")
    stored_event(acme, "refund.issued", 6, thread="INV-1", amount=Decimal("1E+3"), currency="EUR")
    rows = session.execute(select(*TIMELINE_COLUMNS)).all()
    assert len(rows) == 7
    for row in rows:
        assert timeline_item(row) == TimelineItemSchema().dump(row)


def test_a_thread_with_its_state(client, acme):
    stored_event(acme, "ticket.resolved", 60, thread="T-1", actor="Bob")
    body = client.get(f"{API}/acme/threads/ticket/T-1").json
    assert [event["kind"] for event in body["events"]] == ["ticket.opened", "ticket.resolved"]
    assert body["state"]["status"] == "resolved"
    assert body["state"]["is_open"] is False
    assert body["state"]["closed_at"] == "2026-10-03T21:00:00+00:00"
    assert client.get(f"{API}/acme/threads/ticket/T-404").status_code == 404
    assert client.get(f"{API}/acme/threads/bogus/T-1").status_code == 404


def test_the_card_as_json(client, acme):
    stored_event(acme, "ticket.opened", utcnow() - timedelta(days=2), thread="T-2",
                 title="VPN drops", sla_due_at=utcnow() - timedelta(days=1))  # fmt: skip
    body = client.get(f"{API}/acme/card").json
    assert body["client"]["slug"] == "acme"
    assert body["local_now"].endswith(("+01:00", "+02:00"))
    tickets = {item["key"]: item for item in body["open_tickets"]}
    assert tickets["T-2"]["deadline"]["state"] == "breached"
    assert tickets["T-2"]["age_seconds"] >= 2 * 86400
    assert "2 late tickets" in body["flags"]  # with the fixture's own
    assert tickets["T-2"]["flag"]["kind"] == "late_ticket"
    assert tickets["T-2"]["flag"]["facets"] == ["past_sla"]
    assert isinstance(body["in_business_hours"], bool)


def test_log_a_touch(client, session, acme):
    response = client.post(
        f"{API}/acme/touches", json={"kind": "call", "text": "Wants a quote", "actor": "Ana"}
    )
    assert response.status_code == 201, response.json
    assert (response.json["kind"], response.json["origin"]) == ("call", "touchline")
    top = client.get(f"{API}/acme/timeline?limit=1").json["items"][0]
    assert top["id"] == response.json["id"]
    assert top["title"] == "Wants a quote"


def test_a_touch_logged_afterwards_in_the_clients_time(client, acme):
    response = client.post(
        f"{API}/acme/touches",
        json={
            "kind": "meeting",
            "text": "Roadmap",
            "actor": "Ana",
            "occurred_at": "2026-10-02T10:00",
        },
    )
    assert response.json["occurred_at"] == "2026-10-02T08:00:00+00:00"  # Berlin summer time


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "note", "actor": "Ana"}, "text"),
        ({"kind": "note", "text": "  ", "actor": "Ana"}, "text"),
        ({"kind": "fax", "text": "x", "actor": "Ana"}, "kind"),
        ({"kind": "note", "text": "x", "actor": "Ana", "occurred_at": "soon"}, "occurred_at"),
        ({"kind": "note", "text": "x", "actor": "Ana", "occurred_at": "2999-01-01T00:00Z"},
         "occurred_at"),
    ],
)  # fmt: skip
def test_a_bad_touch_is_422_naming_the_field_and_writes_nothing(client, session, acme, body, field):
    before = count(session)
    response = client.post(f"{API}/acme/touches", json=body)
    assert response.status_code == 422
    assert response.json["field"] == field
    assert count(session) == before


def test_commitments_made_listed_and_completed(client, session, acme):
    response = client.post(
        f"{API}/acme/commitments",
        json={"title": "Call back", "due_at": "2030-10-01T15:00", "actor": "Ana"},
    )
    assert response.status_code == 201, response.json
    key = response.json["key"]
    assert response.json["due_at"] == "2030-10-01T13:00:00+00:00"  # 15:00 in Berlin
    assert response.json["status"] == "open"

    def listed(state):
        body = client.get(f"{API}/acme/commitments?state={state}").json
        return [item["key"] for item in body["items"]]

    assert listed("open") == [key]
    assert listed("overdue") == listed("done") == []

    done = client.post(f"{API}/acme/commitments/{key}/complete", json={"actor": "Bob"})
    assert done.status_code == 200
    assert (done.json["status"], done.json["is_open"]) == ("done", False)
    assert listed("open") == []
    assert listed("done") == [key]

    again = client.post(f"{API}/acme/commitments/{key}/complete", json={"actor": "Bob"})
    assert again.status_code == 409
    assert "already done" in again.json["message"]
    missing = client.post(f"{API}/acme/commitments/CMT-NOPE/complete", json={"actor": "Bob"})
    assert missing.status_code == 404
    assert client.get(f"{API}/acme/commitments?state=later").json["field"] == "state"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "Call", "due_at": "tomorrow-ish", "actor": "Ana"}, "due_at"),
        ({"title": "Call", "due_at": "2020-10-01T15:00", "actor": "Ana"}, "due_at"),
        ({"title": "Call", "actor": "Ana"}, "due_at"),
        ({"due_at": "2026-10-01T15:00", "actor": "Ana"}, "title"),
    ],
)
def test_a_bad_commitment_is_422_naming_the_field_and_writes_nothing(
    client, session, acme, body, field
):
    before = count(session), count(session, Entity)
    response = client.post(f"{API}/acme/commitments", json=body)
    assert response.status_code == 422
    assert response.json["field"] == field
    assert (count(session), count(session, Entity)) == before


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").json["paths"]
    for path in (
        "/api/v1/clients/{slug}/timeline",
        "/api/v1/clients/{slug}/threads/{thread_type}/{key}",
        "/api/v1/clients/{slug}/card",
        "/api/v1/clients/{slug}/touches",
        "/api/v1/clients/{slug}/commitments",
        "/api/v1/clients/{slug}/commitments/{key}/complete",
    ):
        assert path in paths, path
    parameters = {p["name"] for p in paths["/api/v1/clients/{slug}/timeline"]["get"]["parameters"]}
    assert {"source", "kind", "from", "to", "q", "cursor", "limit"} <= parameters


def _open_transaction_per_statement(engine):
    """A list that gets, for every statement the engine runs, its verb and
    whether the database had a transaction open around it; and the
    listener to remove."""
    seen = []

    def after(connection, cursor, statement, parameters, context, executemany):
        dbapi = connection.connection.dbapi_connection
        if engine.dialect.name == "postgresql":
            open_ = dbapi.info.transaction_status != dbapi.info.transaction_status.IDLE
        else:
            open_ = dbapi.in_transaction
        seen.append((statement.split(None, 1)[0].upper(), open_))

    event.listen(engine, "after_cursor_execute", after)
    return seen, lambda: event.remove(engine, "after_cursor_execute", after)


def test_api_reads_on_postgresql_send_no_begin_and_writes_keep_their_transaction(
    client, session, acme
):
    before = count(session)
    session.commit()
    seen, stop = _open_transaction_per_statement(db.engine)
    try:
        page = client.get(f"{API}/acme/timeline?limit=2")
        reads = list(seen)
        seen.clear()
        touch = {"kind": "call", "text": "Wants a quote", "actor": "Ana"}
        written = client.post(f"{API}/acme/touches", json=touch)
        writes = list(seen)
    finally:
        stop()
    assert page.status_code == 200 and len(page.json["items"]) == 2
    assert written.status_code == 201
    assert reads and writes
    # PostgreSQL takes a snapshot per statement anyway; a read's BEGIN and
    # ROLLBACK would be two round trips for nothing. SQLite's driver opens
    # no transaction for a read either.
    if db.engine.dialect.name == "postgresql":
        assert not any(open_ for _, open_ in reads), "the token's last use too"
        assert all(open_ for _, open_ in writes)
    else:
        assert reads[-1] == ("SELECT", False), "the page itself"
    changes = [open_ for verb, open_ in writes if verb in ("INSERT", "UPDATE")]
    assert changes and all(changes), "the touch and its thread go in one transaction"
    assert count(session) == before + 1


def test_the_api_signs_with_the_tokens_account_not_a_name_sent(api_as, session):
    make_client("acme")
    forged = {"kind": "call", "text": "Agreed the renewal", "actor": "The CEO"}
    made = api_as("staff").post("/api/v1/clients/acme/touches", json=forged)
    assert (made.status_code, made.json["actor"][:6]) == (201, "staff-")
