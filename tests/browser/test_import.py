"""Importing a vendor file from the web app, in a real browser, as a manager:
pick the system, give the file, follow the job to the run it made."""

import json

from playwright.sync_api import expect

from tests.accounts import make_user
from tests.browser.conftest import sign_in_page
from tests.factories import event, make_client


def test_a_manager_imports_a_file_and_follows_it_to_its_run(anonymous_page, tmp_path):
    make_client("acme", identities=[("account", "AC-1")])
    manager = make_user("manager", email="manager@touchline.test")
    sign_in_page(anonymous_page, manager.email)
    page = anonymous_page
    export = tmp_path / "tickets.ndjson"
    export.write_text(
        json.dumps(event("b1", "ticket.opened", 0, account="AC-1", thread="T-1")) + "\n"
        + json.dumps(event("b2", "ticket.opened", 1, account="NOBODY", thread="T-2")) + "\n"
    )  # fmt: skip
    page.get_by_role("link", name="Runs").click()
    page.get_by_label("From").select_option("tickets")
    page.get_by_label("The file").set_input_files(str(export))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("link", name="Ingest run #")).to_be_visible()
    page.get_by_role("link", name="Ingest run #").click()
    expect(page.locator(".run-count-accepted dd")).to_have_text("1")
    expect(page.locator(".run-count-unmatched dd")).to_have_text("1")
