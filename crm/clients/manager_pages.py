"""The clients an admin should give an account manager (crm.clients.managers):
/admin/managers lists them with a form each to assign an active account, and
/api/v1/managers/unmatched does the same for programs. Both assign through
`assign_manager`, which writes the audit log."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.views import MethodView
from marshmallow import ValidationError
from sqlalchemy import select

from crm import api
from crm.clients.errors import ClientInputError
from crm.clients.managers import active_accounts, assign_manager, chosen_manager, needing_manager
from crm.clients.schemas import AssignManagerSchema, NeedingManagerSchema
from crm.extensions import db
from crm.models import Client

bp = Blueprint("managers", __name__, url_prefix="/admin")
blp = api.ApiBlueprint("managers_api", __name__, description="Account managers to assign")


def _assign(slug: str, data: dict, via: str) -> Client:
    """Assign the account `data` names to the client `slug` (committed), or
    raise ClientInputError (rolled back); None for an unknown client."""
    client = db.session.scalar(select(Client).where(Client.slug == slug))
    if client is None:
        return None
    try:
        user = chosen_manager(db.session, "account_manager_id", user_id=data["account_manager_id"])
        assign_manager(db.session, client, user, via=via)
    except ClientInputError:
        db.session.rollback()
        raise
    db.session.commit()
    return client


@bp.get("/managers")
def managers():
    return _page({}), 200


@bp.post("/managers/<slug>")
def assign(slug: str):
    try:
        data = AssignManagerSchema().load(request.form.to_dict())
        client = _assign(slug, data, via="page")
    except ValidationError as error:
        return _page(
            {slug: " ".join(error.messages.get("account_manager_id", ["is invalid"]))}
        ), 422
    except ClientInputError as error:
        return _page({slug: error.message}), error.status
    if client is None:
        abort(404, f"There is no client {slug}.")
    flash(f"{client.name} is managed by {client.manager.name}.", "message")
    return redirect(url_for(".managers"))


def _page(errors: dict[str, str]) -> str:
    return render_template(
        "clients/managers.html",
        clients=needing_manager(db.session),
        accounts=active_accounts(db.session),
        errors=errors,
    )


@blp.route("/managers/unmatched")
class Unmatched(MethodView):
    @blp.response(200, NeedingManagerSchema(many=True))
    def get(self):
        """The clients to give an account manager: their manager's name
        (from before managers were accounts, or an import) matches no active
        account, or their manager's account is deactivated."""
        return needing_manager(db.session)


@blp.route("/managers/unmatched/<slug>", methods=["PUT"])
@blp.arguments(AssignManagerSchema)
@blp.response(200, NeedingManagerSchema)
@blp.alt_response(404, description="No client has this slug")
@blp.alt_response(422, description="The id is no active account")
def assign_api(data, slug: str):
    """Make an active account the client's manager (audited)."""
    try:
        client = _assign(slug, data, via="api")
    except ClientInputError as error:
        api.abort(error.status, f"{error.field}: {error.message}", field=error.field)
    if client is None:
        api.abort(404, f"There is no client {slug}.", field="slug")
    return client
