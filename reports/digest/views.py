"""`/reports/digest`: the weekly digest as a page (executives and admins);
the same digest goes to executives by e-mail (reports.delivery.digest)."""

from flask import Blueprint, current_app, render_template

from crm.extensions import db
from crm.models.types import utcnow
from reports.digest.digest import digest_context

bp = Blueprint("digest", __name__)


@bp.get("/reports/digest")
def digest():
    context = digest_context(db.session, current_app.config, utcnow())
    return render_template("reports/digest.html", **context)
