"""A client's history as staff read it before a contact: the pre-contact card,
the unified timeline, threads, and the touches and commitments staff log
(pages and API). Queries and operations decide; views parse and render."""

from flask import Flask


def init_app(app: Flask) -> None:
    from crm import api
    from crm.timeline.api import blp
    from crm.timeline.views import bp

    app.register_blueprint(bp)
    api.register(app, blp)
