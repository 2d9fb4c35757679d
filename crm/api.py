"""The JSON API (`/api/v1`): one flask-smorest Api per app that every package adds to.

Each package keeps its endpoints in its own `api.py` as an `ApiBlueprint` and
adds it with `register(app, blueprint)` from its `init_app`; the factory calls
`init_app(app)` here first. The OpenAPI document is served at
`/api/openapi.json` and an interactive explorer at `/api/docs`.

Every API error is JSON of one shape, so a client can show it without knowing
which layer refused the request:

    {"code": 422, "status": "Unprocessable Entity",
     "message": "tier: Must be one of: new, standard, problem, key.",
     "field": "tier", "errors": {"json": {"tier": ["Must be one of: ..."]}}}

Raise one from a view with `abort(code, message=..., field=...)`.
"""

from flask import Flask, request
from flask_smorest import Api
from flask_smorest import Blueprint as ApiBlueprint
from flask_smorest import abort as _abort

__all__ = ["ApiBlueprint", "abort", "init_app", "register"]

PREFIX = "/api/v1"
EXTENSION = "touchline-api"


class TouchlineApi(Api):
    def handle_http_exception(self, error):
        # smorest answers every HTTP error app-wide; pages keep Flask's own.
        if not request.path.startswith("/api/"):
            return error
        payload, code, headers = super().handle_http_exception(error)
        data = getattr(error, "data", None) or {}
        field, message = _first_error(payload.get("errors"))
        payload["field"] = data.get("field", field)
        payload["message"] = (
            data.get("message") or message or error.description or payload["status"]
        )
        return payload, code, headers


def abort(code: int, message: str, field: str | None = None):
    """End an API request with the standard error body."""
    _abort(code, message=message, field=field)


def _first_error(errors) -> tuple[str | None, str | None]:
    """The first field named in webargs' {"json": {"field": ["message"]}} errors."""
    if not isinstance(errors, dict):
        return None, None
    for location in errors.values():
        if not isinstance(location, dict):
            continue
        for field, messages in location.items():
            field = str(field)
            while isinstance(messages, dict) and messages:  # {"contacts": {"0": {"email": [..]}}}
                inner, messages = next(iter(messages.items()))
                field = f"{field}.{inner}"
            text = messages[0] if isinstance(messages, list) and messages else str(messages)
            name = None if field == "_schema" else field
            return name, f"{name}: {text}" if name else text
    return None, None


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Touchline")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "/docs")
    app.config.setdefault(
        "OPENAPI_SWAGGER_UI_URL", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14/"
    )
    app.extensions[EXTENSION] = TouchlineApi(app)


def register(app: Flask, blueprint: ApiBlueprint) -> None:
    """Add a package's endpoints under /api/v1 (call from its init_app)."""
    app.extensions[EXTENSION].register_blueprint(
        blueprint, url_prefix=PREFIX + (blueprint.url_prefix or "")
    )
