"""The real Prometheus Alertmanager posts straight to a live Touchline.

Touchline is served by werkzeug in a thread on the test database; the
`prometheus-alertmanager` binary (Debian's package; /work/shared/NOTES.md)
runs with a webhook receiver whose `http_config` carries the credentials
Touchline is configured with: a bearer token, or basic auth. An alert fires
and resolves in Alertmanager, and both notifications reach the alert's
thread with no proxy in between. With credentials Touchline does not know,
every delivery is refused and nothing is stored.

Skipped where the binary is missing, unless TOUCHLINE_REQUIRE_ALERTMANAGER=1
(`.ci/run` sets it and installs the package), where it fails instead.
"""

import json
import os
import queue
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from crm.extensions import db
from crm.models import Entity, Event, RawPayload
from factory import create_app
from tests.factories import make_client

BINARY = shutil.which("prometheus-alertmanager")
INSTALL_HINT = "install it with `apt-get install -y prometheus-alertmanager` (Debian's package)"
TOKEN = "am-bearer-test-token"
WAIT = 60  # seconds: how long a notification may take before the test gives up


@pytest.fixture(autouse=True)
def _alertmanager_binary():
    if BINARY is None:
        if os.environ.get("TOUCHLINE_REQUIRE_ALERTMANAGER") == "1":
            pytest.fail(f"prometheus-alertmanager is required here: {INSTALL_HINT}")
        pytest.skip(f"prometheus-alertmanager is not installed: {INSTALL_HINT}")


class Touchline:
    """Touchline served on 127.0.0.1, and the status of each webhook answer."""

    def __init__(self, database_url: str, secret: str):
        self.app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "TESTING": True,
                "WEBHOOK_SECRETS": {"alertmanager": secret},
                "REDIS_URL": None,  # each delivery is processed in its request
            }
        )
        self.answers: queue.Queue[int] = queue.Queue()
        self.server = make_server("127.0.0.1", 0, self._tapped(self.app.wsgi_app), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhooks/alertmanager"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _tapped(self, wsgi):
        answers = self.answers

        def app(environ, start_response):
            def start(status, headers, *args):
                if environ["PATH_INFO"].startswith("/webhooks/"):
                    answers.put(int(status.split()[0]))
                return start_response(status, headers, *args)

            return wsgi(environ, start)

        return app

    def next_answer(self) -> int:
        return self.answers.get(timeout=WAIT)

    def close(self):
        self.server.shutdown()
        self.thread.join()
        with self.app.app_context():
            db.engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def run_alertmanager(tmp_path, database_url):
    """run_alertmanager(http_config_yaml, secret) -> (Alertmanager's URL, Touchline)."""
    started: list[tuple[subprocess.Popen, Touchline]] = []

    def run(http_config: str, secret: str):
        touchline = Touchline(database_url, secret)
        config = tmp_path / f"alertmanager-{len(started)}.yml"
        config.write_text(
            "route:\n"
            "  receiver: touchline\n"
            "  group_by: [alertname]\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 4h\n"
            "receivers:\n"
            "  - name: touchline\n"
            "    webhook_configs:\n"
            f"      - url: {touchline.url}\n"
            "        send_resolved: true\n"
            "        http_config:\n" + http_config
        )
        address = f"127.0.0.1:{free_port()}"
        process = subprocess.Popen(
            [
                BINARY,
                f"--config.file={config}",
                f"--storage.path={tmp_path / f'data-{len(started)}'}",
                f"--web.listen-address={address}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append((process, touchline))
        _wait_until_ready(f"http://{address}/-/ready", process)
        return f"http://{address}", touchline

    yield run
    for process, touchline in started:
        process.terminate()
        process.wait(timeout=WAIT)
        touchline.close()


def _wait_until_ready(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"alertmanager exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail("alertmanager did not get ready")


def post_alerts(base: str, alerts: list[dict]) -> None:
    request = urllib.request.Request(
        f"{base}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WAIT) as answer:
        assert answer.status == 200


def disk_full(started: datetime, ended: datetime | None = None) -> dict:
    alert = {
        "labels": {
            "alertname": "DiskFull",
            "instance": "fs-01.acme.example:9100",
            "severity": "critical",
            "customer": "acme",
        },
        "annotations": {"summary": "fs-01 is out of disk space"},
        "startsAt": started.isoformat(),
    }
    return alert | {"endsAt": ended.isoformat()} if ended else alert


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def wait_for(session, check) -> None:
    """Poll the database until `check()` holds, ending each read so the
    server's writes are seen (and never blocked by a read left open)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        session.rollback()
        if check():
            return
        time.sleep(0.2)
    session.rollback()
    pytest.fail("Touchline never got what Alertmanager sent")


BEARER = f"          authorization:\n            type: Bearer\n            credentials: {TOKEN}\n"
BASIC = "          basic_auth:\n            username: alertmanager\n            password: s3cret\n"


@pytest.mark.parametrize(
    ("http_config", "secret"),
    [(BEARER, TOKEN), (BASIC, "alertmanager:s3cret")],
    ids=["bearer", "basic_auth"],
)
def test_alertmanager_posts_firing_and_resolved_straight_to_the_thread(
    session, run_alertmanager, http_config, secret
):
    acme = make_client("acme", identities=[("alertmanager", "acme")])
    session.commit()
    base, touchline = run_alertmanager(http_config, secret)
    started = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    post_alerts(base, [disk_full(started)])
    assert touchline.next_answer() == 200
    wait_for(session, lambda: count(session, Event) == 1)

    ended = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    post_alerts(base, [disk_full(started, ended)])
    wait_for(session, lambda: count(session, Event) == 2)
    events = session.execute(
        select(Event.kind, Event.occurred_at, Event.client_id).order_by(Event.occurred_at)
    ).all()
    assert events == [("alert.raised", started, acme.id), ("alert.resolved", ended, acme.id)]
    thread = session.scalars(select(Entity)).one()
    assert (thread.status, thread.opened_at, thread.closed_at) == ("resolved", started, ended)
    assert thread.key.endswith(f"@{started.isoformat().replace('+00:00', 'Z')}")


def test_credentials_touchline_does_not_know_are_refused(session, run_alertmanager):
    make_client("acme", identities=[("alertmanager", "acme")])
    session.commit()
    base, touchline = run_alertmanager(BEARER, "another-token")
    post_alerts(base, [disk_full(datetime.now(UTC).replace(microsecond=0))])
    assert touchline.next_answer() == 401
    session.rollback()
    assert (count(session, RawPayload), count(session, Event)) == (0, 0)
