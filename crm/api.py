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

import re
from typing import NoReturn

from apispec import BasePlugin
from flask import Flask, request, send_from_directory
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest import abort as _abort
from flask_smorest.error_handler import ErrorSchema as SmorestErrorSchema
from marshmallow import ValidationError, fields
from sqlalchemy import select
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request

from crm import jsontext
from crm.error_pages import error_page
from crm.extensions import db
from crm.models import Client

__all__ = ["ID", "ApiBlueprint", "abort", "client_or_404", "init_app", "no_client", "register"]

PREFIX = "/api/v1"
EXTENSION = "touchline-api"
# The URL converter for a row id, in pages and the API: `f"/runs/<{ID}:run_id>"`.
# Ids are INTEGER columns, so a bigger number names no row: the route answers
# 404 for it (and the OpenAPI document says the maximum) rather than hand the
# database a number it cannot bind (SQLite's OverflowError, PostgreSQL's
# "integer out of range": a 500).
ID = f"int(max={2**31 - 1})"
# PostgreSQL holds no NUL (U+0000) in text, and no database half a surrogate
# pair (a lone U+D800-DFFF, which JSON's "\ud800" makes): one in a request's
# path, parameters or body is refused before any query sees it, alike on
# every engine, rather than failing in the database with a 500.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_MESSAGE = "holds a character no text can keep: NUL (U+0000) or half a surrogate pair"


class _ArgumentsParser(FlaskParser):
    """webargs' parser, with a 422 naming the field for an argument the
    operation declares that holds an unstorable character, or that is given
    several times when it takes one value (webargs would keep the first).
    A JSON body is read by crm.jsontext, whose limits on depth and number
    size make a hostile body a 400 that says what is wrong, not a 500."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return missing
        return jsontext.loads(req.get_data(cache=True))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        if isinstance(error, jsontext.JSONLimitError):
            abort(400, f"the JSON body {error.msg}", field="json")
        return super()._handle_invalid_json_error(error, req, *args, **kwargs)

    def pre_load(self, location_data, *, schema, req, location):
        declared = {field.data_key or name: field for name, field in schema.fields.items()}
        for name, value in _pairs(location_data):
            where = _unstorable(value, str(name)) if name in declared else None
            if where:
                raise ValidationError({where: [UNSTORABLE_MESSAGE]})
        values_of = getattr(getattr(location_data, "data", None), "getlist", None)
        for name, field in declared.items():
            if values_of and not isinstance(field, fields.List) and len(values_of(name)) > 1:
                raise ValidationError({name: ["takes one value; it was given several times"]})
        return super().pre_load(location_data, schema=schema, req=req, location=location)


def _pairs(data) -> list:
    data = getattr(data, "data", data)  # webargs' MultiDictProxy wraps the request's MultiDict
    if not hasattr(data, "items"):
        return []  # a JSON body that is not an object: the schema refuses it
    try:
        return list(data.items(multi=True))
    except TypeError:
        return list(data.items())


def _unstorable(value, where: str) -> str | None:
    """The dotted path, from `where`, to a string in `value` holding an
    unstorable character (in a key: the object holding it), if there is one."""
    if isinstance(value, str):
        return where if UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and UNSTORABLE.search(key):
            return where
        found = _unstorable(item, f"{where}.{key}")
        if found:
            return found
    return None


class ApiBlueprint(SmorestBlueprint):
    """A package's endpoints: smorest's Blueprint, refusing unstorable text."""

    ARGUMENTS_PARSER = _ArgumentsParser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A blueprint's hooks run after the app's: the access check answers first.
        self.before_request(_refuse_unstorable_path)

    def client_route(self, rule: str, *, or_no_such: str | None = None, **options):
        """`route` for a path under /clients/<slug>, documented to answer 404
        when no client has the slug (or, naming `or_no_such`, when the client
        has no such one): the view finds the client with `client_or_404`."""
        unknown = "No client has this slug"
        if or_no_such:
            unknown += f", or it has no such {or_no_such}"
        route = self.route(rule, **options)
        documented = self.alt_response(404, description=unknown)
        return lambda view: route(documented(view))


def _refuse_unstorable_path() -> None:
    """Nothing is named with an unstorable character: 404, before the lookup."""
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and UNSTORABLE.search(value):
            abort(404, f"{name}: no {name} {UNSTORABLE_MESSAGE}", field=name)


class ErrorSchema(SmorestErrorSchema):
    """What every error answer holds (documentation only: errors are not dumped through it)."""

    field = fields.String(
        allow_none=True, metadata={"description": "The input field at fault, if one is"}
    )


class TouchlineApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        # smorest answers every HTTP error app-wide; pages get the site's own.
        if not request.path.startswith("/api/"):
            return error_page(error)
        payload, code, headers = super().handle_http_exception(error)
        # smorest answers with only the headers given to abort(): keep those the
        # exception itself carries, such as a 405's `Allow` (RFC 9110 requires it).
        own = {name: value for name, value in error.get_headers() if name != "Content-Type"}
        headers = own | dict(headers or {})
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


def client_or_404(slug: str) -> Client:
    """The client a path's `<slug>` names; else the request ends with a 404."""
    client = db.session.scalar(select(Client).where(Client.slug == slug))
    if client is None:
        no_client(slug)
    return client


def no_client(slug: str) -> NoReturn:
    abort(404, f"no client with slug {slug!r}", field="slug")


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
    # Swagger UI's files come from a package (swagger-ui-bundle-v2), served by
    # the app itself: the explorer works offline and loads nothing from a CDN.
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", "/api/docs/assets/")
    app.add_url_rule("/api/docs/assets/<path:filename>", "api_docs_assets", _swagger_ui_asset)
    api = TouchlineApi(app)
    api.spec.plugins.append(_UnreadableBodyResponse())
    app.extensions[EXTENSION] = api


def _swagger_ui_asset(filename: str):
    """One of Swagger UI's own files (its script, styles, icons)."""
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(swagger_ui_path, filename, max_age=86400)


class _UnreadableBodyResponse(BasePlugin):
    """An apispec plugin: every operation that takes a body may answer 400
    (webargs' "Invalid JSON body." when the body does not parse)."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            if "requestBody" in operation:
                operation.setdefault("responses", {}).setdefault("400", "DEFAULT_ERROR")


def register(app: Flask, blueprint: ApiBlueprint) -> None:
    """Add a package's endpoints under /api/v1 (call from its init_app)."""
    app.extensions[EXTENSION].register_blueprint(
        blueprint, url_prefix=PREFIX + (blueprint.url_prefix or "")
    )
