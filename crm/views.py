"""Endpoints that belong to the core: the home page, liveness and readiness."""

import time

from flask import Blueprint, Flask, current_app, jsonify, redirect
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from crm.accounts.guard import landing_page
from crm.extensions import db
from crm.paging import page_links
from crm.readiness import readiness

bp = Blueprint("core", __name__)


@bp.get("/")
def home():
    """Everyone starts on the first page their roles open: account managers on
    the client directory, an admin who only wires connectors on the runs."""
    return redirect(landing_page(current_user))


@bp.get("/health")
def health():
    """Whether the database answers, and how fast; 503 when it does not."""
    started = time.perf_counter()
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        body = {"status": "error", "database": {"ok": False, "error": type(error).__name__}}
        return jsonify(body), 503
    elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
    database = {"ok": True, "engine": db.engine.dialect.name, "latency_ms": elapsed_ms}
    return jsonify({"status": "ok", "database": database})


@bp.get("/ready")
def ready():
    """Whether this process can take traffic: the database and, when
    configured, Redis answer; 503 naming the ones that failed."""
    ok, checks = readiness(current_app.config.get("REDIS_URL"))
    if ok:
        return jsonify({"status": "ok", "checks": checks})
    failed = sorted(name for name, check in checks.items() if not check["ok"])
    return jsonify({"status": "unavailable", "failed": failed, "checks": checks}), 503


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # Every list page's pager (templates/_macros.html) draws its links with `page_url`.
    app.context_processor(page_links)
