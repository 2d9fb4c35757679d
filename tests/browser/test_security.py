"""Signing in and out in a real browser, and the Content-Security-Policy the
pages are served with: Chromium reports no violation on any main page."""

import re

from playwright.sync_api import expect

from tests.accounts import PASSWORD, make_user
from tests.factories import event, make_client, ndjson, stored_event
from tests.helpers import ingest_file

# Set before any page script runs: every CSP violation the page reports.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def test_an_anonymous_visitor_signs_in_and_lands_where_they_were_going(anonymous_page):
    make_client("acme", name="Acme Dental")
    user = make_user("staff", email="ana@example.com", name="Ana Lima")
    page = anonymous_page

    page.goto("/clients/acme")
    expect(page).to_have_url(
        re.compile(r"/login\?next=%2Fclients%2Facme$|/login\?next=/clients/acme$")
    )
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")

    page.get_by_label("Password").fill(PASSWORD)  # the form kept where they were going
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/clients/acme$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Dental")
    menu = page.get_by_role("navigation", name="Main")
    expect(menu.get_by_role("link", name="Clients")).to_be_visible()
    expect(menu.get_by_role("link", name="Unmatched")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    page.goto("/clients")
    expect(page).to_have_url(re.compile(r"/login"))


def test_no_page_breaks_the_content_security_policy(page, runner, tmp_path):
    acme = make_client("acme", name="Acme Dental", tier="key", identities=[("account", "AC-1")])
    stored_event(acme, "ticket.opened", thread="T-1", title="VPN drops")
    stored_event(acme, "invoice.issued", thread="INV-1", amount="120.00", currency="EUR")
    waiting = event("t-9", "ticket.opened", account="AC-404", title="Printer", thread="T-9")
    run = ingest_file(runner, "tickets", ndjson(tmp_path / "t.ndjson", [waiting]))
    admin = make_user("admin", email="root@example.com")

    problems = []
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.on(
        "console",
        lambda message: message.type == "error" and problems.append(f"{page.url}: {message.text}"),
    )
    page.add_init_script(RECORD_VIOLATIONS)
    paths = [
        "/clients",
        "/clients/new",
        "/clients/acme",
        "/clients/acme/edit",
        "/clients/acme/threads/ticket/T-1",
        "/clients/acme/briefing",
        "/briefings?tier=key",
        "/reports/portfolio",
        "/overview",
        "/unmatched",
        "/runs",
        f"/runs/{run['run_id']}",
        "/account",
        "/admin/users",
        f"/admin/users/{admin.id}",
        f"/admin/users/{admin.id}/tokens",
        "/admin/audit",
    ]
    for path in paths:
        response = page.goto(path)
        assert response.status == 200, path
        assert "Content-Security-Policy" in {name.title() for name in response.headers}, path
        page.wait_for_load_state("load")
        violations = page.evaluate("window.__violations")
        assert violations == [], (path, violations)
    assert problems == []
