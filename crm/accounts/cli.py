"""`flask users ...` and `flask tokens ...`: accounts from the command line,
for the first admin, scripts, and getting back in when no admin can."""

import contextlib

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from crm.accounts.models import ROLES, ApiToken, User
from crm.accounts.operations import (
    AccountError,
    audit,
    find_user,
    generate_password,
    issue_token,
    open_account,
    set_active,
    set_password,
    withdraw_token,
)
from crm.extensions import db

users_cli = AppGroup("users", help="Accounts: create, list, deactivate, set passwords.")
tokens_cli = AppGroup("tokens", help="API tokens: create (shown once), list, revoke.")

DEMO_ADMIN_EMAIL = "admin@touchline.example"
# The demo admin sees everything: admin for the settings, manager for the clients.
DEMO_ADMIN_ROLES = ("admin", "manager")

_role_option = click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(ROLES),
    help="A role the account holds; repeat for several.",
)


def _fail(message: str) -> None:
    raise click.ClickException(message)


@contextlib.contextmanager
def _refusal_fails(naming_field: bool = True):
    """An AccountError raised inside is rolled back and fails the command
    with its message (after the field it names, unless `naming_field` is off)."""
    try:
        yield
    except AccountError as error:
        db.session.rollback()
        _fail(f"{error.field}: {error.message}" if naming_field else error.message)


def _user(email: str) -> User:
    user = find_user(db.session, email)
    if user is None:
        _fail(f"there is no account for {email.strip().lower()}")
    return user


@users_cli.command("create")
@click.argument("email")
@_role_option
@click.option("--name", help="The name people see (default: the part before the @).")
@click.option(
    "--password",
    help="The password; without it you are asked for one (not echoed).",
)
def create_command(email: str, roles: tuple[str, ...], name: str | None, password: str | None):
    """Create an account with one or more roles."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _refusal_fails():
        user = open_account(db.session, email, name, roles, password)
    db.session.commit()
    click.echo(f"Created {user.email} ({', '.join(user.roles)}).")


@users_cli.command("list")
def list_command():
    """Every account: email, roles, whether active, last sign-in."""
    users = db.session.scalars(select(User).order_by(User.email)).all()
    if not users:
        click.echo("No accounts yet: flask users create EMAIL --role admin")
        return
    for user in users:
        state = "active" if user.active else "deactivated"
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else "never"
        click.echo(f"{user.id:>4}  {user.email:<40} {','.join(user.roles):<28} {state:<12} {last}")


@users_cli.command("deactivate")
@click.argument("email")
def deactivate_command(email: str):
    """Sign an account out everywhere and stop its API tokens (nothing is deleted)."""
    user = _user(email)
    with _refusal_fails(naming_field=False):
        set_active(db.session, user, False)
    audit(db.session, "user.deactivate", "user", user.email)
    db.session.commit()
    click.echo(f"Deactivated {user.email}.")


@users_cli.command("set-password")
@click.argument("email")
@click.option("--password", help="The new password; without it you are asked for one.")
def set_password_command(email: str, password: str | None):
    """Give an account a new password (and activate it again): for getting back in."""
    user = _user(email)
    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _refusal_fails():
        set_password(user, password)
        set_active(db.session, user, True)
    audit(db.session, "user.password", "user", user.email, {"generated": False})
    db.session.commit()
    click.echo(f"New password set for {user.email}.")


@users_cli.command("ensure-demo-admin")
def ensure_demo_admin_command():
    """On a database without accounts, create the demo admin and print its
    password, once. Refused when TOUCHLINE_ENV is production."""
    if current_app.config["ENV_NAME"] == "production":
        _fail(
            "TOUCHLINE_ENV is production: no demo admin. "
            "Create the first account with `flask users create EMAIL --role admin`."
        )
    if db.session.scalar(select(func.count()).select_from(User)):
        click.echo("Accounts exist already: no demo admin created.")
        return
    password = generate_password()
    user = open_account(db.session, DEMO_ADMIN_EMAIL, "Demo admin", DEMO_ADMIN_ROLES, password)
    db.session.commit()
    click.echo("A demo admin was created; its password is shown this once:")
    click.echo(f"  email:    {user.email}")
    click.echo(f"  password: {password}")
    click.echo(f"  roles:    {', '.join(user.roles)}")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", help="What the token is for, e.g. the script that uses it.")
def create_token_command(email: str, name: str | None):
    """Make an API token for an account and print it once."""
    user = _user(email)
    if not user.active:
        _fail(f"{user.email} is deactivated: its tokens would be refused")
    token, secret = issue_token(db.session, user, name)
    db.session.commit()
    click.echo(f"Token {token.id} ({token.name}) for {user.email}; it is shown this once:")
    click.echo(secret)


@tokens_cli.command("list")
@click.argument("email", required=False)
def list_tokens_command(email: str | None):
    """API tokens (of one account, or all): id, account, name, last use, state."""
    query = select(ApiToken).join(User).order_by(User.email, ApiToken.id)
    if email:
        query = query.where(ApiToken.user_id == _user(email).id)
    for token in db.session.scalars(query):
        used = token.last_used_at.strftime("%Y-%m-%d %H:%M") if token.last_used_at else "never"
        state = "revoked" if token.revoked else "live"
        click.echo(
            f"{token.id:>4}  {token.user.email:<32} {token.prefix}…  {token.name:<24} "
            f"used {used:<16} {state}"
        )


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_token_command(token_id: int):
    """Revoke an API token by its id (see `flask tokens list`)."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        _fail(f"there is no API token {token_id}")
    if not withdraw_token(db.session, token):
        click.echo(f"Token {token_id} was revoked already.")
        return
    db.session.commit()
    click.echo(f"Revoked token {token_id} ({token.prefix}…) of {token.user.email}.")
