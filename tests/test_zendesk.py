"""The zendesk connector, against Zendesk's own recorded API responses."""

import copy
import json
from pathlib import Path

from sqlalchemy import select

from crm.models import Entity, Event, Identity, InboxRecord
from tests.factories import make_client
from tests.helpers import entity_states, inbox_by_locator, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
SHOW = VENDORS / "zendesk_ticket_show_api_response.json"
CREATE = VENDORS / "zendesk_ticket_create_api_response.json"
ORGANIZATION = VENDORS / "zendesk_organization_create_api_response.json"


def ingest(runner, path) -> dict:
    return ingest_file(runner, "zendesk", path)


def identities_map(runner, system, key, slug) -> str:
    result = runner.invoke(args=["identities", "map", system, key, slug])
    assert result.exit_code == 0, result.output
    return result.output


def write(path: Path, document) -> Path:
    path.write_text(json.dumps(document))
    return path


def counts(summary: dict) -> tuple:
    return tuple(summary[name] for name in ("accepted", "duplicate", "skipped", "rejected"))


def sample_ticket() -> dict:
    return json.loads(SHOW.read_text())["ticket"]


def test_show_response_waits_for_its_organization_then_replays(runner, session, client):
    acme = make_client("acme")
    first = ingest(runner, SHOW)
    assert first["unmatched"] == 1
    waiting = inbox_by_locator(session)["ticket"]
    assert "zendesk 20012227" in waiting.reason and "zendesk-user 20014182" in waiting.reason
    assert ingest(runner, SHOW)["duplicate"] == 1  # already waiting, not queued twice

    output = identities_map(runner, "zendesk", "20012227", "acme")
    assert "replayed 1 zendesk records: 1 accepted" in output

    # Created in 2012, first seen through its update of 2015: the ticket
    # opened in 2012, and the timeline says so.
    opened, event = session.scalars(select(Event).order_by(Event.occurred_at)).all()
    assert (opened.kind, opened.external_id, opened.occurred_at.isoformat()) == (
        "ticket.opened",
        "1@2012-09-06T20:15:09Z",
        "2012-09-06T20:15:09+00:00",
    )
    assert opened.attributes["implied_by"] == "1@2015-09-03T00:37:57Z"
    assert (event.client_id, event.kind, event.external_id) == (
        acme.id,
        "ticket.updated",
        "1@2015-09-03T00:37:57Z",
    )
    assert event.occurred_at.isoformat() == "2015-09-03T00:37:57+00:00"
    assert event.title == "This is a sample ticket requested and submitted by you"
    assert event.url == "https://zendeskapi.zd-staging.com/agent/tickets/1"
    assert (event.thread_type, event.thread_key) == ("ticket", "1")
    assert event.attributes["channel"] == "web"
    assert event.attributes["zendesk_status"] == "pending"
    ticket = session.scalars(select(Entity)).one()
    assert (ticket.status, ticket.priority, ticket.category, ticket.assignee) == (
        "pending",
        "high",
        "incident",
        "20014182",
    )
    assert ticket.closed_at is None
    assert ticket.opened_at.isoformat() == "2012-09-06T20:15:09+00:00"
    assert counts(ingest(runner, SHOW)) == (0, 1, 0, 0)
    # The timeline says where the opening was read from.
    items = client.get("/api/v1/clients/acme/timeline").json["items"]
    assert [(i["kind"], i["implied_by"]) for i in items] == [
        ("ticket.updated", None),
        ("ticket.opened", "1@2015-09-03T00:37:57Z"),
    ]
    page = client.get("/clients/acme").get_data(as_text=True)
    assert "told by a later record" in page


def test_ticket_without_organization_matches_by_requester(runner, session):
    """The create response has no organization: it waits on its requester."""
    acme = make_client("acme")
    summary = ingest(runner, CREATE)
    assert summary["unmatched"] == 1
    assert "zendesk-user 20014192" in inbox_by_locator(session)["ticket"].reason

    assert "1 accepted" in identities_map(runner, "zendesk-user", "20014192", "acme")
    event = session.scalars(select(Event)).one()
    assert (event.client_id, event.kind, event.detail) == (
        acme.id,
        "ticket.opened",
        "Indeed it is!",
    )
    assert event.attributes["tags"] == ["awesome", "blossom"]
    assert event.attributes["channel"] == "api"
    ticket = session.scalars(select(Entity)).one()
    assert (ticket.key, ticket.status, ticket.title) == ("8867", "new", "This is a question?")


def test_an_organization_waits_for_its_client_then_registers_its_domains(runner, session):
    summary = ingest(runner, ORGANIZATION)
    assert (summary["total"], summary["unmatched"]) == (1, 1)
    assert "zendesk 20526551" in inbox_by_locator(session)["organization"].reason
    make_client("acme")
    # The sample has no domains: mapping its id by hand leaves nothing new.
    assert "replayed 1 zendesk records: 0 accepted, 1 duplicate" in identities_map(
        runner, "zendesk", "20526551", "acme"
    )
    assert inbox_by_locator(session)["organization"].status == "replayed"
    assert ingest(runner, ORGANIZATION)["duplicate"] == 1


def test_an_organization_known_by_its_domain_registers_its_id(runner, session, tmp_path):
    acme = make_client("acme", identities=[("domain", "acme.example")])
    organization = json.loads(ORGANIZATION.read_text())["organization"]
    listed = organization | {"id": 20012227, "name": "Acme", "domain_names": ["Acme.example"]}
    path = write(tmp_path / "organizations.json", {"organizations": [listed, 7], "count": 2})
    summary = ingest(runner, path)
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert inbox_by_locator(session)["organizations[1]"].reason == "is not a JSON object"
    known = session.execute(
        select(Identity.system, Identity.external_key).where(Identity.client_id == acme.id)
    ).all()
    assert sorted(known) == [("domain", "acme.example"), ("zendesk", "20012227")]


def history() -> list[dict]:
    """One ticket's life, built on the recorded sample: new, open, solved."""
    base = sample_ticket() | {"id": 77, "organization_id": None, "requester_id": 501}
    created = "2026-03-02T08:00:00Z"
    new = base | {"status": "new", "created_at": created, "updated_at": created}
    new |= {"assignee_id": None, "priority": "normal"}
    opened = base | {"status": "open", "created_at": created, "updated_at": "2026-03-02T09:30:00Z"}
    solved = base | {
        "status": "solved",
        "created_at": created,
        "updated_at": "2026-03-03T10:00:00Z",
    }
    return [new, opened, solved]


def list_response(tickets: list[dict]) -> dict:
    users = [{"id": 501, "name": "Ana", "email": "Ana@Acme.example"}]
    return {"tickets": tickets, "users": users, "next_page": None, "count": len(tickets)}


def test_list_response_folds_a_ticket_whatever_the_order(runner, session, tmp_path):
    """Side-loaded users give the requester's email, which finds the client."""
    acme = make_client("acme", emails=["ana@acme.example"])
    path = write(tmp_path / "tickets.json", list_response(history()))
    assert counts(ingest(runner, path)) == (3, 0, 0, 0)
    events = session.scalars(select(Event).order_by(Event.occurred_at)).all()
    assert [(e.kind, e.client_id) for e in events] == [
        ("ticket.opened", acme.id),
        ("ticket.updated", acme.id),
        ("ticket.resolved", acme.id),
    ]
    in_order = entity_states(session)
    ticket = session.scalars(select(Entity)).one()
    assert (ticket.status, ticket.priority, ticket.assignee, ticket.event_count) == (
        "resolved",
        "high",
        "20014182",
        3,
    )
    assert ticket.closed_at.isoformat() == "2026-03-03T10:00:00+00:00"
    assert counts(ingest(runner, path)) == (0, 3, 0, 0)

    session.execute(Entity.__table__.delete())
    session.execute(Event.__table__.delete())
    session.commit()
    reverse = write(tmp_path / "reverse.json", list_response(history()[::-1]))
    assert counts(ingest(runner, reverse)) == (3, 0, 0, 0)
    assert entity_states(session) == in_order
    # The second import's duplicates are counted, not kept in the inbox.
    assert session.scalars(select(InboxRecord)).all() == []


def test_webhook_bodies(runner, session, tmp_path):
    """A trigger's body (text placeholders) and an event webhook's `detail`."""
    acme = make_client("acme", identities=[("zendesk", "20012227")])
    trigger = {
        "ticket": {
            "id": "35436",
            "status": "Solved",
            "created_at": "2026-03-01T08:00:00Z",
            "updated_at": "2026-03-04T16:20:00Z",
            "subject": "Printer offline",
            "organization_id": "20012227",
            "requester_id": "",
            "assignee_id": "901",
            "priority": "Urgent",
            "type": "",
            "tags": "printer vip",
            "url": "acme.zendesk.com/agent/tickets/35436",
        }
    }
    event_webhook = {
        "type": "zen:event-type:ticket.status_changed",
        "account_id": 12514403,
        "id": "2b24ef10-19d4-4740-93cf-8f98ec4776c0",
        "time": "2026-03-02T09:00:00Z",
        "detail": {
            "id": "35436",
            "status": "OPEN",
            "created_at": "2026-03-01T08:00:00Z",
            "updated_at": "2026-03-02T09:00:00Z",
            "organization_id": "20012227",
            "requester_id": "0",
            "priority": "HIGH",
            "via": {"channel": "web_service"},
            "tags": ["printer"],
        },
        "event": {"current": "OPEN", "previous": "NEW"},
    }
    assert ingest(runner, write(tmp_path / "trigger.json", trigger))["accepted"] == 1
    assert ingest(runner, write(tmp_path / "event.json", event_webhook))["accepted"] == 1
    events = {e.kind: e for e in session.scalars(select(Event))}
    # Neither body was the ticket's creation; both say when it was.
    assert set(events) == {"ticket.opened", "ticket.updated", "ticket.resolved"}
    assert events["ticket.opened"].occurred_at.isoformat() == "2026-03-01T08:00:00+00:00"
    solved = events["ticket.resolved"]
    assert solved.client_id == acme.id
    assert solved.url == "https://acme.zendesk.com/agent/tickets/35436"
    assert solved.attributes["tags"] == ["printer", "vip"]
    assert events["ticket.updated"].attributes["channel"] == "web_service"
    ticket = session.scalars(select(Entity)).one()
    assert ticket.opened_at.isoformat() == "2026-03-01T08:00:00+00:00"
    assert (ticket.key, ticket.status, ticket.priority, ticket.assignee) == (
        "35436",
        "resolved",
        "urgent",
        "901",
    )


def test_unmapped_status_is_skipped_and_bad_fields_rejected(runner, session, tmp_path):
    make_client("acme", identities=[("zendesk", "20012227")])
    ticket = sample_ticket()
    deleted = ticket | {"status": "deleted"}
    no_time = copy.deepcopy(ticket)
    del no_time["updated_at"]
    bad_id = ticket | {"id": "T-1"}
    bad_time = ticket | {"updated_at": "yesterday"}
    path = tmp_path / "tickets.ndjson"
    path.write_text("".join(json.dumps({"ticket": t}) + "\n" for t in (deleted, no_time)))
    with path.open("a") as file:
        file.write(f"{json.dumps(bad_id)}\n{json.dumps(bad_time)}\n[1, 2]\n")
    summary = ingest(runner, path)
    assert (summary["skipped"], summary["rejected"], summary["accepted"]) == (1, 4, 0)
    rows = inbox_by_locator(session)
    assert rows["line 1: ticket"].status == "skipped"
    assert "status 'deleted' is not mapped" in rows["line 1: ticket"].reason
    assert (rows["line 2: ticket"].field, rows["line 2: ticket"].reason) == (
        "updated_at",
        "updated_at is required",
    )
    assert rows["line 3"].field == "id"
    assert rows["line 4"].field == "updated_at"
    assert rows["line 5"].status == "rejected"


TICKETS = VENDORS / "zendesk_ticket_list_api_response.json"
USER = VENDORS / "zendesk_user_show_api_response.json"
ORGANIZATION_ID = "20012227"  # of the 27 listed tickets that name one
NO_ORGANIZATION_REQUESTER = "20014192"  # who asked the 73 others


def test_a_ticket_list_opens_every_ticket_when_it_was_created(runner, session):
    """A list gives each ticket once, as it stands: each thread still opens at
    its `created_at`, not at the update that is the first we see of it."""
    make_client("acme", identities=[("zendesk", ORGANIZATION_ID)])
    listed = {str(t["id"]): t for t in json.loads(TICKETS.read_text())["tickets"]}
    summary = ingest(runner, TICKETS)
    assert (summary["accepted"], summary["unmatched"]) == (27, 73)
    tickets = session.scalars(select(Entity)).all()
    assert len(tickets) == 27
    for ticket in tickets:
        created = listed[ticket.key]["created_at"].replace("Z", "+00:00")
        assert ticket.opened_at.isoformat() == created, ticket.key
    # One opening per ticket, whether the list was its creation or a later update.
    openings = session.scalars(select(Event).where(Event.kind == "ticket.opened")).all()
    assert sorted(e.thread_key for e in openings) == sorted(t.key for t in tickets)
    assert counts(ingest(runner, TICKETS))[0] == 0


def test_a_user_record_places_the_tickets_of_its_requester(runner, session, tmp_path):
    """Tickets that name only their requester wait; a user record that says
    which organization the requester belongs to places all of them."""
    acme = make_client("acme", identities=[("zendesk", ORGANIZATION_ID)])
    assert ingest(runner, TICKETS)["unmatched"] == 73
    # Zendesk's recorded user response, as the requester of those tickets
    # (its id and organization set to theirs; every other field verbatim).
    user = json.loads(USER.read_text())
    user["user"] |= {"id": int(NO_ORGANIZATION_REQUESTER), "organization_id": 20012227}
    summary = ingest(runner, write(tmp_path / "user.json", user))
    assert summary["accepted"] == 1
    waiting = session.scalars(select(InboxRecord).where(InboxRecord.status == "unmatched")).all()
    assert waiting == []
    placed = session.scalars(select(Entity).where(Entity.client_id == acme.id)).all()
    assert len(placed) == 100
    identity = session.scalars(
        select(Identity).where(Identity.external_key == NO_ORGANIZATION_REQUESTER)
    ).one()
    assert (identity.system, identity.client_id) == ("zendesk-user", acme.id)


def test_a_ticket_that_names_its_organization_teaches_its_requester(runner, session, tmp_path):
    """The requester of a ticket filed for an organization belongs to its
    client: their tickets that name no organization go there too, whichever
    came first."""
    acme = make_client("acme", identities=[("zendesk", ORGANIZATION_ID)])
    lone = sample_ticket() | {"id": 901, "organization_id": None}
    assert ingest(runner, write(tmp_path / "lone.json", {"ticket": lone}))["unmatched"] == 1
    assert ingest(runner, SHOW)["accepted"] == 1
    tickets = session.scalars(select(Entity).order_by(Entity.key)).all()
    assert [(t.key, t.client_id) for t in tickets] == [("1", acme.id), ("901", acme.id)]


def test_metric_sets_say_when_a_ticket_was_solved(runner, session, tmp_path):
    """Closed on Friday by Zendesk's automation, solved on Monday: with the
    metrics side-loaded (`include=metric_sets`), the ticket closed Monday."""
    make_client("acme", identities=[("zendesk", ORGANIZATION_ID)])
    closed = sample_ticket() | {"status": "closed", "updated_at": "2015-09-07T09:00:00Z"}
    metrics = {"ticket_id": 1, "solved_at": "2015-09-03T00:37:57Z", "reopens": 0}
    document = {"tickets": [closed], "metric_sets": [metrics], "count": 1}
    assert ingest(runner, write(tmp_path / "export.json", document))["accepted"] == 1
    ticket = session.scalars(select(Entity)).one()
    assert ticket.opened_at.isoformat() == "2012-09-06T20:15:09+00:00"
    assert ticket.closed_at.isoformat() == "2015-09-03T00:37:57+00:00"
    kinds = session.scalars(select(Event.kind).order_by(Event.occurred_at)).all()
    assert kinds == ["ticket.opened", "ticket.resolved", "ticket.resolved"]


def test_a_ticket_without_its_creation_time_goes_in_marked_inferred(runner, session, tmp_path):
    """A trigger's body that leaves out `created_at`: the version it sends is
    the earliest the ticket is known by, and the event says so."""
    make_client("acme", identities=[("zendesk", ORGANIZATION_ID)])
    ticket = sample_ticket()
    del ticket["created_at"]
    assert ingest(runner, write(tmp_path / "trigger.json", {"ticket": ticket}))["accepted"] == 1
    event = session.scalars(select(Event)).one()
    assert event.attributes["inferred"] == {"created_at": "updated_at"}
    opened = session.scalars(select(Entity.opened_at)).one()
    assert opened.isoformat() == "2015-09-03T00:37:57+00:00"
