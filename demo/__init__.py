"""The demo portfolio: realistic, seeded data loaded through the real pipeline."""

from flask import Flask


def init_app(app: Flask) -> None:
    from demo.cli import demo_cli

    app.cli.add_command(demo_cli)
