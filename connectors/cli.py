"""`flask ingest` and `flask identities`: the pipeline from a terminal."""

import json
import sys
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from connectors import registry
from connectors.pipeline import Pipeline
from connectors.review import UnmappableHint, map_and_replay
from crm.accounts.operations import audit
from crm.extensions import db
from crm.identities import IdentityConflict
from crm.models import Client, InboxRecord, IngestRun
from crm.models.inbox import RUN_COUNTS

SHOWN_PROBLEMS = 10


def _print_summary(run: IngestRun) -> None:
    click.echo(f"run {run.id} ({run.connector}): {run.total} records")
    if run.warning:
        click.echo(f"warning: {run.warning}", err=True)
    for name in RUN_COUNTS:
        click.echo(f"  {name:<10}{getattr(run, name):>10}")
    problems = db.session.scalars(
        select(InboxRecord)
        .where(InboxRecord.run_id == run.id, InboxRecord.status.in_(("rejected", "unmatched")))
        .order_by(InboxRecord.position)
        .limit(SHOWN_PROBLEMS)
    ).all()
    for row in problems:
        click.echo(f"  {row.status}: {row.locator}: {row.reason}")
    shown = len(problems)
    if run.rejected + run.unmatched > shown:
        click.echo(f"  ... and {run.rejected + run.unmatched - shown} more in the inbox")


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, done: int) -> None:
        pass


def _progress_bar(contents: list[bytes], name: str, enabled: bool):
    """A bar on a terminal (records against the files' line count), else nothing."""
    if not (enabled and sys.stderr.isatty()):
        return _NoBar()
    lines = max(sum(content.count(b"\n") for content in contents), 1)
    return click.progressbar(length=lines, label=f"ingesting {name}", file=sys.stderr)


@click.command("ingest")
@click.argument("connector_name", metavar="CONNECTOR")
@click.argument(
    "paths",
    metavar="PATH...",
    nargs=-1,
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print each file's summary as one JSON object."
)
def ingest_command(connector_name: str, paths: tuple[Path, ...], as_json: bool) -> None:
    """Ingest the files at PATH... with CONNECTOR (`billing`, `tickets`,
    `stripe`, ...: an unknown name lists them all), each in a run of its own.
    Several files go in together, as one stream of batches (their records
    must not need each other's: clients before their events take two calls).

    Exits non-zero only when a file cannot be read at all (the others are
    ingested all the same); bad records are counted and kept in the inbox
    with their reasons. `--json` prints one JSON object a file, a line each.
    """
    try:
        connector = registry.get(connector_name)
    except LookupError as error:
        raise click.UsageError(str(error)) from None
    contents = []
    for path in paths:
        try:
            contents.append(path.read_bytes())
        except OSError as error:
            raise click.ClickException(f"cannot read {path}: {error.strerror}") from None

    name = paths[0].name if len(paths) == 1 else f"{len(paths)} files"
    with _progress_bar(contents, name, enabled=not as_json) as bar:
        pipeline = Pipeline(
            db.session,
            current_app.config["INGEST_BATCH_SIZE"],
            bar.update,
            processes=current_app.config["INGEST_PROCESSES"],
        )
        inputs = [
            (connector, content, path.name) for path, content in zip(paths, contents, strict=True)
        ]
        started_by = f"cli:{paths[0]}" if len(paths) == 1 else f"cli:{len(paths)} files"
        with pipeline:
            runs = pipeline.ingest_all(inputs, started_by)
    for path, run in zip(paths, runs, strict=True):
        detail = {"file": path.name, "run_id": run.id, "status": run.status, "via": "command line"}
        audit(db.session, "ingest.file", "connector", connector.name, detail)
    db.session.commit()
    unreadable = []
    for path, run in zip(paths, runs, strict=True):
        if as_json:
            # One file's summary stays what it always was; several say whose.
            named = {"file": str(path)} if len(paths) > 1 else {}
            click.echo(json.dumps(run.summary() | named))
        if run.status == "failed":
            unreadable.append(f"cannot read {path}: {run.error}")
        elif not as_json:
            _print_summary(run)
    if unreadable:
        raise click.ClickException("; ".join(unreadable))


@click.group("identities")
def identities_cli() -> None:
    """How other systems name our clients."""


@identities_cli.command("map")
@click.argument("system")
@click.argument("key")
@click.argument("client_slug")
def map_command(system: str, key: str, client_slug: str) -> None:
    """Map SYSTEM's KEY to CLIENT_SLUG and replay the records waiting for it."""
    client = db.session.scalar(select(Client).where(Client.slug == client_slug))
    if client is None:
        raise click.ClickException(f"no client with slug {client_slug!r}")
    try:
        mapping = map_and_replay(
            db.session,
            system,
            key,
            client,
            started_by=f"cli:identities map {system} {key}",
            via="command line",
        )
    except (IdentityConflict, UnmappableHint) as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    identity, runs = mapping.identity, mapping.runs
    click.echo(f"{identity.system} {identity.external_key} -> {client.slug}")
    for run in runs:
        click.echo(
            f"replayed {run.total} {run.connector} records: {run.accepted} accepted, "
            f"{run.duplicate} duplicate, {run.unmatched} still unmatched, {run.rejected} rejected"
        )
    if not runs:
        click.echo("no unmatched records were waiting for it")
