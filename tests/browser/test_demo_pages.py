"""The demo portfolio in a real browser: the pages a new user sees first render
without a script error, and their screenshots are what the README shows.

`make screenshots` runs this with TOUCHLINE_SCREENSHOT_DIR=docs/screenshots;
otherwise the screenshots go to the test's temporary folder.
"""

import os
from pathlib import Path

from playwright.sync_api import expect


def test_directory_and_a_flagged_client_with_the_demo_portfolio(page, runner, tmp_path):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    shots = Path(os.environ.get("TOUCHLINE_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    page.goto("/clients?flagged=true&sort=overdue")
    rows = page.locator("table.directory tbody tr")
    expect(rows.first).to_be_visible()
    assert rows.count() >= 3
    page.screenshot(path=shots / "directory.png", full_page=False)

    rows.first.locator("a").first.click()
    expect(page.locator("#timeline .event").first).to_be_visible()
    expect(page.locator("main")).to_contain_text("Right now")
    page.screenshot(path=shots / "client.png", full_page=False)
    assert errors == []
