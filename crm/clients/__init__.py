"""Clients as staff manage them: the directory, create and edit, groups,
contacts and identities (pages and API). Business logic lives in
`operations.py` and `directory.py`; views parse and render."""

from flask import Flask


def init_app(app: Flask) -> None:
    from crm import api
    from crm.clients.api import blp
    from crm.clients.views import bp

    app.register_blueprint(bp)
    api.register(app, blp)
