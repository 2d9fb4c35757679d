"""`flask demo load`."""

import click


@click.group("demo")
def demo_cli() -> None:
    """The demo portfolio."""
