"""What staff do in the browser: find a client, read its history, log touches,
keep promises, and put unmatched records on the right client."""

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from crm.timeline.queries import PAGE_SIZE
from tests.factories import event, make_client, ndjson
from tests.helpers import ingest_file


def _recent(n: int, kind: str, hours_ago: float, **fields) -> dict:
    record = event(f"{kind}-{n}", kind, **fields)
    when = datetime.now(UTC) - timedelta(hours=hours_ago)
    return record | {"occurred_at": when.isoformat()}


def test_directory_filters_by_tier_and_opens_a_client(page, app):
    make_client("acme-dental", name="Acme Dental", tier="key")
    make_client("beta-build", name="Beta Build", tier="standard")

    page.goto("/")
    rows = page.locator("table.directory tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Tier").select_option("key")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Acme Dental")

    rows.first.get_by_role("link", name="Acme Dental").click()
    expect(page).to_have_url(re.compile(r"/clients/acme-dental$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Acme Dental")


def test_timeline_filters_by_source_and_pages_to_older_events(page, runner, tmp_path):
    make_client("acme", name="Acme", identities=[("account", "AC-1")])
    alerts = [
        _recent(n, "alert.raised", hours_ago=n + 10, account="AC-1", title=f"Disk alert {n}")
        for n in range(PAGE_SIZE + 5)
    ]
    ticket = _recent(1, "ticket.opened", hours_ago=3, account="AC-1", title="VPN drops")
    ingest_file(runner, "rmm", ndjson(tmp_path / "rmm.ndjson", alerts))
    ingest_file(runner, "tickets", ndjson(tmp_path / "tickets.ndjson", [ticket]))

    page.goto("/clients/acme")
    titles = page.locator("#timeline .event-title")
    expect(titles).to_have_count(PAGE_SIZE)
    expect(titles.first).to_have_text("VPN drops")

    page.locator("#timeline").get_by_label("tickets").check()
    page.locator("#timeline").get_by_role("button", name="Filter").click()
    expect(titles).to_have_count(1)
    expect(titles.first).to_have_text("VPN drops")

    page.goto("/clients/acme")
    first_page = titles.all_text_contents()
    page.get_by_role("link", name=re.compile("Older")).click()
    # the older page has loaded when its last event is the oldest of all
    expect(titles.last).to_have_text(f"Disk alert {PAGE_SIZE + 4}")
    older = titles.all_text_contents()
    assert len(first_page) + len(older) == PAGE_SIZE + 6
    assert not set(first_page) & set(older)
    assert older[-1] == f"Disk alert {PAGE_SIZE + 4}"


def test_a_logged_note_goes_on_top(page):
    make_client("acme", name="Acme")
    page.goto("/clients/acme")
    log = page.locator("#log")
    log.get_by_label("What was said or agreed").fill("Asked about the new printer; all fine.")
    log.get_by_label("Title").fill("Printer check-in")
    expect(log).to_contain_text("Signed as Browser Tester")  # no name to type, or to forge
    log.get_by_role("button", name="Log it").click()

    expect(page.locator(".flash")).to_be_visible()
    expect(page.locator("#timeline .event-title").first).to_have_text("Printer check-in")
    expect(page.locator("#timeline .event").first).to_contain_text("Browser Tester")


def test_a_commitment_is_shown_until_it_is_marked_done(page):
    make_client("acme", name="Acme", timezone="Europe/Lisbon")
    page.goto("/clients/acme")
    promise = page.locator("#commit")
    promise.get_by_label("What we promise").fill("Call back about the firewall quote")
    due = datetime.now(UTC) + timedelta(days=1)
    promise.get_by_label("Due").fill(due.strftime("%Y-%m-%dT%H:%M"))
    promise.get_by_role("button", name="Record commitment").click()

    done_form = page.locator("form.done-form")
    expect(done_form).to_have_count(1)
    expect(page.locator("main")).to_contain_text("Call back about the firewall quote")
    done_form.get_by_role("button", name="Mark done").click()

    expect(page.locator("form.done-form")).to_have_count(0)
    expect(page.locator("#timeline .event").first).to_contain_text("Call back about the firewall")


def test_mapping_an_unmatched_hint_puts_its_records_on_the_client(page, runner, tmp_path):
    make_client("acme-dental", name="Acme Dental", emails=["office@acmedental.example"])
    records = [
        _recent(
            n,
            "invoice.issued",
            hours_ago=n + 1,
            account="ACC-77",
            title=f"Invoice {n}",
            amount="120.00",
            currency="EUR",
            thread=f"INV-{n}",
        )
        for n in range(3)
    ]
    summary = ingest_file(runner, "billing", ndjson(tmp_path / "billing.ndjson", records))
    assert summary["unmatched"] == 3

    page.goto("/unmatched")
    group = page.locator("article").filter(has_text="ACC-77")
    expect(group).to_have_count(1)
    group.get_by_placeholder("slug or name").fill("acme-dental")
    group.get_by_role("button", name="Map and replay 3 records").click()
    expect(page.locator(".flash")).to_contain_text("3 records replayed")
    expect(page.locator("article").filter(has_text="ACC-77")).to_have_count(0)

    page.goto("/clients/acme-dental")
    expect(page.locator("#timeline .event-title")).to_have_text(
        ["Invoice 0", "Invoice 1", "Invoice 2"]
    )
