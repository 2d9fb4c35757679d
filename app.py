"""Entry point for `flask run`, `flask db ...` and WSGI servers."""

from crm.factory import create_app

app = create_app()
