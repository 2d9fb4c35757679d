"""Live connections: one account in one vendor system, pulled on a schedule.

- models.py: the connection and each stream's cursor
- vault.py: credentials encrypted at rest (TOUCHLINE_CREDENTIALS_KEY)
- transport.py: HTTP within the vendors' limits (429, backoff with jitter), the
  one rule for every client (requests here, HubSpot's SDK through `retrying`)
- sources/: per vendor, a connection check and streams of pages
- sync.py: a sync is an ingest run; each page's cursor commits with it
- operations.py: the audited changes; views.py, api.py, cli.py, tasks.py: the doors
"""

import os

from flask import Flask

from connectors.connections import models  # noqa: F401 - the tables, in the one metadata


def init_app(app: Flask) -> None:
    from connectors.connections import tasks
    from connectors.connections.api import blp
    from connectors.connections.cli import connections_cli, sync_command
    from connectors.connections.views import bp
    from crm import api

    app.config.setdefault("CREDENTIALS_KEY", os.environ.get("TOUCHLINE_CREDENTIALS_KEY", ""))
    app.register_blueprint(bp)
    api.register(app, blp)
    app.cli.add_command(connections_cli)
    app.cli.add_command(sync_command)
    celery = app.extensions["celery"]
    if not celery.conf.task_always_eager:
        # `celery -A worker beat` sends it; each connection keeps its own interval.
        celery.conf.beat_schedule = {
            "connections-due": {"task": tasks.sync_due.name, "schedule": tasks.BEAT_SECONDS}
        }
