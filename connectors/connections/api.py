"""/api/v1/connections: the same changes as the /connections pages."""

from flask import jsonify
from flask.views import MethodView

from connectors.connections import operations
from connectors.connections.models import Connection
from connectors.connections.schemas import (
    ConnectionSchema,
    ConnectionTestSchema,
    NewConnectionSchema,
    PauseSchema,
)
from crm.accounts.requester import current_user_or_none
from crm.api import ApiBlueprint, abort
from crm.extensions import db
from crm.jobs.schemas import JobSchema

blp = ApiBlueprint("connections_api", __name__, description="Connections to vendors' APIs")
NAME = "<string(maxlength=60):name>"


def _connection(name: str) -> Connection:
    connection = operations.named(db.session, name)
    if connection is None:
        abort(404, f"no connection named {name!r}", field="name")
    return connection


def _changed(name: str, change, *args) -> Connection:
    """The named connection after `change` (its audited operation, given
    `args`), committed."""
    connection = _connection(name)
    change(db.session, connection, *args)
    db.session.commit()
    return connection


@blp.route("/connections")
class Connections(MethodView):
    @blp.response(200, ConnectionSchema(many=True))
    def get(self):
        """Every connection, with its last sync, cursors, next run and errors."""
        return operations.listed(db.session)

    @blp.arguments(NewConnectionSchema)
    @blp.response(201, ConnectionSchema)
    @blp.alt_response(409, description="A connection of that name exists")
    @blp.alt_response(503, description="TOUCHLINE_CREDENTIALS_KEY is not set (or not a key)")
    def post(self, data):
        """Add a connection. Its credentials are encrypted and never shown again."""
        try:
            connection = operations.add(db.session, data)
        except operations.ConnectionRefused as error:
            abort(409 if error.field == "name" else 503, str(error), field=error.field)
        db.session.commit()
        return connection


@blp.route(f"/connections/{NAME}")
class ConnectionByName(MethodView):
    @blp.response(200, ConnectionSchema)
    @blp.alt_response(404, description="No such connection")
    def get(self, name):
        """One connection."""
        return _connection(name)

    @blp.response(204)
    @blp.alt_response(404, description="No such connection")
    def delete(self, name):
        """Delete the connection and its cursors; what it ingested stays."""
        _changed(name, operations.delete)


@blp.route(f"/connections/{NAME}/test", methods=["POST"])
@blp.response(200, ConnectionTestSchema)
@blp.alt_response(404, description="No such connection")
def test(name):
    """A cheap read from the vendor that names what is wrong: the key, a scope, the host."""
    connection = _connection(name)
    ok, problem, message = operations.test(db.session, connection)
    db.session.commit()
    return {"ok": ok, "problem": problem, "message": message}


@blp.route(f"/connections/{NAME}/pause", methods=["POST"])
@blp.arguments(PauseSchema)
@blp.response(200, ConnectionSchema)
@blp.alt_response(404, description="No such connection")
def pause(data, name):
    """Stop its scheduled syncs until resumed."""
    return _changed(name, operations.pause, data["reason"])


@blp.route(f"/connections/{NAME}/resume", methods=["POST"])
@blp.response(200, ConnectionSchema)
@blp.alt_response(404, description="No such connection")
def resume(name):
    """Active again and due at once."""
    return _changed(name, operations.resume)


@blp.route(f"/connections/{NAME}/sync", methods=["POST"])
@blp.response(202, JobSchema)
@blp.alt_response(404, description="No such connection")
def sync_now(name):
    """Sync now, as a job (finished already when there is no broker)."""
    connection = _connection(name)
    user = current_user_or_none()
    job = operations.sync_now(db.session, connection, user.email if user else "api")
    db.session.refresh(job)
    return jsonify(JobSchema().dump(job)), 202
