"""Pages refuse text that no database column can hold.

A NUL character (or half a surrogate pair) in a page's query parameter or
form field would reach a query as it is: PostgreSQL refuses such text
outright, which failed the request with a 500. The API refuses it in its
argument parser (crm.api); pages get a 400 that names the parameter, before
any view reads it.
"""

from flask import Flask, abort, request

from crm.api import UNSTORABLE, UNSTORABLE_MESSAGE

# Their own parsers look at what these receive (crm.api, connectors.webhooks).
_NOT_PAGES = ("/api/", "/webhooks/")


def init_app(app: Flask) -> None:
    app.before_request(_refuse_unstorable_input)


def _refuse_unstorable_input() -> None:
    if request.path.startswith(_NOT_PAGES):
        return
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if UNSTORABLE.search(name) or UNSTORABLE.search(value):
                shown = UNSTORABLE.sub("\ufffd", name)
                abort(400, description=f"{shown}: {UNSTORABLE_MESSAGE}")
