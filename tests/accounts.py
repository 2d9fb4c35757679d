"""Accounts for tests: users with roles, clients signed in as them, API tokens."""

import itertools
import re

from flask import Flask
from flask.testing import FlaskClient

from crm.accounts.models import ROLES, User
from crm.accounts.operations import create_user
from crm.accounts.tokens import create_token
from crm.extensions import db

PASSWORD = "correct horse battery staple"
# A cheap hash for the tests' passwords; the app's default (scrypt) is slow by design.
FAST_HASH = "pbkdf2:sha256:1000"
_numbers = itertools.count(1)
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_user(*roles: str, email: str | None = None, password: str = PASSWORD, **fields) -> User:
    """A committed, active account holding `roles` (all of them when none are given)."""
    email = email or f"{'-'.join(roles) or 'everyone'}-{next(_numbers)}@touchline.test"
    user = create_user(db.session, email, fields.pop("name", None), roles or ROLES, password)
    for name, value in fields.items():
        setattr(user, name, value)
    db.session.commit()
    return user


def csrf_token_of(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token a page of this client's session carries in its forms."""
    page = client.get(path)
    found = _CSRF_FIELD.search(page.get_data(as_text=True))
    assert found, f"no CSRF field on {path} ({page.status_code})"
    return found.group(1)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra):
    """Sign in through the login form, with its CSRF token when CSRF is on."""
    form = {"email": email, "password": password} | extra
    if client.application.config["WTF_CSRF_ENABLED"]:
        form["csrf_token"] = csrf_token_of(client)
    return client.post("/login", data=form)


def signed_in_client(app: Flask, user: User | None = None) -> FlaskClient:
    """A test client with a session of `user` (default: a new account with every role)."""
    user = user or make_user()
    client = app.test_client()
    response = sign_in(client, user.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def token_for(user: User, name: str = "tests") -> str:
    _, secret = create_token(db.session, user, name)
    db.session.commit()
    return secret


def with_token(client: FlaskClient, secret: str) -> FlaskClient:
    """Send `Authorization: Bearer <secret>` on every request of this client."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client
