"""Search: clients by name, slug, contact, e-mail, phone, domain and any
identity key; threads by ticket id, invoice number and text; typos in names
forgiven; the same answers on SQLite (FTS5) and PostgreSQL (tsvector,
pg_trgm), kept current by every write and ranked the same way.

Tickets are Zendesk's published ticket list (tests/fixtures/vendors), the
invoice Stripe's OpenAPI fixture invoice, ingested through the pipeline."""

import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import delete

from crm.extensions import db
from crm.models import Client, Contact
from crm.search.engines import similarity
from crm.search.operations import search
from tests.factories import make_client
from tests.helpers import ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
ORGANIZATION_ID = "20012227"  # the organization 27 of Zendesk's listed tickets name
STRIPE_CUSTOMER = "cus_QXg1o8vcGmoR32"  # the customer of Stripe's fixture invoice


def vendor(name: str):
    return copy.deepcopy(json.loads((VENDORS / name).read_text()))


@pytest.fixture
def portfolio(runner, tmp_path):
    """Three clients with contacts and identities, Zendesk's tickets for one
    of them and a Stripe invoice (numbered INV-0042 here) for another."""
    collins = make_client(
        "collins-facilities",
        name="Collins Facilities Group",
        identities=[("zendesk", ORGANIZATION_ID), ("domain", "collinsfm.example")],
    )
    collins.contacts = [
        Contact(name="Priya Raman", email="priya@collinsfm.example", phone="+44 20 7946 0123")
    ]
    harbour = make_client(
        "harbour-dental", name="Harbour Dental", identities=[("stripe", STRIPE_CUSTOMER)]
    )
    make_client("collier-logistics", name="Collier Logistics")
    db.session.commit()
    ingest_file(runner, "zendesk", VENDORS / "zendesk_ticket_list_api_response.json")
    invoice = vendor("stripe_openapi_fixture_invoice.json") | {"number": "INV-0042"}
    record = {
        "id": "evt_search_invoice",
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1764000000,
        "type": "invoice.finalized",
        "data": {"object": invoice},
    }
    path = tmp_path / "invoice.ndjson"
    path.write_text(json.dumps(record) + "\n")
    ingest_file(runner, "stripe", path)
    return {"collins": collins, "harbour": harbour}


def found(typed: str, *kinds: str) -> list[tuple[str, str, str]]:
    return [(h.kind, h.client_slug, h.title) for h in search(db.session, typed, kinds).hits]


def test_clients_by_name_slug_contact_email_phone_domain_and_key(portfolio):
    assert found("collins", "client")[0] == (
        "client",
        "collins-facilities",
        "Collins Facilities Group",
    )
    assert found("harbour-dental", "client")[0][1] == "harbour-dental"
    assert found("Priya", "contact") == [("contact", "collins-facilities", "Priya Raman")]
    assert found("priya@collinsfm.example", "contact")[0][1] == "collins-facilities"
    for phone in ("+44 20 7946 0123", "442079460123", "7946 0123"):
        assert found(phone, "contact")[0][1] == "collins-facilities", phone
    assert found("collinsfm.example", "identity")[0] == (
        "identity",
        "collins-facilities",
        "domain: collinsfm.example",
    )
    assert found(STRIPE_CUSTOMER, "identity")[0][1] == "harbour-dental"


def test_a_typo_in_a_name_is_forgiven_and_ranks_below_real_matches(portfolio):
    hits = found("Colins", "client")
    assert hits[0][1] == "collins-facilities"
    assert ("client", "collier-logistics", "Collier Logistics") not in hits[:1]
    assert found("Hrabour", "client")[0][1] == "harbour-dental"  # letters swapped
    assert found("Priya Raaman", "contact")[0][2] == "Priya Raman"
    assert found("Zebedee", "client") == []
    # A word starting a name outranks a typo of another name.
    assert found("collie", "client")[0][1] == "collier-logistics"


def test_threads_by_ticket_id_invoice_number_and_text(portfolio, app):
    by_id = search(db.session, "106", ["thread"]).hits
    assert (by_id[0].thread_type, by_id[0].thread_key) == ("ticket", "106")
    assert by_id[0].client_slug == "collins-facilities"
    with app.test_request_context():
        assert by_id[0].url == "/clients/collins-facilities/threads/ticket/106"
    invoice = search(db.session, "INV-0042", ["thread"]).hits
    assert [(h.client_slug, h.thread_type) for h in invoice] == [("harbour-dental", "invoice")]
    assert "INV-0042" in invoice[0].title
    # Text: each of the organization's tickets once, whatever its events.
    questions = search(db.session, "question", ["thread"], limit=50).hits
    keys = [h.thread_key for h in questions]
    assert len(keys) == len(set(keys)) > 1
    assert {h.client_slug for h in questions} == {"collins-facilities"}


def test_hits_are_grouped_by_kind_and_name_their_client(portfolio, app):
    hits = search(db.session, "collins").hits
    kinds = [h.kind for h in hits]
    assert kinds == sorted(kinds, key=["client", "contact", "identity", "thread", "event"].index)
    with app.test_request_context():
        assert all(h.client_slug and h.client_name and h.url for h in hits)


def test_the_index_follows_every_change(portfolio):
    collins = portfolio["collins"]
    collins.name = "Hartley Facilities"
    db.session.commit()
    assert found("group", "client") == []  # "collins" is still in the slug
    assert found("hartley", "client")[0][1] == "collins-facilities"
    db.session.execute(delete(Contact).where(Contact.client_id == collins.id))
    db.session.commit()
    assert found("priya", "contact") == []
    db.session.delete(db.session.get(Client, collins.id))
    db.session.commit()
    assert found("106", "thread") == []
    assert found("collinsfm", "identity") == []


def test_nothing_typed_finds_nothing_and_punctuation_is_not_syntax(portfolio):
    assert search(db.session, "   ").hits == []
    for hostile in ('"', "*", "AND OR NOT", "col:*", "a & b | !c", "(", "NEAR(x y)", "'; --"):
        search(db.session, hostile)  # never an error from the engine's query syntax


def test_similarity_is_pg_trgm_measure_per_word():
    assert similarity("colins", "Collins Facilities Group") == pytest.approx(6 / 9)
    assert similarity("zebedee", "Collins") < 0.2


def test_migration_0011_indexes_the_rows_already_there(empty_database_app):
    """Upgrading a database with data makes it findable at once, and rows
    written after the upgrade are indexed as they are written."""
    from datetime import UTC, datetime

    from flask_migrate import upgrade
    from sqlalchemy import insert

    upgrade(revision="0010")
    connection = db.session.connection()
    tables = db.metadata.tables
    when = datetime(2026, 3, 1, 9, tzinfo=UTC)
    client_id = connection.execute(
        insert(tables["clients"])
        .values(
            slug="acme", name="Acme Dental", tier="standard", status="active",
            timezone="UTC", created_at=when,
        )
        .returning(tables["clients"].c.id)
    ).scalar_one()  # fmt: skip
    connection.execute(
        insert(tables["contacts"]).values(
            client_id=client_id, name="Ruth Okafor", phone="+1 555 0100"
        )
    )
    connection.execute(
        insert(tables["events"]).values(
            client_id=client_id, source="tickets", kind="ticket.opened", origin="zendesk",
            external_id="7", occurred_at=when, title="Scanner jams", thread_type="ticket",
            thread_key="7", attributes={}, received_at=when,
        )
    )  # fmt: skip
    db.session.commit()
    upgrade()
    assert found("acme", "client") == [("client", "acme", "Acme Dental")]
    assert found("15550100", "contact") == [("contact", "acme", "Ruth Okafor")]
    assert found("scanner", "thread") == [("thread", "acme", "Scanner jams")]
    make_client("acme-two", name="Acme Logistics")
    assert [slug for _k, slug, _t in found("acme", "client")] == ["acme", "acme-two"]
