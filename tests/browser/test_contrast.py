"""Text is readable: every badge, flag and link on the pages people use most
meets WCAG AA contrast (4.5:1 for body text), checked in a real browser by
axe-core (the engine behind most accessibility audits; the package
axe-playwright-python ships it)."""

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

PAGES = (
    "/clients",
    "/clients?flagged=true",
    "/unmatched",
    "/runs",
    "/jobs",
    "/reports/portfolio",
    "/briefings",
    "/account",
    "/admin/users",
    "/admin/audit",
)


def test_every_page_meets_the_contrast_minimum(page, runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    axe = Axe()
    urls = list(PAGES)
    page.goto("/clients?flagged=true&sort=overdue")
    first = page.locator("table.directory tbody tr a").first
    expect(first).to_be_visible()
    client_url = first.get_attribute("href")
    urls += [client_url, f"{client_url}/briefing", f"{client_url}/edit"]
    found = {}
    for url in urls:
        page.goto(url)
        results = axe.run(page, options={"runOnly": ["color-contrast"]})
        for violation in results.response["violations"]:
            for node in violation["nodes"]:
                found.setdefault(url, []).append(
                    (node["target"], node["any"][0]["message"] if node["any"] else "")
                )
    assert found == {}, "\n".join(
        f"{url}: {target} {message}" for url, nodes in found.items() for target, message in nodes
    )
