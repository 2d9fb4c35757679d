"""/api/v1/clients: list with the directory's filters, create, read, update.

The list is paginated by page number (`page`, `per_page` up to 200), not by
cursor: it sorts by aggregates (open tickets, overdue amount) that change
under a cursor, and a portfolio has thousands of clients, not millions. The
body says `total` and `pages`.
"""

from flask import current_app
from flask.views import MethodView
from sqlalchemy import select

from crm.accounts.audit import ClientState, audit_client_change
from crm.api import ApiBlueprint, abort
from crm.clients.directory import client_directory
from crm.clients.directory_schemas import DirectoryPageSchema, DirectoryQuerySchema
from crm.clients.operations import ClientInputError, create_client, update_client
from crm.clients.schemas import (
    ClientInSchema,
    ClientOutSchema,
    ClientPatchSchema,
)
from crm.extensions import db
from crm.flags import FlagSettings
from crm.models import Client
from crm.models.types import utcnow

blp = ApiBlueprint("clients_api", __name__, description="Clients")

STARTED_BY = "api"


@blp.route("/clients")
class Clients(MethodView):
    @blp.arguments(DirectoryQuerySchema, location="query")
    @blp.response(200, DirectoryPageSchema)
    def get(self, filters):
        """The client directory: filter, sort and page through clients.

        `flagged=true` keeps the clients with open flags: an open dispute, a
        critical alert firing, an overdue invoice, a failed payment, a ticket
        open TOUCHLINE_BRIEFING_STALE_TICKET_DAYS (30) days or past its SLA,
        an alert that fired three times or more on one device in 30 days, or
        an overdue commitment. Each flagged thread counts once, under one flag.
        Sorting by `overdue` orders by the overdue total converted to the
        reporting currency (TOUCHLINE_EXCHANGE_RATES); amounts without a rate
        are listed in `overdue_total.unconverted` and do not count in the order.
        `meeting_overdue=true` keeps the clients with no meeting within their
        tier's cadence (TOUCHLINE_MEETING_CADENCE, default key 91 days,
        problem 30, standard 182; new clients have none).
        """
        settings = FlagSettings.from_config(current_app.config)
        return client_directory(
            db.session,
            filters,
            now=utcnow(),
            settings=settings,
            cadence=current_app.config["MEETING_CADENCE"],
        )

    @blp.arguments(ClientInSchema)
    @blp.response(201, ClientOutSchema)
    @blp.alt_response(409, description="The slug, or one of the identities, is taken")
    def post(self, data):
        """Create a client; the slug is derived from the name unless given."""
        client = _saved(
            lambda: create_client(db.session, data, started_by=STARTED_BY), ClientState.of(None)
        )
        return client, {"Location": f"/api/v1/clients/{client.slug}"}


@blp.route("/clients/<slug>")
class ClientBySlug(MethodView):
    @blp.response(200, ClientOutSchema)
    @blp.alt_response(404, description="No client has this slug")
    def get(self, slug):
        """One client with its groups, contacts and identities."""
        return _client(slug)

    @blp.arguments(ClientPatchSchema)
    @blp.response(200, ClientOutSchema)
    @blp.alt_response(404, description="No client has this slug")
    @blp.alt_response(409, description="The slug, or one of the identities, is taken")
    def patch(self, data, slug):
        """Change part of a client. A list given (groups, contacts, identities)
        replaces the client's list; contacts given with their `id` are updated
        in place. A changed slug keeps the old one resolving to the client."""
        client = _client(slug)
        before = ClientState.of(client)
        return _saved(
            lambda: update_client(db.session, client, data, started_by=STARTED_BY), before
        )


def _client(slug: str) -> Client:
    client = db.session.scalar(select(Client).where(Client.slug == slug))
    if client is None:
        abort(404, f"There is no client {slug}.", field="slug")
    return client


def _saved(change, before: ClientState):
    """Run the operation, note what it changed in the audit log and commit, or
    roll back and answer with its error."""
    try:
        client = change()
    except ClientInputError as error:
        db.session.rollback()
        abort(error.status, f"{error.field}: {error.message}", field=error.field)
    audit_client_change(db.session, before, client, via=STARTED_BY)
    db.session.commit()
    return client
