"""gunicorn's settings for `make serve` (`gunicorn -c gunicorn.conf.py`).

Every value comes from the environment, like the app's own settings
(docs/deploy.md lists them):

- TOUCHLINE_WEB_BIND      address to listen on (default 127.0.0.1:8000; a
                          reverse proxy with TLS stands in front)
- TOUCHLINE_WEB_WORKERS   processes (default 2 x cores + 1, at most 12)
- TOUCHLINE_WEB_THREADS   threads per process (default 1; above 1 gunicorn
                          uses its threaded worker)
- TOUCHLINE_WEB_TIMEOUT   seconds a request may take before its worker is
                          replaced (default 60)
- TOUCHLINE_PRELOAD_PDF   on: import WeasyPrint before the workers start, for
                          a pool that serves PDF downloads; off (the default):
                          never imported until a PDF is asked for
- DATABASE_URL and the rest: read by the app (crm/config.py)

The app is loaded once in the master and forked (preload_app), so the workers
share its memory; each worker then drops the database connections the master
opened, as a connection must never be used by two processes.
"""

import os

from crm.config import log_format

# Above this a single machine is better served by more threads or another
# machine: each process holds its own database connections and memory.
MAX_DEFAULT_WORKERS = 12


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


def _on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def default_workers() -> int:
    return min(2 * (os.cpu_count() or 1) + 1, MAX_DEFAULT_WORKERS)


wsgi_app = "app:app"
bind = [os.environ.get("TOUCHLINE_WEB_BIND", "").strip() or "127.0.0.1:8000"]
workers = _positive_int("TOUCHLINE_WEB_WORKERS", default_workers())
threads = _positive_int("TOUCHLINE_WEB_THREADS", 1)
timeout = _positive_int("TOUCHLINE_WEB_TIMEOUT", 60)
graceful_timeout = 30
keepalive = 5
# gunicorn's runtime control socket (one path per user) is not used; two
# instances on one host would fight over it.
control_socket_disable = True
preload_app = True
# The app writes one access line per request itself (crm/logs.py), with the
# request id and the account; gunicorn's own access log would repeat it.
accesslog = None
errorlog = "-"
if log_format() == "json":
    # gunicorn's own lines (start, worker boots and timeouts) as JSON too, on
    # stderr with the app's; nothing on the root logger, which would repeat
    # the app's lines, and no gunicorn access lines (see accesslog).
    logconfig_dict = {
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
        },
        "formatters": {"generic": {"()": "crm.logs.JsonFormatter"}},
    }


def when_ready(server) -> None:
    """In the master, after the app is loaded and before any worker forks:
    a PDF pool imports WeasyPrint once here and every worker inherits it."""
    if _on("TOUCHLINE_PRELOAD_PDF"):
        from reports import pdf

        pdf.preload()
        server.log.info("WeasyPrint imported before forking the workers")


def post_fork(server, worker) -> None:
    """In each new worker: forget the master's pooled connections, without
    closing them (they are the master's sockets), so the worker opens its own."""
    from crm.extensions import db

    app = server.app.wsgi()
    with app.app_context():
        db.engine.dispose(close=False)
