"""The search box in a real browser: `/` focuses it from anywhere but a
field, a few letters and Enter open a client's card (the switcher), Enter
on other text searches everything, and the skip link takes the keyboard
past the header. At desktop and phone sizes."""

import re

import pytest
from playwright.sync_api import expect

from tests.factories import make_client

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def clients(app):
    make_client("collins-facilities", name="Collins Facilities Group")
    make_client("collier-logistics", name="Collier Logistics")
    make_client("harbour-dental", name="Harbour Dental")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_slash_focuses_the_box_and_a_few_letters_open_the_card(page, clients, size):
    if size == "phone":
        page.set_viewport_size(PHONE)
    page.goto("/clients")
    box = page.get_by_role("combobox", name="Search clients")
    page.locator("h1").click()
    page.keyboard.press("/")
    expect(box).to_be_focused()
    expect(box).to_have_value("")  # the slash itself is not typed

    page.keyboard.type("harb")
    options = page.locator("#site-search-clients").get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/clients/harbour-dental$"))


def test_arrows_pick_a_client_and_other_text_searches_everything(page, clients):
    page.goto("/clients")
    box = page.get_by_role("combobox", name="Search clients")
    box.click()
    page.keyboard.type("Colins")  # a typo: offered, but nothing picked yet
    options = page.locator("#site-search-clients").get_by_role("option")
    expect(options.first).to_contain_text("Collins Facilities Group")
    expect(page.locator("[aria-selected=true]")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=Colins$"))
    expect(page.get_by_role("heading", name=re.compile("Clients"))).to_be_visible()

    box = page.get_by_role("combobox", name="Search clients")
    box.fill("")
    box.type("colli")
    expect(options).to_have_count(2)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    second = options.nth(1)
    expect(second).to_have_attribute("aria-selected", "true")
    slug = second.locator(".slug").inner_text()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/clients/{slug}$"))


def test_a_slash_typed_in_a_field_stays_in_the_field(page, clients):
    page.goto("/search")
    field = page.get_by_label("Find a client")
    field.click()
    page.keyboard.type("a/b")
    expect(field).to_have_value("a/b")


def test_the_skip_link_is_the_first_stop_and_goes_to_the_content(page, clients):
    page.goto("/clients")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("main#content")).to_be_focused()
