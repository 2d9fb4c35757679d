"""Clients as staff manage them: the directory, create and edit, groups,
contacts and identities (pages and API). Business logic lives in
`operations.py` and `directory.py`; views parse and render."""

from flask import Flask


def init_app(app: Flask) -> None:
    from crm import api, health
    from crm.clients.api import blp
    from crm.clients.manager_pages import blp as managers_api
    from crm.clients.manager_pages import bp as manager_pages
    from crm.clients.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(manager_pages)
    api.register(app, managers_api)
    app.add_template_filter(health.tone, "health_tone")  # the directory's and the briefing's
    api.register(app, blp)
