"""/api/v1/reports/portfolio: the portfolio report as JSON.

Tiers are changed through the clients API (PATCH /api/v1/clients/<slug>).
"""

from crm.api import ApiBlueprint
from crm.extensions import db
from crm.models.types import utcnow
from reports.portfolio.schemas import PeriodQuerySchema, PortfolioSchema, period_from

blp = ApiBlueprint(
    "portfolio_api", __name__, url_prefix="/reports", description="The portfolio report"
)


@blp.route("/portfolio")
@blp.arguments(PeriodQuerySchema, location="query")
@blp.response(200, PortfolioSchema)
def portfolio(query):
    """The portfolio report for a period (default: the last 12 months).

    Active clients only. `revenue` has one 80/20 circle per currency (money is
    never converted); members are slugs, biggest first. Open `flags` are as of
    `generated_at`, whatever the period, most severe first.
    """
    from reports.portfolio.render import portfolio_data
    from reports.portfolio.report import build_portfolio

    now = utcnow()
    return portfolio_data(build_portfolio(db.session, period_from(query, now.date()), now))
