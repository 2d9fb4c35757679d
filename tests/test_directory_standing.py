"""The directory's health score and last contact: one health rule (crm.health),
the same score the briefing gives, and contact meaning we spoke or wrote to
the client, not that any event happened."""

from datetime import timedelta

from crm import health
from crm.clients.directory import DirectoryFilters, client_directory
from reports.briefing.build import build_briefing
from tests.factories import BASE_TIME, make_client, stored_event

NOW = BASE_TIME + timedelta(days=60)


def test_the_score_costs_points_by_severity_capped_per_kind():
    assert health.score_of([]) == 100
    assert health.score_of([("open_dispute", "critical"), ("overdue_invoice", "medium")]) == 75
    # Five overdue invoices cost the kind's cap (30), not 5 x 10.
    assert health.score_of([("overdue_invoice", "high")] * 5) == 70
    many = [(kind, "critical") for kind in ("a", "b", "c", "d")] * 2
    assert health.score_of(many) == 0  # never below nothing
    assert [health.tone(s) for s in (100, 80, 79, 50, 49)] == [
        "good",
        "good",
        "fair",
        "fair",
        "poor",
    ]


def _rows(session, **filters):
    page = client_directory(session, DirectoryFilters(**filters), now=NOW)
    return {row.slug: row for row in page.rows}, [row.slug for row in page.rows]


def _portfolio():
    calm = make_client("calm", name="Calm")
    stored_event(calm, "call", 24, title="Quarterly call")
    stored_event(calm, "ticket.opened", 24 * 45, thread="T-1", title="Printer")  # no contact
    stormy = make_client("stormy", name="Stormy")
    stored_event(stormy, "dispute.opened", 10, thread="D-1")  # critical: 20
    stored_event(stormy, "invoice.issued", 0, thread="I-1", due_at=BASE_TIME + timedelta(days=55))
    stored_event(stormy, "note", 30, title="Internal note")  # a note is no contact
    stored_event(stormy, "campaign.sent", 20, thread="CAMP-1", title="Newsletter")
    quiet = make_client("quiet", name="Quiet")
    stored_event(quiet, "meeting", 5, title="Roadmap meeting")
    stored_event(quiet, "call", 24 * 90, title="Planned call")  # dated ahead: not yet
    return calm, stormy, quiet


def test_each_row_shows_its_health_and_last_contact(app, session):
    _portfolio()
    rows, _ = _rows(session)
    assert rows["calm"].health == 100
    assert rows["stormy"].health == 75  # an open dispute (20) and an invoice 5 days overdue (5)
    assert rows["calm"].last_contact == BASE_TIME + timedelta(hours=24)
    assert rows["calm"].last_touch == BASE_TIME + timedelta(days=45)
    assert rows["stormy"].last_contact == BASE_TIME + timedelta(hours=20)  # the campaign
    assert rows["quiet"].last_contact == BASE_TIME + timedelta(hours=5)


def test_the_directory_sorts_by_health_and_by_last_contact(app, session):
    _portfolio()
    assert _rows(session, sort="health")[1] == ["stormy", "calm", "quiet"]
    assert _rows(session, sort="health", direction="desc")[1][-1] == "stormy"
    assert _rows(session, sort="last_contact")[1] == ["calm", "stormy", "quiet"]


def test_the_page_and_api_show_them(client, session):
    _portfolio()
    page = client.get("/clients?sort=health").get_data(as_text=True)
    assert 'data-label="Health">75<' in page and "Last contact" in page
    assert page.index(">Stormy<") < page.index(">Calm<")
    items = {i["slug"]: i for i in client.get("/api/v1/clients?sort=health").json["items"]}
    assert items["stormy"]["health"] == 75 and items["calm"]["health"] == 100
    assert items["calm"]["last_contact"].startswith("2026-10-02T09:00")


def test_the_directory_and_the_briefing_give_the_same_score(app, session):
    _, stormy, _ = _portfolio()
    rows, _ = _rows(session)
    briefing = build_briefing(session, stormy, (NOW - timedelta(hours=1)).date(), now=NOW)
    assert briefing.health.score == rows["stormy"].health == 75
