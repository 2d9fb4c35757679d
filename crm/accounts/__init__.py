"""Accounts, roles and the access policy: who may see and do what.

- models.py: users and their roles, API tokens, the audit log, sign-in attempts
- operations.py: creating accounts and tokens, passwords, writing the audit log
- policy.py: the one table of what each role may do and what each endpoint needs
- guard.py: the hook every request passes (session or token, policy, CSRF)
- headers.py: security headers and the Content-Security-Policy
- views.py, admin.py, api.py, cli.py: signing in, the admin pages, the API, the CLI

The factory calls `init_app` right after the API is set up, before the other
packages add their pages.
"""

from apispec import BasePlugin
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from crm.config import DEVELOPMENT_SECRET_KEY

BEARER_SCHEME = "bearerAuth"


def init_app(app: Flask) -> None:
    from crm import api
    from crm.accounts import guard, headers
    from crm.accounts.admin import bp as admin_pages
    from crm.accounts.api import blp
    from crm.accounts.cli import tokens_cli, users_cli
    from crm.accounts.unsubscribe import bp as unsubscribe_pages
    from crm.accounts.views import bp as account_pages

    _check_settings(app)
    if app.config["PROXY_COUNT"]:
        hops = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    guard.init_app(app)
    headers.init_app(app)
    app.register_blueprint(account_pages)
    app.register_blueprint(unsubscribe_pages)
    app.register_blueprint(admin_pages)
    _document_bearer_tokens(app)
    api.register(app, blp)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)


def _check_settings(app: Flask) -> None:
    """A production setting that would leave the service open stops it at start."""
    if app.config["ENV_NAME"] == "production" and (
        not app.config.get("SECRET_KEY") or app.config["SECRET_KEY"] == DEVELOPMENT_SECRET_KEY
    ):
        raise RuntimeError(
            "TOUCHLINE_ENV=production needs a SECRET_KEY of its own: anyone knowing the "
            "development key could forge a session. Set SECRET_KEY to a long random value."
        )


def _document_bearer_tokens(app: Flask) -> None:
    """The OpenAPI document says every operation takes a Bearer token, and
    what a refusal looks like, so the explorer offers "Authorize"."""
    from crm import api

    spec = app.extensions[api.EXTENSION].spec
    spec.components.security_scheme(
        BEARER_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (tl_...): `flask tokens create EMAIL`, or an "
            "admin's /admin/users page. Reading also works with the session of a "
            "signed-in browser.",
        },
    )
    spec.options["security"] = [{BEARER_SCHEME: []}]
    # Swagger UI would send the document's address to validator.swagger.io.
    app.config.setdefault("OPENAPI_SWAGGER_UI_CONFIG", {"validatorUrl": None})
    spec.plugins.append(_RefusalResponses())


class _RefusalResponses(BasePlugin):
    """An apispec plugin: 401 and 403 on every operation of the API."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", "DEFAULT_ERROR")
            responses.setdefault("403", "DEFAULT_ERROR")
