"""The portfolio report for executives: the 80/20 picture, suggested tiers,
staffing, training and every open flag, as a page, a PDF, a CSV and JSON."""

from flask import Flask

from crm.api import register


def init_app(app: Flask) -> None:
    from reports.portfolio import tasks  # noqa: F401 - registers the PDF task
    from reports.portfolio.api import blp
    from reports.portfolio.views import bp

    app.register_blueprint(bp)
    register(app, blp)
