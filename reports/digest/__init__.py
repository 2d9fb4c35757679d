"""The weekly executive digest: what changed in the portfolio in the last
seven days, at `/reports/digest`. Read with the rules that define each thing
elsewhere (crm.flags, crm.health, crm.meetings.cadence); nothing here
decides what a flag or a score is."""

from flask import Flask


def init_app(app: Flask) -> None:
    from reports.digest.views import bp

    app.register_blueprint(bp)
