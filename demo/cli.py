"""`flask demo load`: write the demo portfolio and ingest it like any export."""

import time
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from connectors import registry
from connectors.pipeline import Pipeline
from crm.accounts.operations import audit
from crm.extensions import db
from crm.models import Client
from crm.models.inbox import RUN_COUNTS
from demo.bulk import write_bulk_events
from demo.portfolio import DEFAULT_SEED, write_portfolio


@click.group("demo")
def demo_cli() -> None:
    """The demo portfolio."""


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has clients.")
@click.option(
    "--events",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also write and ingest this many synthetic alert events (for benchmarks).",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Another seed, another portfolio.",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the files [default: <instance>/demo].",
)
def load_command(if_empty: bool, events: int, seed: int, directory: Path | None) -> None:
    """Write the demo files and ingest them through the pipeline, clients first.

    Dates are relative to today (UTC); ids depend on the seed only, so loading
    again, on any day, reports duplicates and adds no events (on another day
    the clients' `customer_since` moves along with the dates).
    """
    if if_empty and db.session.scalar(select(Client.id).limit(1)) is not None:
        click.echo("The database already has clients; the demo was not loaded.")
        return
    directory = directory or Path(current_app.instance_path) / "demo"
    today = datetime.now(UTC).date()
    files = write_portfolio(directory, today, seed)
    if events:
        files.append(write_bulk_events(directory / "bulk.ndjson", events, today, seed))
    pipeline = Pipeline(
        db.session,
        current_app.config["INGEST_BATCH_SIZE"],
        processes=current_app.config["INGEST_PROCESSES"],
    )
    # The clients go in first, alone: the events' records name them. The
    # event files then go in together, one stream of batches (see
    # Pipeline.ingest_all).
    clients, events = files[:1], files[1:]
    with pipeline:
        for group in (clients, events):
            started = time.perf_counter()
            runs = pipeline.ingest_all(
                [
                    (
                        registry.get(demo_file.connector),
                        demo_file.path.read_bytes(),
                        demo_file.path.name,
                    )
                    for demo_file in group
                ],
                started_by="demo",
            )
            elapsed = time.perf_counter() - started
            together = f", {len(group)} files together" if len(group) > 1 else ""
            for demo_file, run in zip(group, runs, strict=True):
                detail = {"file": demo_file.path.name, "run_id": run.id, "via": "demo load"}
                audit(db.session, "ingest.file", "connector", run.connector, detail)
                counts = ", ".join(f"{getattr(run, name)} {name}" for name in RUN_COUNTS)
                click.echo(
                    f"{demo_file.path.name:<15} {run.total:>8} records: {counts}"
                    f" ({elapsed:.1f}s{together})"
                )
            db.session.commit()
