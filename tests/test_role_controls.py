"""Every control a role sees works for it: each page of the app (taken from its
URL map, not a list kept by hand) is opened as every role, and every link
and form on it must lead somewhere those roles may go. A link is followed
(one of each endpoint it leads to); a form that changes something is
checked against the access policy, as the access hook checks it, rather
than sent.

The data is the demo portfolio plus a run with an unmatched record and a
job, so the pages show their controls: open commitments, tier suggestions,
inbox records, audit entries naming clients.
"""

import io
import json
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed, NotFound

from crm.accounts import policy
from crm.accounts.mail import unsubscribe_token
from crm.accounts.models import ApiToken
from crm.extensions import db
from crm.jobs.models import Job
from crm.meetings.operations import create_meeting
from crm.models import Client, Entity, InboxRecord, IngestRun
from crm.models.types import utcnow
from tests.accounts import make_user, signed_in_client, token_for
from tests.factories import event, make_client, stored_event

ROLES = ("admin", "manager", "staff", "executive")
# Endpoints that answer with a file, not a page: their links are checked, the
# files themselves are not read for controls.
FILE_SUFFIXES = (".pdf", ".zip", ".csv", ".json")


class _Controls(HTMLParser):
    """The links and forms of a page: (method, URL, what it says)."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.found.append(("GET", attributes["href"], "link"))
        elif tag == "form":
            method = (attributes.get("method") or "get").upper()
            self.found.append((method, attributes.get("action") or "", "form"))


def _controls(page_url: str, html: str) -> list[tuple[str, str]]:
    """(method, path and query) of every control leading into the app."""
    parser = _Controls()
    parser.feed(html)
    controls = []
    for method, target, _ in parser.found:
        absolute = urljoin("http://localhost" + page_url, target)
        parts = urlsplit(absolute)
        if parts.scheme not in ("http", "https") or parts.netloc != "localhost":
            continue  # mailto:, tel:, a vendor's own page
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if target.startswith("#") or (path == page_url.split("#")[0] and method == "GET"):
            continue  # a link within the page
        controls.append((method, path))
    return controls


def _seed(app, runner, tmp_path):
    """The demo portfolio, an import with an unmatched record and a manager's job;
    returns the values for the routes' arguments."""
    result = runner.invoke(args=["demo", "load", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    export = tmp_path / "tickets.ndjson"
    export.write_text(json.dumps(event("x1", "ticket.opened", account="NOBODY", thread="X-1")))
    assert runner.invoke(args=["ingest", "tickets", str(export)]).exit_code == 0
    manager = make_user("manager", email="importer@touchline.test")
    upload = {"connector": "tickets", "file": (io.BytesIO(export.read_bytes()), "t.ndjson")}
    signed_in_client(app, manager).post("/runs/import", data=upload)
    commitment = db.session.scalars(
        select(Entity).where(Entity.type == "commitment", Entity.closed_at.is_(None))
    ).first()
    assert commitment is not None, "the demo portfolio should hold an open commitment"
    admin = make_user("admin", email="keeper@touchline.test")
    token_for(admin)
    meeting = create_meeting(
        db.session,
        db.session.get(Client, commitment.client_id),
        {"starts_at": utcnow() + timedelta(days=3)},
        actor="keeper@touchline.test",
    )
    db.session.commit()
    return {
        "meeting_id": meeting.id,
        "slug": db.session.get(Client, commitment.client_id).slug,
        "thread_type": "commitment",
        "key": commitment.key,
        "record_id": db.session.scalar(select(InboxRecord.id).limit(1)),
        "run_id": db.session.scalar(select(IngestRun.id).order_by(IngestRun.id.desc()).limit(1)),
        "user_id": admin.id,
        "token_id": db.session.scalar(select(ApiToken.id).where(ApiToken.user_id == admin.id)),
        "job_id": db.session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1)),
        "connector": "tickets",
        "name": "tickets",
        "filename": "touchline.css",
        "token": unsubscribe_token(app.config["SECRET_KEY"], admin.email, "digest"),
    }


def _pages(app, values: dict) -> list[str]:
    """A URL of every page of the app: GET routes that are not the API, static
    files, or files to download."""
    adapter = app.url_map.bind("localhost")
    pages = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("static", "api_docs_assets"):
            continue
        if rule.rule.startswith("/api/") and rule.endpoint != "api-docs.openapi_swagger_ui":
            continue
        if rule.rule.endswith(FILE_SUFFIXES) or rule.rule.startswith("/webhooks/"):
            continue
        missing = set(rule.arguments) - set(values)
        assert not missing, f"{rule.rule}: give a value for {missing} in _seed"
        pages.append(adapter.build(rule.endpoint, {n: values[n] for n in rule.arguments}))
    return sorted(set(pages))


def _endpoint(app, path: str, method: str) -> str | None:
    try:
        endpoint, _ = app.url_map.bind("localhost").match(urlsplit(path).path, method=method)
    except (NotFound, MethodNotAllowed):
        return None
    return endpoint


@pytest.fixture
def seeded(app, runner, tmp_path):
    return _seed(app, runner, tmp_path)


def test_no_visible_control_leads_to_a_403_for_any_role(app, seeded):
    pages = _pages(app, seeded)
    assert len(pages) > 20, pages
    problems = []
    seen_text: dict[str, str] = {}
    for role in ROLES:
        user = make_user(role)
        http = signed_in_client(app, user)
        followed: set[str] = set()
        for page in pages:
            response = http.get(page)
            if response.mimetype != "text/html":
                continue
            html = response.get_data(as_text=True)
            seen_text[f"{role} {page}"] = html
            for method, target in _controls(page, html):
                endpoint = _endpoint(app, target, method)
                assert endpoint is not None, f"{role} on {page}: {method} {target} leads nowhere"
                if not policy.allows(user.roles, policy.required(endpoint, method)):
                    problems.append(f"{role} on {page}: {method} {target}")
                elif method == "GET" and endpoint not in followed:
                    followed.add(endpoint)  # followed once: the policy is per endpoint
                    if http.get(target).status_code == 403:
                        problems.append(f"{role} on {page}: GET {target} answered 403")
    assert not problems, "controls that lead to a 403:\n" + "\n".join(problems)
    # The pages did show the controls a role may use, so the check above checked something.
    client_page = f"/clients/{seeded['slug']}"
    for control in ("Edit client", "Log a touch", "Mark done", "Meeting briefing"):
        assert control in seen_text[f"manager {client_page}"], control
    assert 'action="/reports/portfolio/tiers"' in seen_text["manager /reports/portfolio"]
    assert 'href="/inbox/' in seen_text[f"admin /runs/{seeded['run_id']}"]
    assert 'action="/unmatched/map"' in seen_text["admin /unmatched"]


@pytest.mark.parametrize(
    ("role", "absent", "present"),
    [
        (
            "executive",
            ("Edit client", "Log a touch", "Make a commitment", "Mark done"),
            ("Meeting briefing",),
        ),
        ("staff", ("Edit client", "Meeting briefing"), ("Log a touch", "Mark done")),
    ],
)
def test_the_client_page_offers_each_role_only_its_own_controls(
    app, login_as, role, absent, present
):
    client = make_client("acme")
    stored_event(client, "commitment.made", thread="C-1", title="Send the quote", due_at=utcnow())
    html = login_as(role).get("/clients/acme").get_data(as_text=True)
    for control in absent:
        assert control not in html, (role, control)
    for control in present:
        assert control in html, (role, control)
