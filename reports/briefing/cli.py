"""`flask briefing CLIENT_SLUG [--date D] [--pdf FILE] [--html FILE]`: one client's briefing.

Prints the gist (health, flags, talking points) and writes the PDF and/or a
standalone HTML file when asked.
"""

from pathlib import Path

import click
from sqlalchemy import select

from crm.extensions import db
from crm.models import Client
from reports.briefing import build_briefing
from reports.briefing.flags import KIND_LABELS
from reports.briefing.model import Briefing
from reports.briefing.render import TALKING_SECTIONS, briefing_html, briefing_pdf

OUTPUT = click.Path(dir_okay=False, writable=True, path_type=Path)


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
def briefing_command(client_slug, meeting_date, pdf_path: Path | None, html_path: Path | None):
    """The pre-meeting briefing for CLIENT_SLUG: what could ambush you, what to
    bring up, and the period since the last meeting in numbers."""
    if not client_slug:
        raise click.UsageError("Missing argument 'CLIENT_SLUG': which client's briefing?")
    client = db.session.scalar(select(Client).where(Client.slug == client_slug))
    if client is None:
        raise click.ClickException(f"There is no client {client_slug!r}.")
    briefing = build_briefing(db.session, client, meeting_date.date() if meeting_date else None)
    click.echo(summary(briefing))
    if html_path:
        html_path.write_text(briefing_html(briefing), encoding="utf-8")
        click.echo(f"HTML written to {html_path}")
    if pdf_path:
        pdf_path.write_bytes(briefing_pdf(briefing))
        click.echo(f"PDF written to {pdf_path}")


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
