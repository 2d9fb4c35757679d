"""Logs: one line per record, JSON in production, and a request id on every
line a request writes, so one request can be followed across the proxy, the
web workers and the log store.

The request id comes from the proxy's `X-Request-ID` when it is a short,
plain token (anything else could forge or break log lines, so it is replaced)
or is made here, and is sent back in the response's `X-Request-ID`. Each
request ends with one access line on the `touchline.access` logger: method,
path, status, duration and the signed-in account's id.
"""

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TextIO

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
# Proxies send UUIDs or hex strings; 64 characters of these is room for any of them.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_REQUEST_ID_KEY = "touchline.request_id"
_STARTED_KEY = "touchline.started"
# The fields a record carries beyond the standard ones, in output order.
REQUEST_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
ACCESS_LOGGER = "touchline.access"
# The app's own logger (Flask names it after the app); access lines go to a child of it.
APP_LOGGER = "touchline"


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line (newlines inside are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in REQUEST_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class RequestContextFilter(logging.Filter):
    """Gives every record written during a request that request's id, method
    and path (and "-" outside one, so the text format always has a value)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            if getattr(record, "request_id", None) is None:
                record.request_id = request_id()
            if getattr(record, "method", None) is None:
                record.method = request.method
            if getattr(record, "path", None) is None:
                record.path = request.path
        elif getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return True


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"TOUCHLINE_LOG_FORMAT must be json or text, not {log_format!r}")


def init_app(app: Flask) -> None:
    configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    # Before the access hook, which may answer (401, a redirect) on its own:
    # a refused request still gets an id and an access line.
    app.before_request(_start_request)
    app.after_request(_finish_request)


def configure(log_format: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """One handler on the app's logger, to `stream` (stderr), in `log_format`.

    Logging is per process, so the last app made decides; calling this again
    replaces the handler rather than adding a second one. By default the
    lines go to the process's own stderr (file descriptor 2), never to a
    stand-in some code puts in sys.stderr for a moment (a CLI test runner),
    which a request served by another thread at that moment would write into.
    """
    logger = logging.getLogger(APP_LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)  # ours from an earlier app, or Flask's default
    handler = logging.StreamHandler(stream or sys.__stderr__)
    handler.setFormatter(make_formatter(log_format))
    handler.addFilter(RequestContextFilter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())


def request_id() -> str:
    """This request's id: the proxy's when it is safe, else a new one."""
    known = request.environ.get(_REQUEST_ID_KEY)
    if known is None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        known = sent if _SAFE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        request.environ[_REQUEST_ID_KEY] = known
    return known


def _start_request() -> None:
    request.environ[_STARTED_KEY] = time.perf_counter()
    request_id()


def _finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = request_id()
    started = request.environ.get(_STARTED_KEY)
    duration_ms = round((time.perf_counter() - started) * 1000, 2) if started else None
    logging.getLogger(ACCESS_LOGGER).info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "request_id": request_id(),
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": _signed_in_user_id(),
        },
    )
    return response


def _signed_in_user_id() -> int | None:
    """The account's id if this request already loaded one; never a query of
    its own (static files and /health would pay for it)."""
    user = g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.id
