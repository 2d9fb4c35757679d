"""The portfolio overview page (`/`)."""

from flask import Blueprint, render_template

from crm.extensions import db
from crm.vocabulary import SOURCES, TIERS
from reports.inventory import database_stats, portfolio_overview

bp = Blueprint("reports", __name__)


@bp.get("/overview")
def overview():
    clients = portfolio_overview(db.session)
    stats = database_stats(db.session)
    return render_template(
        "overview.html", clients=clients, stats=stats, sources=SOURCES, tiers=TIERS
    )
