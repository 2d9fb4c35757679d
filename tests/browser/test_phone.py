"""Every page people use is usable on a phone, 390 px wide, on a small
laptop, 1024-1366 px: nothing makes the page scroll
sideways, no link of the header breaks over two lines, and on a phone the
header's links are one tap away in its menu."""

import re

from playwright.sync_api import expect

from tests.browser.test_contrast import PAGES

PHONE = {"width": 390, "height": 844}
LAPTOPS = (
    {"width": 1024, "height": 768},
    {"width": 1280, "height": 800},
    {"width": 1366, "height": 768},
)
SIZES = (PHONE, *LAPTOPS)


def test_no_page_scrolls_sideways_at_any_size(page, runner):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    page.goto("/clients?flagged=true&sort=overdue")
    first = page.locator("table.directory tbody tr a").first
    expect(first).to_be_visible()
    client_url = first.get_attribute("href")
    wide, broken = {}, {}
    for size in SIZES:
        page.set_viewport_size(size)
        for url in [*PAGES, client_url, f"{client_url}/briefing", f"{client_url}/edit"]:
            page.goto(url)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > size["width"]:
                widest = page.evaluate(
                    """() => [...document.querySelectorAll('body *')]
                        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                        .slice(0, 3).map(e => e.tagName + '.' + e.className)"""
                )
                wide[size["width"], url] = (width, widest)
            # An inline link that wraps has one box per line.
            split = page.evaluate(
                """() => [...document.querySelectorAll('.topbar a')]
                    .filter(a => a.getClientRects().length > 1).map(a => a.textContent)"""
            )
            if split:
                broken[size["width"], url] = split
    assert wide == {}
    assert broken == {}


def test_the_menu_opens_on_a_phone(page):
    page.set_viewport_size(PHONE)
    page.goto("/clients")
    link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Portfolio")
    expect(link).to_be_hidden()
    page.get_by_text("Menu").click()
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(re.compile(r"/reports/portfolio$"))
