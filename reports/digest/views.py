"""`/reports/digest`: the weekly digest as a page (executives and admins)."""

from flask import Blueprint, current_app, render_template

from crm.extensions import db
from crm.flags import FlagSettings
from crm.meetings.cadence import describe_cadence
from crm.models.types import utcnow
from reports.digest.digest import RENEWAL_DAYS, build_digest

bp = Blueprint("digest", __name__)


@bp.get("/reports/digest")
def digest():
    cadence = current_app.config["MEETING_CADENCE"]
    report = build_digest(
        db.session, utcnow(), FlagSettings.from_config(current_app.config), cadence
    )
    return render_template(
        "reports/digest.html",
        digest=report,
        renewal_days=RENEWAL_DAYS,
        cadence_text=describe_cadence(cadence),
    )
