"""`make serve`: gunicorn.conf.py's settings and hooks, and a real gunicorn
with two workers answering /health and /ready, then stopping cleanly."""

import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from crm.extensions import db

ROOT = Path(__file__).resolve().parent.parent
CONF = str(ROOT / "gunicorn.conf.py")
START_SECONDS = 30
# gunicorn gives its workers this long to finish on SIGTERM, then kills them;
# the test waits a little longer for the master to exit.
GRACEFUL_SECONDS = 10
STOP_SECONDS = GRACEFUL_SECONDS + 15


def _settings(monkeypatch, **environment) -> dict:
    for name in ("TOUCHLINE_WEB_WORKERS", "TOUCHLINE_WEB_THREADS", "TOUCHLINE_WEB_BIND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(CONF)


def test_workers_threads_and_address_come_from_the_environment(monkeypatch):
    conf = _settings(
        monkeypatch,
        TOUCHLINE_WEB_WORKERS="3",
        TOUCHLINE_WEB_THREADS="4",
        TOUCHLINE_WEB_BIND="0.0.0.0:9000",
    )
    assert (conf["workers"], conf["threads"], conf["bind"]) == (3, 4, ["0.0.0.0:9000"])
    assert conf["preload_app"] is True
    assert conf["wsgi_app"] == "app:app"


def test_the_default_is_two_workers_a_core_plus_one_within_a_cap(monkeypatch):
    conf = _settings(monkeypatch)
    cores = os.cpu_count() or 1
    assert conf["workers"] == min(2 * cores + 1, conf["MAX_DEFAULT_WORKERS"])
    assert conf["threads"] == 1
    assert conf["bind"] == ["127.0.0.1:8000"]
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert conf["default_workers"]() == conf["MAX_DEFAULT_WORKERS"]


@pytest.mark.parametrize("value", ["0", "-2", "many", "2.5"])
def test_a_bad_worker_count_is_refused_with_its_name(monkeypatch, value):
    with pytest.raises(ValueError, match="TOUCHLINE_WEB_WORKERS must be a whole number"):
        _settings(monkeypatch, TOUCHLINE_WEB_WORKERS=value)


def test_post_fork_drops_the_connections_inherited_from_the_master(app, monkeypatch):
    conf = _settings(monkeypatch)
    db.session.execute(text("SELECT 1"))
    db.session.remove()
    inherited_pool = db.engine.pool
    assert inherited_pool.checkedin() >= 1

    server = SimpleNamespace(app=SimpleNamespace(wsgi=lambda: app))
    conf["post_fork"](server, None)

    try:
        assert db.engine.pool is not inherited_pool
        assert db.engine.pool.checkedin() == 0
        assert db.session.execute(text("SELECT 1")).scalar() == 1
    finally:
        # In gunicorn the master keeps these; here nobody would close them.
        inherited_pool.dispose()


PRELOAD_PROBE = """
import os, runpy, sys, types
import app  # what every worker loads
loaded = lambda: "weasyprint" in sys.modules
server = types.SimpleNamespace(log=types.SimpleNamespace(info=lambda *args: None))
conf = runpy.run_path(sys.argv[1])
after_app = loaded()
conf["when_ready"](server)
without_setting = loaded()
os.environ["TOUCHLINE_PRELOAD_PDF"] = "1"
conf["when_ready"](server)
print(after_app, without_setting, loaded())
"""


def test_weasyprint_is_imported_at_start_only_by_pdf_processes(tmp_path):
    environment = _environment(tmp_path)
    environment.pop("TOUCHLINE_PRELOAD_PDF", None)
    probe = subprocess.run(
        [sys.executable, "-c", PRELOAD_PROBE, CONF],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert probe.stdout.split() == ["False", "False", "True"]


# --- a real gunicorn ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TOUCHLINE_") and name not in ("REDIS_URL", "DATABASE_URL")
    }
    environment["DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    return environment | extra


def _get(url: str, **headers: str):
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=2) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, "gunicorn exited while starting"
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer {url} within {START_SECONDS} s")


def test_gunicorn_serves_health_and_ready_and_stops_cleanly(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    environment = _environment(
        tmp_path,
        TOUCHLINE_WEB_BIND=f"127.0.0.1:{port}",
        TOUCHLINE_WEB_WORKERS="2",
        TOUCHLINE_LOG_FORMAT="json",
        GUNICORN_CMD_ARGS=f"--graceful-timeout {GRACEFUL_SECONDS}",
    )
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", CONF],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(base + "/health", server)
            status, _, health = _get(base + "/health")
            assert (status, health["status"], health["database"]["engine"]) == (200, "ok", "sqlite")
            status, headers, ready = _get(base + "/ready", **{"X-Request-ID": "serve-test-1"})
            assert (status, ready) == (200, {"status": "ok", "checks": {"database": {"ok": True}}})
            assert headers["X-Request-ID"] == "serve-test-1"
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                returncode = server.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=STOP_SECONDS)
                raise AssertionError(
                    "gunicorn did not stop on SIGTERM:\n" + log_path.read_text()[-3000:]
                ) from None
    assert returncode == 0

    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    booted = [line for line in lines if line["message"].startswith("Booting worker")]
    assert len(booted) == 2
    [access] = [line for line in lines if line.get("request_id") == "serve-test-1"]
    assert (access["logger"], access["path"], access["status"]) == (
        "touchline.access",
        "/ready",
        200,
    )
    assert any(line["message"] == "Shutting down: Master" for line in lines)
