"""Reading the timeline back: summaries, briefings and portfolio reports.

Built on crm's models; nothing in crm imports from here.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    from reports.cli import stats_command
    from reports.views import bp

    app.register_blueprint(bp)
    app.cli.add_command(stats_command)

    from reports import portfolio

    portfolio.init_app(app)

    from reports import briefing

    briefing.init_app(app)

    from reports import digest

    digest.init_app(app)

    from reports import delivery

    delivery.init_app(app)
