"""The client briefing: what an account manager reads before a client's roadmap meeting.

build.py makes one (see its docstring); the pages, API, command line and
batches call it where they answer, so that starting the app (or `flask
--help`) does not import pandas, which the briefing's frames are made of.
"""

from flask import Flask


def init_app(app: Flask) -> None:
    """The page and PDF (views), the JSON (api) and `flask briefing` (cli)."""
    from crm import api
    from reports.briefing import tasks  # noqa: F401 - registers the batch task
    from reports.briefing.api import blp
    from reports.briefing.cli import briefing_command
    from reports.briefing.views import bp

    app.register_blueprint(bp)
    api.register(app, blp)
    app.cli.add_command(briefing_command)


def build_briefing(*args, **kwargs):
    """`reports.briefing.build.build_briefing`, imported on the first call: the
    pages, API, command line and deliveries name it at their top while the
    app starts without pandas."""
    from reports.briefing.build import build_briefing as build

    return build(*args, **kwargs)
