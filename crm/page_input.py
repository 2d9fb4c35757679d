"""Pages refuse text that no database column can hold.

A NUL character (or half a surrogate pair) in a page's query parameter or
form field would reach a query as it is: PostgreSQL refuses such text
outright, which failed the request with a 500. The API refuses it in its
argument parser (crm.api); pages get a 400 that names the parameter, before
any view reads it.
"""

from flask import Flask, abort, request

from crm.accounts.requester import is_api_request
from crm.api import UNSTORABLE, UNSTORABLE_MESSAGE


def init_app(app: Flask) -> None:
    app.before_request(_refuse_unstorable_input)


def _refuse_unstorable_input() -> None:
    # The API's parser refuses such text itself (crm.api); a webhook's body is
    # stored as it came and its records checked by the pipeline.
    if is_api_request() or request.blueprint == "webhooks":
        return
    for source in (request.args, request.form):
        for name, value in source.items(multi=True):
            if UNSTORABLE.search(name) or UNSTORABLE.search(value):
                shown = UNSTORABLE.sub("\ufffd", name)
                abort(400, description=f"{shown}: {UNSTORABLE_MESSAGE}")
