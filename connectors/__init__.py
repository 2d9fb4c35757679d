"""Getting data in: connectors that parse inputs, and the pipeline they share.

Importing the package registers every built-in connector.
"""

from flask import Flask

from connectors import (  # noqa: F401 - registers the connectors
    alertmanager,
    clients,
    connectwise,
    devices,
    freshdesk,
    generic,
    hubspot,
    ical,
    mailchimp,
    ninjaone,
    pagerduty,
    quickbooks,
    salesforce,
    salesforce_outbound,
    sendgrid,
    stripe,
    xero,
    zendesk,
)
from connectors.registry import get, names, register

__all__ = ["get", "init_app", "names", "register"]


def init_app(app: Flask) -> None:
    from connectors import (
        connections,
        tasks,  # noqa: F401 - registers the ingest task with Celery
    )
    from connectors.api import blp as ingest_api
    from connectors.cli import identities_cli, ingest_command
    from connectors.pages import bp as pages
    from connectors.review import replay_mapped_identities
    from connectors.webhooks import bp as webhooks
    from crm import api, signals

    app.register_blueprint(webhooks)
    app.register_blueprint(pages)
    api.register(app, ingest_api)
    app.cli.add_command(ingest_command)
    app.cli.add_command(identities_cli)
    app.cli.add_command(ical.meetings_cli)
    # A mapping made in crm/ (a client form) replays the records waiting for it.
    signals.identities_mapped.connect(replay_mapped_identities)
    connections.init_app(app)
