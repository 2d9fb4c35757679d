"""The application factory: builds the app and wires the three packages."""

import os

from flask import Flask

import connectors
import demo
import reports
from crm import (
    accounts,
    api,
    clients,
    config,
    event_caches,
    formatting,
    jobs,
    logs,
    meetings,
    page_input,
    search,
    timeline,
    views,
)
from crm.database import configure_engine
from crm.extensions import db, migrate
from crm.models.types import json_dumps


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        "touchline",
        root_path=os.path.dirname(os.path.abspath(__file__)),
        instance_relative_config=True,
        static_folder="static",
        template_folder="templates",
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(config.from_environment(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
        app.config["SQLALCHEMY_DATABASE_URI"] = config.normalise_database_url(
            app.config["SQLALCHEMY_DATABASE_URI"]
        )

    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})["json_serializer"] = json_dumps
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(app.root_path, "migrations"))
    with app.app_context():
        configure_engine(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])

    # First: its request hook must run before the access hook can answer.
    logs.init_app(app)
    api.init_app(app)
    # Before any page exists: the access hook and CSRF guard all of them.
    accounts.init_app(app)
    page_input.init_app(app)
    formatting.init_app(app)
    views.init_app(app)
    jobs.init_app(app)
    clients.init_app(app)
    event_caches.init_app(app)
    timeline.init_app(app)
    search.init_app(app)
    meetings.init_app(app)
    connectors.init_app(app)
    reports.init_app(app)
    demo.init_app(app)
    return app
