"""Logs: one JSON object a line with the request's id, method, path, status,
duration and account; the request id round-trips and a hostile one is replaced."""

import json
import logging
import re
import sys

import pytest

from crm import logs
from crm.accounts import policy

NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def restore_logging():
    """The text format the tests' apps log in, after a test changed it."""
    yield
    logs.configure("text")


@pytest.fixture
def json_logs(capfd, restore_logging):
    """The app's logs as JSON on stderr (as in production), read back as objects."""
    logs.configure("json")
    capfd.readouterr()

    def lines() -> list[dict]:
        return [json.loads(line) for line in capfd.readouterr().err.splitlines() if line]

    return lines


def _access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == logs.ACCESS_LOGGER]


def test_a_request_id_sent_by_the_proxy_comes_back(anonymous):
    response = anonymous.get("/health", headers={"X-Request-ID": "edge-7f3a.42:1"})
    assert response.headers["X-Request-ID"] == "edge-7f3a.42:1"


def test_a_request_without_an_id_gets_a_new_one_each_time(anonymous):
    first = anonymous.get("/health").headers["X-Request-ID"]
    second = anonymous.get("/health").headers["X-Request-ID"]
    assert NEW_ID.fullmatch(first) and NEW_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "hostile",
    ['x", "level": "ERROR', "a" * 65, "two words", "<script>", "id\ttab", "é"],
)
def test_a_hostile_request_id_is_replaced(anonymous, json_logs, hostile):
    response = anonymous.get("/health", headers={"X-Request-ID": hostile})
    replaced = response.headers["X-Request-ID"]
    assert NEW_ID.fullmatch(replaced)
    [access] = _access_lines(json_logs())
    assert access["request_id"] == replaced
    assert hostile not in json.dumps(access)


def test_each_request_writes_one_json_access_line_with_its_fields(client, json_logs):
    response = client.get("/clients", headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 200

    [access] = _access_lines(json_logs())
    assert access["level"] == "INFO"
    assert access["request_id"] == "trace-1"
    assert (access["method"], access["path"], access["status"]) == ("GET", "/clients", 200)
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", access["time"])
    assert access["message"] == "GET /clients 200"
    me = client.get("/api/v1/me").json
    assert access["user_id"] == me["id"]


def test_a_refused_request_is_logged_too_without_an_account(anonymous, json_logs):
    response = anonymous.get("/clients", headers={"X-Request-ID": "refused-1"})
    assert response.status_code == 302
    assert response.headers["X-Request-ID"] == "refused-1"

    [access] = _access_lines(json_logs())
    assert (access["status"], access["request_id"]) == (302, "refused-1")
    assert "user_id" not in access


@pytest.mark.fresh_app
def test_lines_the_app_writes_during_a_request_carry_its_id(app, anonymous, json_logs):
    def shout():
        logging.getLogger("touchline.example").warning("disk %s full", "/var")
        return "ok"

    app.add_url_rule("/shout", "shout", shout)
    policy.ENDPOINTS["shout"] = policy.PUBLIC
    try:
        anonymous.get("/shout", headers={"X-Request-ID": "loud-1"})
    finally:
        del policy.ENDPOINTS["shout"]

    [warning] = [line for line in json_logs() if line["logger"] == "touchline.example"]
    assert warning["level"] == "WARNING"
    assert warning["message"] == "disk /var full"
    assert (warning["request_id"], warning["path"], warning["method"]) == (
        "loud-1",
        "/shout",
        "GET",
    )


def test_an_exception_is_kept_inside_its_one_line():
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        record = logging.LogRecord(
            "touchline", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = logs.JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "failed"
    assert "RuntimeError: boom" in parsed["exception"]


def test_text_format_for_people(capfd, restore_logging):
    logs.configure("text")
    capfd.readouterr()
    logging.getLogger("touchline.example").info("started")
    assert re.search(r" INFO touchline\.example \[-\] started$", capfd.readouterr().err.strip())


def test_an_unknown_log_format_is_refused(restore_logging):
    with pytest.raises(ValueError, match="TOUCHLINE_LOG_FORMAT must be json or text"):
        logs.configure("xml")


def test_production_logs_json_by_default(monkeypatch):
    from crm import config

    monkeypatch.delenv("TOUCHLINE_LOG_FORMAT", raising=False)
    monkeypatch.setenv("TOUCHLINE_ENV", "production")
    assert config.log_format() == "json"
    monkeypatch.setenv("TOUCHLINE_ENV", "development")
    assert config.log_format() == "text"
    monkeypatch.setenv("TOUCHLINE_LOG_FORMAT", "JSON")
    assert config.log_format() == "json"
