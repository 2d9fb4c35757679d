"""`flask connections ...` and `flask sync`: connections from a terminal.

Credentials are asked for at a prompt that does not echo, never taken as
arguments (which shell history and `ps` would keep).
"""

import click
from flask import current_app
from marshmallow import ValidationError

from connectors.connections import operations, vault
from connectors.connections.models import Connection
from connectors.connections.oauth import CLIENT_FIELDS
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sources import SOURCES
from connectors.connections.sync import SyncBusy, due, sync
from crm.extensions import db

connections_cli = click.Group("connections", help="Connections to vendors' APIs.")


def _connection(name: str) -> Connection:
    connection = operations.named(db.session, name)
    if connection is None:
        raise click.ClickException(f"no connection named {name!r}")
    return connection


@connections_cli.command("list")
def list_command():
    """Every connection: vendor, status, last sync, next run."""
    for c in operations.listed(db.session):
        run = c.last_run
        last = f"run {run.id} {run.shown_status} ({run.total} records)" if run else "never synced"
        reason = f" ({c.status_reason})" if c.status_reason else ""
        next_run = c.next_run_at or "now"
        state = f"{c.status}{reason}"
        click.echo(f"{c.name}\t{c.vendor}\t{c.base_url}\t{state}\t{last}\tnext {next_run}")


@connections_cli.command("add")
@click.argument("name")
@click.option("--vendor", required=True, type=click.Choice(sorted(SOURCES)))
@click.option("--base-url", default=None, help="The account's API address (default: the vendor's).")
@click.option(
    "--interval", "interval_minutes", default=15, show_default=True, help="Minutes between syncs."
)
@click.option(
    "--oauth",
    is_flag=True,
    help="Give an OAuth app's client id and secret (then click Connect on /connections).",
)
def add_command(name, vendor, base_url, interval_minutes, oauth):
    """Add a connection; asks for its credentials without echoing them."""
    source = SOURCES[vendor]
    fields = CLIENT_FIELDS if oauth or source.oauth == "required" else source.credential_fields
    credentials = {
        field: click.prompt(label, hide_input=field != "client_id")
        for field, label in fields.items()
    }
    secret = click.prompt(
        "Webhook signing secret (empty for none)", default="", hide_input=True, show_default=False
    )
    if secret:
        credentials["webhook_secret"] = secret
    try:
        data = NewConnectionSchema().load(
            {
                "vendor": vendor,
                "name": name,
                "base_url": base_url,
                "credentials": credentials,
                "interval_minutes": interval_minutes,
            }
        )
        connection = operations.add(db.session, data)
    except ValidationError as error:
        raise click.ClickException(_first(error.messages)) from None
    except operations.ConnectionRefused as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"added {connection.name} ({connection.vendor} at {connection.base_url})")


@connections_cli.command("test")
@click.argument("name")
def test_command(name):
    """A cheap read that says what is wrong, if anything."""
    ok, problem, message = operations.test(db.session, _connection(name))
    db.session.commit()
    if not ok:
        raise click.ClickException(f"{problem}: {message}")
    click.echo(message)


@connections_cli.command("pause")
@click.argument("name")
@click.option("--reason", default=None)
def pause_command(name, reason):
    operations.pause(db.session, _connection(name), reason)
    db.session.commit()
    click.echo(f"paused {name}")


@connections_cli.command("resume")
@click.argument("name")
def resume_command(name):
    operations.resume(db.session, _connection(name))
    db.session.commit()
    click.echo(f"resumed {name}: due now")


@connections_cli.command("delete")
@click.argument("name")
@click.confirmation_option(prompt="Delete the connection and its cursors (its records stay)?")
def delete_command(name):
    operations.delete(db.session, _connection(name))
    db.session.commit()
    click.echo(f"deleted {name}")


@connections_cli.command("new-key")
def new_key_command():
    """Print a new key for TOUCHLINE_CREDENTIALS_KEY."""
    click.echo(vault.new_key())


@connections_cli.command("rotate-key")
def rotate_key_command():
    """Encrypt every connection's credentials again under the first key."""
    try:
        count = operations.rotate_keys(db.session)
    except vault.VaultError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"{count} connections now under the first key")


@click.command("sync")
@click.argument("name", required=False)
@click.option(
    "--due", "only_due", is_flag=True, help="Every active connection whose interval has passed."
)
def sync_command(name, only_due):
    """Sync one connection now, or (--due, for cron) every one that is due.
    Its pages are read by TOUCHLINE_INGEST_PROCESSES processes, as `flask
    ingest` reads a file."""
    if bool(name) == only_due:
        raise click.UsageError("give a connection's NAME or --due")
    connections = due(db.session) if only_due else [_connection(name)]
    failed = 0
    for connection in connections:
        try:
            run = sync(
                db.session,
                connection,
                "command line",
                processes=current_app.config["INGEST_PROCESSES"],
            )
        except SyncBusy as busy:
            # --due (cron) leaves a connection another sync holds; NAME asked for this one.
            click.echo(str(busy), err=True)
            failed += not only_due
            continue
        counts = ", ".join(f"{k} {v}" for k, v in run.counts().items())
        click.echo(f"{connection.name}: run {run.id} {run.status}: {counts}")
        if run.status == "failed":
            failed += 1
            click.echo(f"  {run.error}", err=True)
    if failed:
        raise click.exceptions.Exit(1)


def _first(messages) -> str:
    field, problems = next(iter(messages.items()))
    problem = problems[0] if isinstance(problems, list) else problems
    return f"{field}: {problem}"
