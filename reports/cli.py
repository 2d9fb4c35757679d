"""`flask stats`: what the database holds."""

import json

import click

from crm.extensions import db
from reports.inventory import database_stats


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stats_command(as_json: bool) -> None:
    """Clients by tier, events by source and kind, entities, inbox records."""
    stats = database_stats(db.session)
    if as_json:
        click.echo(json.dumps(stats, indent=2))
        return
    click.echo(f"clients: {stats['clients']['total']}")
    for tier, count in stats["clients"]["by_tier"].items():
        click.echo(f"  {tier:<12}{count:>10}")
    click.echo(f"events: {stats['events']['total']}")
    for source, kinds in stats["events"]["by_kind"].items():
        click.echo(f"  {source}")
        for kind, count in kinds.items():
            click.echo(f"    {kind:<24}{count:>10}")
    click.echo("entities:")
    for entity_type, statuses in stats["entities"].items():
        described = ", ".join(f"{status} {count}" for status, count in statuses.items())
        click.echo(f"  {entity_type:<12}{described}")
    click.echo("inbox: " + (", ".join(f"{s} {c}" for s, c in stats["inbox"].items()) or "empty"))
