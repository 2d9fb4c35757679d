"""The real Prometheus Alertmanager delivers to Touchline (skipped where the
`prometheus-alertmanager` binary is not installed; /work/shared/NOTES.md).

An alert fires and resolves in Alertmanager; its webhook receiver posts both
notifications. Touchline is given only the resolved one, as when it was not
listening yet when the alert fired: the alert still fired, at its
`startsAt`, and the firing notification delivered late changes nothing.
Alertmanager cannot sign a body, so the test signs what it received, as a
signing proxy in front of Touchline would.
"""

import json
import queue
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from connectors.signatures import HMAC_HEADER, sign_hmac
from crm.models import Entity, Event
from tests.factories import make_client

BINARY = shutil.which("prometheus-alertmanager")
pytestmark = pytest.mark.skipif(BINARY is None, reason="prometheus-alertmanager is not installed")
SECRET = "whsec_alertmanager_test"
WAIT = 60  # seconds: how long a notification may take before the test gives up


class Receiver:
    """A webhook receiver: the bodies Alertmanager posted, in order."""

    def __init__(self):
        self.bodies: queue.Queue[bytes] = queue.Queue()
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.put(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next_body(self) -> dict:
        return json.loads(self.bodies.get(timeout=WAIT))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def alertmanager(tmp_path):
    """A running Alertmanager whose one receiver posts to a Receiver."""
    receiver = Receiver()
    config = tmp_path / "alertmanager.yml"
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
        f"      - url: {receiver.url}\n"
        "        send_resolved: true\n"
    )
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address={address}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_until_ready(f"http://{address}/-/ready", process)
        yield f"http://{address}", receiver
    finally:
        process.terminate()
        process.wait(timeout=WAIT)
        receiver.close()


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


def deliver(client, body: dict):
    raw = json.dumps(body).encode()
    headers = {HMAC_HEADER: sign_hmac(SECRET, raw), "Content-Type": "application/json"}
    return client.post("/webhooks/alertmanager", data=raw, headers=headers)


def test_a_resolved_notification_of_an_alert_never_seen_firing(app, client, session, alertmanager):
    base, receiver = alertmanager
    acme = make_client("acme", identities=[("alertmanager", "acme")])
    app.config["WEBHOOK_SECRETS"] = {"alertmanager": SECRET}
    started = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
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
    post_alerts(base, [alert])
    firing = receiver.next_body()  # the notification Touchline missed
    assert firing["status"] == "firing"
    ended = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    post_alerts(base, [alert | {"endsAt": ended.isoformat()}])
    resolved = receiver.next_body()
    assert [a["status"] for a in resolved["alerts"]] == ["resolved"]

    answer = deliver(client, resolved)
    assert answer.status_code == 200, answer.json
    assert (answer.json["accepted"], answer.json["total"]) == (1, 1)
    events = session.execute(
        select(Event.kind, Event.occurred_at, Event.client_id).order_by(Event.occurred_at)
    ).all()
    assert events == [("alert.raised", started, acme.id), ("alert.resolved", ended, acme.id)]
    [thread] = session.scalars(select(Entity)).all()
    fingerprint = resolved["alerts"][0]["fingerprint"]
    assert thread.key == f"{fingerprint}@{started.isoformat().replace('+00:00', 'Z')}"
    assert (thread.status, thread.opened_at, thread.closed_at) == ("resolved", started, ended)

    late = deliver(client, firing)
    assert (late.json["duplicate"], late.json["accepted"]) == (1, 0)
    assert session.scalar(select(Entity.event_count)) == 2
