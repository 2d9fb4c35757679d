"""`flask briefing`: one client's briefing, or a batch of them.

    flask briefing CLIENT_SLUG [--date D] [--pdf FILE] [--html FILE]
    flask briefing --tier key [--group G] [--manager M] [--date D] --out DIR | --combined FILE

One client: prints the gist (health, flags, talking points) and writes the
PDF and/or a standalone HTML file when asked. A batch (reports.briefing.batch)
writes one PDF per client into DIR and/or all of them as one PDF, with a
progress bar on a terminal; a client whose briefing fails is named with its
error, the others are still written, and the command then exits with 1.
"""

from pathlib import Path

import click
from sqlalchemy import select

from crm.clients.lifespan import BeforeClient
from crm.extensions import db
from crm.models import Client
from crm.models.types import utcnow
from crm.vocabulary import TIERS
from reports.briefing import build_briefing
from reports.briefing.batch import (
    BadSelection,
    Batch,
    Selection,
    find_clients,
    make_briefings,
)
from reports.briefing.combined import write_combined_pdf
from reports.briefing.model import KIND_LABELS, Briefing
from reports.briefing.render import TALKING_SECTIONS, briefing_html, briefing_pdf

OUTPUT = click.Path(dir_okay=False, writable=True, path_type=Path)
BATCH_OPTIONS = ("--tier", "--group", "--manager")


@click.command("briefing")
@click.argument("client_slug", required=False)
@click.option(
    "--date",
    "meeting_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The meeting day, YYYY-MM-DD [default: today in the client's time zone].",
)
@click.option("--pdf", "pdf_path", type=OUTPUT, help="Write the briefing as PDF to FILE.")
@click.option("--html", "html_path", type=OUTPUT, help="Write it as a standalone HTML file.")
@click.option(
    "--tier",
    "tiers",
    multiple=True,
    type=click.Choice(TIERS, case_sensitive=False),
    help="Batch: the active clients of this tier (repeat for several).",
)
@click.option("--group", help="Batch: the active clients in this group (its id, or kind:name).")
@click.option("--manager", help="Batch: the active clients of this account manager.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, writable=True, path_type=Path),
    help="Batch: write one PDF per client into DIR (created if missing).",
)
@click.option("--combined", "combined_path", type=OUTPUT, help="Batch: write one PDF of them all.")
def briefing_command(
    client_slug,
    meeting_date,
    pdf_path: Path | None,
    html_path: Path | None,
    tiers: tuple[str, ...],
    group: str | None,
    manager: str | None,
    out_dir: Path | None,
    combined_path: Path | None,
):
    """The pre-meeting briefing for CLIENT_SLUG: what could ambush you, what to
    bring up, and the period since the last meeting in numbers. Or, with
    --tier/--group/--manager, the briefings of those clients as PDFs."""
    day = meeting_date.date() if meeting_date else None
    if tiers or group or manager or out_dir or combined_path:
        if client_slug or pdf_path or html_path:
            raise click.UsageError(
                "Give either CLIENT_SLUG (with --pdf/--html) or a batch "
                "(--tier/--group/--manager with --out/--combined), not both."
            )
        _batch(tiers, group, manager, day, out_dir, combined_path)
        return
    if not client_slug:
        raise click.UsageError(
            "Missing argument 'CLIENT_SLUG': which client's briefing? "
            "(or --tier/--group/--manager with --out DIR for a batch)"
        )
    client = db.session.scalar(select(Client).where(Client.slug == client_slug))
    if client is None:
        raise click.ClickException(f"There is no client {client_slug!r}.")
    try:
        briefing = build_briefing(db.session, client, day)
    except BeforeClient as refused:
        raise click.ClickException(str(refused)) from None
    click.echo(summary(briefing))
    if html_path:
        html_path.write_text(briefing_html(briefing), encoding="utf-8")
        click.echo(f"HTML written to {html_path}")
    if pdf_path:
        pdf_path.write_bytes(briefing_pdf(briefing))
        click.echo(f"PDF written to {pdf_path}")


def _batch(tiers, group, manager, day, out_dir: Path | None, combined_path: Path | None) -> None:
    if not (tiers or group or manager):
        raise click.UsageError("Which clients? Give --tier, --group and/or --manager.")
    if not (out_dir or combined_path):
        raise click.UsageError("Where to? Give --out DIR and/or --combined FILE.")
    try:
        batch = find_clients(db.session, Selection.parse(tiers, group, manager))
    except BadSelection as error:
        option = {"tier": "--tier", "group": "--group", "account_manager": "--manager"}
        raise click.BadParameter(str(error), param_hint=option[error.field]) from None
    if not batch.clients:
        raise click.ClickException(f"No active clients match: {batch.title.lower()}.")
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    now = utcnow()
    done = []
    outcomes = make_briefings(db.session, batch.clients, day, now=now, pdf=bool(out_dir))
    with click.progressbar(
        outcomes,
        length=len(batch.clients),
        label=f"{batch.title}: {len(batch.clients)} briefings",
        item_show_func=lambda outcome: outcome.slug if outcome else None,
    ) as progress:
        for outcome in progress:
            if out_dir and outcome.pdf is not None:
                (out_dir / outcome.file_name).write_bytes(outcome.pdf)
                outcome.pdf = None
            done.append(outcome)
    made = [outcome for outcome in done if outcome.briefing]
    failed = [outcome for outcome in done if outcome.error]
    # After the bar, which a line written meanwhile would break up.
    for outcome in failed:
        click.echo(f"FAILED {outcome.slug}: {outcome.error}", err=True)
    if combined_path and made:
        partial = combined_path.with_name(combined_path.name + ".part")
        try:
            with partial.open("wb") as target:
                write_combined_pdf(batch, done, target, meeting_date=day, generated_at=now)
        except Exception as error:
            partial.unlink(missing_ok=True)
            raise click.ClickException(f"The combined PDF could not be made: {error}") from error
        partial.replace(combined_path)
    click.echo(_batch_summary(batch, made, failed, out_dir, combined_path))
    if failed:
        raise click.exceptions.Exit(1)


def _batch_summary(batch: Batch, made, failed, out_dir, combined_path) -> str:
    total = len(batch.clients)
    places = []
    if out_dir:
        places.append(f"one PDF each in {out_dir}")
    if combined_path and made:
        places.append(f"combined in {combined_path}")
    text = f"{len(made)} of {total} briefings written"
    text += f" ({' and '.join(places)})" if places and made else ""
    if failed:
        text += f"; {len(failed)} failed: {', '.join(outcome.slug for outcome in failed)}"
    return text + "."


def summary(briefing: Briefing) -> str:
    """The briefing's gist as plain text."""
    client, period, health = briefing.client, briefing.period, briefing.health
    since = (
        f"since the meeting of {period.last_meeting_at:%d %b %Y}"
        if period.last_meeting_at
        else "the last 90 days"
    )
    change = f"{health.change:+d}" if health.change else "unchanged"
    lines = [
        f"{client.name} ({client.tier}), meeting {period.meeting_date:%d %b %Y}: "
        f"{period.days} days {since}",
        f"Health {health.score}/100 ({change} on the previous period)",
        "",
        "Don't get ambushed:" if briefing.flags else "Don't get ambushed: nothing to flag.",
    ]
    for flag in briefing.flags:
        lines.append(f"  [{flag.severity}] {KIND_LABELS[flag.kind]}: {flag.title}. {flag.detail}")
    lines.append("")
    lines.append("Talking points:")
    for attribute, heading, empty in TALKING_SECTIONS:
        points = getattr(briefing.talking_points, attribute)
        lines.append(f"  {heading}:" + ("" if points else f" {empty}"))
        lines += [f"    - {point.text}" for point in points]
    return "\n".join(lines)
