"""`flask users ...` and `flask tokens ...`, and the demo admin of `make run`."""

import hashlib

from sqlalchemy import select

from crm.accounts.models import ApiToken, User
from crm.extensions import db
from tests.accounts import PASSWORD, make_user, sign_in


def users(runner, *args, input=None):
    return runner.invoke(args=["users", *args], input=input)


def test_create_an_account_with_roles_and_sign_in(runner, anonymous):
    result = users(
        runner, "create", "Ana@Example.com", "--role", "manager", "--role", "staff",
        "--name", "Ana Lima", "--password", PASSWORD,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Created ana@example.com (manager, staff)." in result.output
    user = db.session.scalar(select(User))
    assert (user.email, user.name, user.roles) == (
        "ana@example.com",
        "Ana Lima",
        ("manager", "staff"),
    )
    assert sign_in(anonymous, "ana@example.com").status_code == 302


def test_without_a_password_option_it_is_asked_for_twice(runner):
    result = users(
        runner, "create", "bo@example.com", "--role", "staff", input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output


def test_create_refuses_what_cannot_be_an_account(runner):
    make_user("staff", email="taken@example.com")
    cases = [
        (["taken@example.com", "--role", "staff", "--password", PASSWORD], "already an account"),
        (["x@example.com", "--role", "owner", "--password", PASSWORD], "'owner' is not one of"),
        (["x@example.com", "--password", PASSWORD], "Missing option '--role'"),
        (["x@example.com", "--role", "staff", "--password", "short"], "at least 12 characters"),
    ]
    for args, message in cases:
        result = users(runner, "create", *args)
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert db.session.scalar(select(User).where(User.email == "x@example.com")) is None


def test_list_deactivate_and_set_password(runner, app, anonymous):
    make_user("admin", email="root@example.com")
    make_user("staff", email="ana@example.com")

    listed = users(runner, "list").output
    assert "root@example.com" in listed and "admin" in listed and "never" in listed

    assert users(runner, "deactivate", "ANA@example.com").exit_code == 0
    assert "deactivated" in users(runner, "list").output
    assert sign_in(anonymous, "ana@example.com").status_code == 401

    reset = users(runner, "set-password", "ana@example.com", "--password", "another long secret")
    assert reset.exit_code == 0, reset.output
    assert sign_in(anonymous, "ana@example.com", "another long secret").status_code == 302

    assert (
        "there is no account for nobody@example.com"
        in users(runner, "deactivate", "nobody@example.com").output
    )
    last = users(runner, "deactivate", "root@example.com")
    assert last.exit_code != 0 and "only active admin" in last.output


def test_tokens_are_printed_once_listed_and_revoked(runner, app):
    make_user("executive", email="ceo@example.com")
    made = runner.invoke(args=["tokens", "create", "ceo@example.com", "--name", "board pack"])
    assert made.exit_code == 0, made.output
    secret = made.output.strip().splitlines()[-1]
    token = db.session.scalar(select(ApiToken))
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()

    http = app.test_client()
    http.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    assert http.get("/api/v1/me").json["email"] == "ceo@example.com"

    listed = runner.invoke(args=["tokens", "list", "ceo@example.com"]).output
    assert token.prefix in listed and "board pack" in listed and secret not in listed
    assert runner.invoke(args=["tokens", "revoke", str(token.id)]).exit_code == 0
    assert "revoked already" in runner.invoke(args=["tokens", "revoke", str(token.id)]).output
    assert http.get("/api/v1/me").status_code == 401
    assert runner.invoke(args=["tokens", "revoke", "999"]).exit_code != 0


def test_the_demo_admin_is_made_on_the_first_run_only(runner, anonymous):
    first = users(runner, "ensure-demo-admin")
    assert first.exit_code == 0, first.output
    password = first.output.split("password: ")[1].split()[0]
    assert "admin@touchline.example" in first.output
    assert sign_in(anonymous, "admin@touchline.example", password).status_code == 302
    assert anonymous.get("/admin/users").status_code == 200
    assert anonymous.get("/clients").status_code == 200

    again = users(runner, "ensure-demo-admin")
    assert again.exit_code == 0 and "no demo admin created" in again.output
    assert password not in again.output
    assert len(db.session.scalars(select(User)).all()) == 1


def test_the_demo_admin_is_refused_in_production(runner, app):
    app.config["ENV_NAME"] = "production"
    result = users(runner, "ensure-demo-admin")
    assert result.exit_code != 0 and "TOUCHLINE_ENV is production" in result.output
    assert db.session.scalar(select(User)) is None
