"""/search and GET /api/v1/search: the same hits, grouped by kind, each
naming its client and linking to its page; the API documented and guarded
like the others; every page's header holds the box and a skip link."""

import pytest

from crm.extensions import db
from crm.models import Contact
from tests.factories import make_client, stored_event


@pytest.fixture
def clients(app):
    collins = make_client("collins-facilities", name="Collins Facilities Group")
    collins.contacts = [Contact(name="Priya Raman", email="priya@collinsfm.example")]
    stored_event(collins, "ticket.opened", thread="4711", title="Printer on fire in reception")
    stored_event(collins, "note", title="Talked about the Collins renewal")
    db.session.commit()
    return collins


def test_api_answers_hits_with_client_kind_title_and_link(client, clients):
    response = client.get("/api/v1/search?q=collins")
    assert response.status_code == 200
    hits = response.json["hits"]
    # the contact by her e-mail (collinsfm...), the note by its text
    assert [h["kind"] for h in hits] == ["client", "contact", "event"]
    assert hits[0] == hits[0] | {
        "kind": "client",
        "client": {"slug": "collins-facilities", "name": "Collins Facilities Group"},
        "title": "Collins Facilities Group",
        "url": "/clients/collins-facilities",
    }
    assert hits[2]["url"].startswith("/clients/collins-facilities?q=")
    ticket = client.get("/api/v1/search?q=4711&kind=thread").json["hits"]
    assert [(h["thread_type"], h["thread_key"], h["url"]) for h in ticket] == [
        ("ticket", "4711", "/clients/collins-facilities/threads/ticket/4711")
    ]


@pytest.mark.parametrize(
    "query, field",
    [("", "q"), ("q=", "q"), ("q=x&limit=0", "limit"), ("q=x&kind=planet", "kind")],
)
def test_api_refuses_bad_queries_naming_the_field(client, query, field):
    response = client.get(f"/api/v1/search?{query}")
    assert response.status_code == 422
    assert field in response.json["errors"]["query"]


def test_api_needs_credentials_and_a_role_that_reads_clients(anonymous, api_as, clients):
    assert anonymous.get("/api/v1/search?q=collins").status_code == 401
    assert api_as("admin").get("/api/v1/search?q=collins").status_code == 403
    for role in ("staff", "executive", "manager"):
        assert api_as(role).get("/api/v1/search?q=collins").status_code == 200, role


def test_api_is_in_the_openapi_document(client):
    operation = client.get("/api/openapi.json").json["paths"]["/api/v1/search"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"q", "kind", "limit"}
    assert "200" in operation["responses"]


def test_page_groups_hits_by_kind_with_links(client, clients):
    page = client.get("/search?q=collins").get_data(as_text=True)
    assert page.index("Clients") < page.index("Events")
    assert 'href="/clients/collins-facilities"' in page
    assert "Talked about the Collins renewal" in page
    thread = client.get("/search?q=printer").get_data(as_text=True)
    assert 'href="/clients/collins-facilities/threads/ticket/4711"' in thread
    assert "Nothing matches" in client.get("/search?q=zebedee").get_data(as_text=True)


def test_page_without_a_query_asks_for_one_and_a_bad_one_says_why(client):
    assert client.get("/search").status_code == 200
    response = client.get("/search?q=x&kind=planet")
    assert response.status_code == 400
    assert "unknown kind" in response.get_data(as_text=True)


def test_every_page_has_the_search_box_and_a_skip_link(client, login_as, clients):
    page = client.get("/clients").get_data(as_text=True)
    assert 'href="#content"' in page and 'id="content"' in page
    assert 'role="search"' in page and 'aria-keyshortcuts="/"' in page
    admin_page = login_as("admin").get("/admin/users").get_data(as_text=True)
    assert "Skip to content" in admin_page
    assert 'id="site-search"' not in admin_page  # an admin may not read clients
