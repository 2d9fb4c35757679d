"""Signing in and out, passwords, login rate limiting and API tokens."""

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select, update

from crm.accounts import ratelimit
from crm.accounts.models import ApiToken, LoginAttempt, User, UserRole
from crm.accounts.tokens import TOKEN_PREFIX
from crm.extensions import db
from crm.models.types import utcnow
from factory import create_app
from tests.accounts import (
    FAST_HASH,
    PASSWORD,
    make_user,
    sign_in,
    signed_in_client,
    token_for,
    with_token,
)
from tests.factories import make_client

# --- signing in and out -----------------------------------------------------------------


def test_the_login_page_signs_in_and_goes_where_the_visitor_was_going(anonymous):
    make_client("acme")
    user = make_user("staff", email="Ana.Lima@Example.COM ")
    assert user.email == "ana.lima@example.com"

    first = anonymous.get("/clients/acme?kind=ticket.opened")
    target = parse_qs(urlsplit(first.headers["Location"]).query)["next"][0]
    assert target == "/clients/acme?kind=ticket.opened"

    response = sign_in(anonymous, "ANA.LIMA@example.com", next=target)
    assert response.status_code == 302 and response.headers["Location"] == target
    assert anonymous.get(target).status_code == 200
    assert db.session.get(User, user.id).last_login_at is not None


def test_a_wrong_password_or_an_unknown_email_get_the_same_answer(anonymous):
    make_user("staff", email="ana@example.com")
    wrong = sign_in(anonymous, "ana@example.com", "not the password")
    unknown = sign_in(anonymous, "nobody@example.com", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong email or password." in response.get_data(as_text=True)
    assert anonymous.get("/clients").status_code == 302


def test_a_next_that_leads_off_the_site_is_ignored(anonymous):
    user = make_user("staff")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"):
        response = sign_in(anonymous, user.email, next=target)
        assert response.headers["Location"] == "/clients", target
        anonymous.post("/logout")


def test_a_deactivated_account_cannot_sign_in_and_its_session_ends(app):
    user = make_user("staff")
    http = signed_in_client(app, user)
    user.active = False
    db.session.commit()

    assert http.get("/clients").status_code == 302
    response = sign_in(app.test_client(), user.email)
    assert response.status_code == 401


def test_signing_out_ends_the_session_and_needs_a_post(login_as):
    http = login_as("staff")
    assert http.get("/logout").status_code == 405
    response = http.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert http.get("/clients").status_code == 302


def test_a_new_password_signs_out_the_other_sessions(app):
    user = make_user("staff")
    elsewhere = signed_in_client(app, user)
    here = signed_in_client(app, user)

    changed = here.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a much longer passphrase",
            "repeat_password": "a much longer passphrase",
        },
    )
    assert changed.status_code == 302
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302
    assert sign_in(app.test_client(), user.email, "a much longer passphrase").status_code == 302


def test_changing_ones_password_checks_the_current_one_and_the_rules(login_as):
    http = login_as("executive")
    cases = [
        ({"current_password": "wrong", "new_password": "x" * 20, "repeat_password": "x" * 20},
         "The current password is wrong."),
        ({"current_password": PASSWORD, "new_password": "short", "repeat_password": "short"},
         "at least 12 characters"),
        ({"current_password": PASSWORD, "new_password": "y" * 20, "repeat_password": "z" * 20},
         "The new passwords differ."),
    ]  # fmt: skip
    for form, message in cases:
        response = http.post("/account/password", data=form)
        assert response.status_code == 422 and message in response.get_data(as_text=True), message


def test_passwords_are_stored_hashed_by_the_configured_method(app):
    user = make_user("staff")
    assert user.password_hash.startswith(FAST_HASH.split(":")[0])
    assert PASSWORD not in user.password_hash
    app.config["PASSWORD_HASH_METHOD"] = "scrypt"
    assert make_user("staff").password_hash.startswith("scrypt:")


# --- login rate limiting ------------------------------------------------------------------


def test_too_many_failures_for_an_email_are_refused_even_with_the_right_password(app, anonymous):
    app.config["LOGIN_MAX_FAILURES"] = 3
    user = make_user("staff")
    for _ in range(3):
        assert sign_in(anonymous, user.email, "wrong").status_code == 401

    refused = sign_in(anonymous, user.email, PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
    # Another account from the same address is not locked out by these.
    assert sign_in(anonymous, make_user("staff").email).status_code == 302


def test_the_limit_lifts_when_the_failures_leave_the_window(app, anonymous):
    app.config["LOGIN_MAX_FAILURES"] = 2
    user = make_user("staff")
    for _ in range(2):
        sign_in(anonymous, user.email, "wrong")
    assert sign_in(anonymous, user.email).status_code == 429

    db.session.execute(update(LoginAttempt).values(at=utcnow() - timedelta(minutes=16)))
    db.session.commit()
    assert sign_in(anonymous, user.email).status_code == 302


def test_too_many_failures_from_one_address_are_refused_whatever_the_email(app, anonymous):
    app.config["LOGIN_MAX_FAILURES_PER_IP"] = 4
    for number in range(4):
        assert sign_in(anonymous, f"guess{number}@example.com", "x").status_code == 401
    assert sign_in(anonymous, make_user("staff").email).status_code == 429
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert sign_in(elsewhere, make_user("staff").email).status_code == 302


def test_a_success_ends_the_emails_run_of_failures(app, anonymous):
    app.config["LOGIN_MAX_FAILURES"] = 3
    user = make_user("staff")
    for _ in range(2):
        sign_in(anonymous, user.email, "wrong")
    assert sign_in(anonymous, user.email).status_code == 302
    anonymous.post("/logout")
    for _ in range(2):
        assert sign_in(anonymous, user.email, "wrong").status_code == 401
    assert sign_in(anonymous, user.email).status_code == 302


def test_every_process_counts_the_same_attempts(app, anonymous, database_url):
    """The count is in the database: another app (another worker) sees it."""
    app.config["LOGIN_MAX_FAILURES"] = 2
    user = make_user("staff")
    for _ in range(2):
        sign_in(anonymous, user.email, "wrong")

    other = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "LOGIN_MAX_FAILURES": 2,
        }
    )
    try:
        refused = other.test_client().post(
            "/login", data={"email": user.email, "password": PASSWORD}
        )
        assert refused.status_code == 429
    finally:
        with other.app_context():
            db.engine.dispose()


def test_attempts_arriving_together_are_never_checked_past_the_limit(app):
    """Recorded before they are counted: of attempts that all arrive before
    any is checked, the k-th recorded sees k, so only the limit's first pass.
    (Counted first, 60 parallel wrong passwords had 6 checked against 5.)"""
    limits = ratelimit.Limits(per_email=5, per_address=100, window=timedelta(minutes=15))
    now = utcnow()
    attempts = [
        ratelimit.begin(db.session, "victim@example.com", "10.0.0.7", now) for _ in range(9)
    ]
    verdicts = [ratelimit.refusal(db.session, attempt, limits, now) for attempt in attempts]
    assert sum(verdict is None for verdict in verdicts) == 5


def test_parallel_wrong_passwords_are_checked_at_most_the_limit(app):
    """60 browsers at once, each with its own connection."""
    app.config["LOGIN_MAX_FAILURES"] = 5
    user = make_user("staff")
    email = user.email

    def attempt(_):
        with app.app_context():
            try:
                return app.test_client().post("/login", data={"email": email, "password": "x"})
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = [response.status_code for response in pool.map(attempt, range(60))]
    assert codes.count(401) <= 5
    assert codes.count(401) + codes.count(429) == 60


def test_the_owner_still_signs_in_from_an_address_they_used_before(app):
    """A stranger's failures lock the email out everywhere but where its owner
    signed in before; there only the address's own limit applies."""
    app.config["LOGIN_MAX_FAILURES"] = 3
    user = make_user("staff")
    office = app.test_client()
    office.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    assert sign_in(office, user.email).status_code == 302
    office.post("/logout")
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "198.51.100.66"
    for _ in range(4):
        sign_in(stranger, user.email, "guess")
    assert sign_in(stranger, user.email).status_code == 429
    new_place = app.test_client()
    new_place.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    assert sign_in(new_place, user.email).status_code == 429
    assert sign_in(office, user.email).status_code == 302


# --- API tokens ---------------------------------------------------------------------------


def test_an_admin_makes_a_token_shown_once_and_stored_hashed(login_as):
    admin = login_as("admin")
    owner = make_user("executive", email="exec@example.com")

    page = admin.post(f"/admin/users/{owner.id}/tokens", data={"name": "board pack script"})
    assert page.status_code == 201
    html = page.get_data(as_text=True)
    secret = html.split('<code class="secret-value">')[1].split("</code>")[0]
    assert secret.startswith(TOKEN_PREFIX) and len(secret) > 40

    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == owner.id))
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:10] and token.name == "board pack script"
    assert secret not in admin.get(f"/admin/users/{owner.id}/tokens").get_data(as_text=True)

    me = with_token(admin.application.test_client(), secret).get("/api/v1/me")
    assert me.status_code == 200
    assert me.json | {"id": None} == {
        "id": None,
        "email": "exec@example.com",
        "name": "exec",
        "roles": ["executive"],
        "capabilities": ["briefings", "clients:read", "digest", "portfolio"],
        "authenticated_by": "token",
        "token": token.prefix,
    }


def test_a_revoked_token_is_refused(app, login_as):
    owner = make_user("manager")
    secret = token_for(owner)
    api = with_token(app.test_client(), secret)
    assert api.get("/api/v1/me").status_code == 200

    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == owner.id))
    admin = login_as("admin")
    revoked = admin.post(f"/admin/users/{owner.id}/tokens/{token.id}/revoke")
    assert revoked.status_code == 302
    assert db.session.get(ApiToken, token.id).revoked_at is not None

    refused = api.get("/api/v1/me")
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert "unknown, revoked" in refused.json["message"]


def test_unknown_tokens_other_schemes_and_deactivated_accounts_are_refused(app):
    owner = make_user("manager")
    secret = token_for(owner)
    for header in (f"Bearer {TOKEN_PREFIX}nonsense", "Bearer ", f"Basic {secret}", secret):
        http = app.test_client()
        http.environ_base["HTTP_AUTHORIZATION"] = header
        assert http.get("/api/v1/me").status_code == 401, header
    owner.active = False
    db.session.commit()
    assert with_token(app.test_client(), secret).get("/api/v1/me").status_code == 401


def test_a_tokens_last_use_is_written_at_most_once_a_minute(app):
    owner = make_user("staff")
    api = with_token(app.test_client(), token_for(owner))
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == owner.id))
    assert token.last_used_at is None

    api.get("/api/v1/me")
    first = db.session.get(ApiToken, token.id).last_used_at
    assert first is not None
    api.get("/api/v1/me")
    assert db.session.get(ApiToken, token.id).last_used_at == first

    token.last_used_at = first - timedelta(minutes=2)
    db.session.commit()
    api.get("/api/v1/me")
    assert db.session.get(ApiToken, token.id).last_used_at > first - timedelta(minutes=2)


def test_a_token_call_is_decided_on_the_roles_its_user_holds_now(app):
    owner = make_user("executive", "staff")
    api = with_token(app.test_client(), token_for(owner))
    me = api.get("/api/v1/me").json
    assert me["roles"] == ["staff", "executive"] and me["authenticated_by"] == "token"
    assert api.get("/api/v1/audit").status_code == 403

    owner.role_rows.clear()
    db.session.commit()
    refused = api.get("/api/v1/clients")
    assert refused.status_code == 403
    assert "Your roles (no role)" in refused.json["message"]

    owner.role_rows.append(UserRole(role="admin"))
    db.session.commit()
    assert api.get("/api/v1/audit").status_code == 200


# --- admin pages --------------------------------------------------------------------------


def test_an_admin_creates_an_account_with_a_generated_password_shown_once(app, login_as):
    admin = login_as("admin")
    page = admin.post(
        "/admin/users",
        data={
            "email": "New.Person@Example.com",
            "name": "New Person",
            "roles": ["staff", "executive"],
        },
    )
    assert page.status_code == 201
    password = page.get_data(as_text=True).split('<code class="secret-value">')[1].split("<")[0]
    user = db.session.scalar(select(User).where(User.email == "new.person@example.com"))
    assert user.roles == ("staff", "executive") and user.name == "New Person"
    assert sign_in(app.test_client(), user.email, password).status_code == 302


def test_the_admin_forms_refuse_bad_input_by_field(login_as):
    admin = login_as("admin")
    taken = make_user("staff", email="taken@example.com")
    cases = [
        ({"email": "taken@example.com", "roles": "staff"}, 409, "there is already an account"),
        ({"email": "x@example.com"}, 422, "Pick at least one role."),
        ({"email": "x@example.com", "roles": "owner"}, 422, "roles"),
        ({"email": "not an address", "roles": "staff"}, 422, "is not an email address"),
        ({"email": "y@example.com", "roles": "staff", "password": "short"}, 422, "at least 12"),
    ]
    for form, status, message in cases:
        page = admin.post("/admin/users", data=form)
        assert page.status_code == status, form
        assert message in page.get_data(as_text=True), form
    assert admin.post(f"/admin/users/{taken.id}/roles", data={}).status_code == 422


def test_an_admin_changes_roles_resets_a_password_and_deactivates(app, login_as):
    admin = login_as("admin")
    user = make_user("staff")
    session = signed_in_client(app, user)

    assert (
        admin.post(f"/admin/users/{user.id}/roles", data={"roles": ["manager"]}).status_code == 302
    )
    assert db.session.get(User, user.id).roles == ("manager",)
    assert session.get("/clients/new").status_code == 200  # roles apply at once

    reset = admin.post(f"/admin/users/{user.id}/password", data={"password": ""})
    assert reset.status_code == 200 and "secret-value" in reset.get_data(as_text=True)
    assert session.get("/clients").status_code == 302  # signed out by the new password

    assert admin.post(f"/admin/users/{user.id}/active", data={"active": "false"}).status_code == 302
    assert db.session.get(User, user.id).active is False
    assert admin.post(f"/admin/users/{user.id}/active", data={"active": "true"}).status_code == 302
    assert db.session.get(User, user.id).active is True


def test_the_last_active_admin_cannot_be_removed(login_as):
    admin_client = login_as("admin")
    only = db.session.scalar(select(User))
    roles = admin_client.post(f"/admin/users/{only.id}/roles", data={"roles": ["staff"]})
    assert roles.status_code == 409 and "only active admin" in roles.get_data(as_text=True)
    gone = admin_client.post(f"/admin/users/{only.id}/active", data={"active": "false"})
    assert gone.status_code == 409
    assert db.session.get(User, only.id).roles == ("admin",)


def test_unknown_accounts_and_tokens_are_404(login_as):
    admin = login_as("admin")
    other = make_user("staff")
    assert admin.get("/admin/users/9999").status_code == 404
    assert admin.post(f"/admin/users/{other.id}/tokens/9999/revoke").status_code == 404
