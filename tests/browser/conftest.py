"""A real browser against a real server: Playwright driving Debian's Chromium.

The app is served by werkzeug in a thread, on the session's test database,
so data a test writes through the `app` fixture is what the browser sees.

`page` is signed in, through the real login page (CSRF on, as in
production), as an account holding every role; `anonymous_page` is not.

Locally a machine without Chromium skips these tests and says how to install
it; `.ci/run` sets TOUCHLINE_REQUIRE_BROWSER=1, where a missing browser fails.
Playwright's own browser download (`playwright install`) is never used.
"""

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from crm.extensions import db
from factory import create_app
from tests.accounts import PASSWORD, make_user

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = "install it with `apt-get install -y chromium` (Debian's package)"


def _chromium() -> str | None:
    return os.environ.get("TOUCHLINE_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium_path():
    path = _chromium()
    if path is None:
        if os.environ.get("TOUCHLINE_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium is required for the browser tests: {INSTALL_HINT}")
        pytest.skip(f"browser tests need Chromium: {INSTALL_HINT}")
    return path


@pytest.fixture(scope="session")
def live_server(database_url):
    """The base URL of the app served on 127.0.0.1 for the whole session."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    with app.app_context():  # close the server's pooled connections
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture
def anonymous_page(browser, live_server, app):
    """A fresh page whose relative URLs go to the live server. Depends on `app`
    so the tables are emptied after each test, as in the rest of the suite.
    A desktop's screen (DESKTOP), where the header shows every link; phones and
    laptops are tests/browser/test_phone.py's."""
    context = browser.new_context(base_url=live_server, viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def page(anonymous_page):
    """`anonymous_page` signed in through the login form as an account with every role."""
    user = make_user(email="browser@touchline.test", name="Browser Tester")
    sign_in_page(anonymous_page, user.email)
    return anonymous_page


def sign_in_page(page, email: str, password: str = PASSWORD) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
