"""/health says the process is alive; /ready says it can take traffic: the
database and, when REDIS_URL is configured, Redis answer. Both are public."""

import os

from factory import create_app

# The Redis of the machine and of CI (see the issue); an address nothing listens on.
REDIS_URL = os.environ.get("TOUCHLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NOBODY_LISTENS = "redis://127.0.0.1:1/0"


def test_ready_without_redis_configured_checks_only_the_database(app, anonymous):
    app.config["REDIS_URL"] = None
    response = anonymous.get("/ready")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": {"ok": True}}}


def test_ready_pings_redis_when_it_is_configured(app, anonymous):
    app.config["REDIS_URL"] = REDIS_URL
    response = anonymous.get("/ready")
    assert response.status_code == 200, response.json
    assert response.json["checks"] == {"database": {"ok": True}, "redis": {"ok": True}}


def test_unreachable_redis_makes_the_app_unready_and_says_so(app, anonymous):
    app.config["REDIS_URL"] = NOBODY_LISTENS
    response = anonymous.get("/ready")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["failed"] == ["redis"]
    assert response.json["checks"]["database"] == {"ok": True}
    assert response.json["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_unreachable_database_makes_the_app_unready_and_not_healthy(tmp_path):
    missing = tmp_path / "no-such-folder" / "touchline.db"
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}", "TESTING": True, "REDIS_URL": None}
    )
    http = app.test_client()

    ready = http.get("/ready")
    assert ready.status_code == 503
    assert ready.json["failed"] == ["database"]
    assert ready.json["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert http.get("/health").status_code == 503


def test_both_fail_and_both_are_named(tmp_path):
    missing = tmp_path / "no-such-folder" / "touchline.db"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}",
            "TESTING": True,
            "REDIS_URL": NOBODY_LISTENS,
        }
    )
    assert app.test_client().get("/ready").json["failed"] == ["database", "redis"]
