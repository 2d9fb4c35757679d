"""/connections: admins add, test, pause, resume, sync and delete connections,
and see each one's last sync, cursors, next run and errors."""

import hmac

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from marshmallow import ValidationError

from connectors.connections import oauth, operations, vault
from connectors.connections.models import Connection
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sources import SOURCES
from crm.accounts.requester import current_user_or_none
from crm.extensions import db

bp = Blueprint("connections", __name__)
NAME = "<string(maxlength=60):name>"
OAUTH_STATE = "connections_oauth_state"


def _connection(name: str) -> Connection:
    connection = operations.named(db.session, name)
    if connection is None:
        abort(404)
    return connection


def _back(message: str, category: str = "message"):
    """Back to the connections, saying what happened."""
    flash(message, category)
    return redirect(url_for("connections.connections"))


def _page(errors: dict | None = None, form: dict | None = None, status: int = 200):
    page = render_template(
        "connections/connections.html",
        connections=operations.listed(db.session),
        sources=SOURCES,
        oauth_fields=oauth.CLIENT_FIELDS,
        callback_url=_callback_url(),
        errors=errors or {},
        form=form or {},
    )
    return page, status


@bp.get("/connections")
def connections():
    return _page()


@bp.post("/connections")
def add():
    vendor = request.form.get("vendor", "")
    fields = SOURCES[vendor].credential_fields if vendor in SOURCES else {}
    if vendor in SOURCES and SOURCES[vendor].oauth:
        fields = {**fields, **oauth.CLIENT_FIELDS}
    credentials = {
        name: request.form[f"{vendor}-{name}"]
        for name in fields
        if request.form.get(f"{vendor}-{name}")
    }
    if request.form.get("webhook_secret"):
        credentials["webhook_secret"] = request.form["webhook_secret"]
    # Echoed back to the form on an error: everything but the credentials.
    form = {
        key: request.form.get(key, "") for key in ("vendor", "name", "base_url", "interval_minutes")
    }
    try:
        data = NewConnectionSchema().load(
            {
                "vendor": vendor,
                "name": form["name"],
                "base_url": form["base_url"] or None,
                "credentials": credentials,
                "interval_minutes": form["interval_minutes"] or 15,
            }
        )
        connection = operations.add(db.session, data)
    except ValidationError as error:
        return _page({k: " ".join(_flat(v)) for k, v in error.messages.items()}, form, 400)
    except operations.ConnectionRefused as error:
        return _page({error.field or "connection": str(error)}, form, 400)
    db.session.commit()
    return _back(f"Added {connection.name}. Test it, then sync it now or wait for its schedule.")


@bp.post(f"/connections/{NAME}/test")
def test(name):
    connection = _connection(name)
    ok, problem, message = operations.test(db.session, connection)
    db.session.commit()
    if ok:
        return _back(f"{name}: {message}")
    return _back(f"{name}: {problem}: {message}", "error")


@bp.post(f"/connections/{NAME}/connect")
def connect(name):
    """To the vendor to authorize; the state comes back to `callback`."""
    connection = _connection(name)
    try:
        url, state = oauth.authorization_url(connection, _callback_url())
    except (oauth.OAuthRefused, vault.VaultError) as error:
        return _back(f"{name}: {error}", "error")
    session[OAUTH_STATE] = {"state": state, "name": name}
    return redirect(url)


@bp.get("/connections/oauth/callback")
def callback():
    """The vendor's answer: the state must be the one this admin's session
    sent (else it is another's, or forged), used once."""
    expected = session.pop(OAUTH_STATE, None) or {}
    state = request.args.get("state", "")
    if not expected.get("state") or not hmac.compare_digest(str(expected["state"]), state):
        abort(400, description="This authorization was not started here, or was used already.")
    connection = _connection(expected["name"])
    if request.args.get("error"):
        return _back(f"{connection.name}: the vendor said {request.args['error'][:100]}", "error")
    try:
        oauth.connect(
            db.session,
            connection,
            request.args.get("code", ""),
            _callback_url(),
            request.args.get("realmId"),
        )
    except (oauth.OAuthRefused, vault.VaultError) as error:
        db.session.rollback()
        return _back(f"{connection.name}: not connected: {error}", "error")
    db.session.commit()
    return _back(f"Connected {connection.name}. Test it, then sync it now or wait.")


def _callback_url() -> str:
    """The redirect URI to register with the vendor's app."""
    return url_for("connections.callback", _external=True)


@bp.post(f"/connections/{NAME}/pause")
def pause(name):
    operations.pause(db.session, _connection(name), request.form.get("reason") or None)
    db.session.commit()
    return _back(f"Paused {name}.")


@bp.post(f"/connections/{NAME}/resume")
def resume(name):
    operations.resume(db.session, _connection(name))
    db.session.commit()
    return _back(f"Resumed {name}: it syncs at the next scheduled check.")


@bp.post(f"/connections/{NAME}/sync")
def sync_now(name):
    connection = _connection(name)
    user = current_user_or_none()
    job = operations.sync_now(db.session, connection, user.email if user else "pages")
    return redirect(url_for("jobs.job", job_id=job.id))


@bp.post(f"/connections/{NAME}/delete")
def delete(name):
    operations.delete(db.session, _connection(name))
    db.session.commit()
    return _back(f"Deleted {name}; what it brought in stays.")


def _flat(messages) -> list[str]:
    if isinstance(messages, dict):
        return [m for value in messages.values() for m in _flat(value)]
    return [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]
