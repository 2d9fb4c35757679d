"""Sessions the server can end: signing out, everywhere else, and by a new password.

A signed cookie alone cannot be taken back, so a copy of it worked after
"Sign out" until the password changed.
"""

from flask.testing import FlaskClient

from crm.accounts.operations import set_active
from crm.extensions import db
from tests.accounts import PASSWORD, make_user, sign_in, signed_in_client


def copy_of(app, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of this one's session cookie."""
    other = app.test_client()
    cookie = client.get_cookie("session")
    other.set_cookie(cookie.key, cookie.value)
    return other


def signed_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


def test_a_copied_cookie_stops_working_when_its_session_signs_out(app):
    user = make_user("staff")
    browser = signed_in_client(app, user)
    stolen = copy_of(app, browser)
    assert signed_in(stolen)
    assert browser.post("/logout").status_code == 302
    assert not signed_in(stolen)
    assert stolen.get("/account").headers["Location"].startswith("/login")


def test_signing_out_everywhere_else_keeps_this_browser(app):
    user = make_user("staff")
    laptop, phone = signed_in_client(app, user), signed_in_client(app, user)
    page = laptop.get("/account").get_data(as_text=True)
    assert "Where you are signed in" in page and "(this browser)" in page
    response = laptop.post("/account/sessions/end")
    assert response.status_code == 302
    assert "1 other session signed out." in laptop.get("/account").get_data(as_text=True)
    assert signed_in(laptop) and not signed_in(phone)


def test_a_new_password_ends_the_other_sessions_but_not_this_one(app):
    user = make_user("staff")
    laptop, phone = signed_in_client(app, user), signed_in_client(app, user)
    form = {
        "current_password": PASSWORD,
        "new_password": "another long passphrase",
        "repeat_password": "another long passphrase",
    }
    assert laptop.post("/account/password", data=form).status_code == 302
    assert signed_in(laptop) and not signed_in(phone)


def test_deactivation_ends_every_session(app):
    user = make_user("staff")
    browser = signed_in_client(app, user)
    set_active(db.session, user, False)
    db.session.commit()
    assert not signed_in(browser)
    set_active(db.session, user, True)
    db.session.commit()
    assert not signed_in(browser)  # ended for good: signing in again starts a new one
    again = app.test_client()
    assert sign_in(again, user.email).status_code == 302 and signed_in(again)
