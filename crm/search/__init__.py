"""Search across clients, contacts, identities and the timeline: the index
each engine keeps (`index.py`), the candidates it gives (`engines.py`), one
ranked answer for both (`operations.py`), the page and the API."""

from flask import Flask


def init_app(app: Flask) -> None:
    from crm import api
    from crm.search.api import blp
    from crm.search.views import bp

    app.register_blueprint(bp)
    api.register(app, blp)
