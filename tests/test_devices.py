"""The device inventory: an RMM's device export, the client it names, the
alerts its hostnames place, and the devices on the client's page and API.

The exports are built to Datto RMM's and NinjaOne's documented device fields
(tests/fixtures/vendors/SOURCES.md); the alerts are Alertmanager's."""

import json
from pathlib import Path

from sqlalchemy import select

from crm.models import Device, Event, Identity, InboxHint, InboxRecord
from tests.factories import make_client
from tests.helpers import inbox_by_locator, ingest_file

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
DATTO = VENDORS / "datto_rmm_devices_api_fields_DOCUMENTED_SHAPE.csv"
NINJA = VENDORS / "ninjaone_devices_detailed_api_fields_DOCUMENTED_SHAPE.csv"
RECORDED_RESOLVED = VENDORS / "alertmanager_0.25_webhook_resolved_RECORDED.json"


def devices(session) -> dict[str, Device]:
    return {device.hostname: device for device in session.scalars(select(Device))}


def hosts(session) -> dict[str, int]:
    rows = session.execute(
        select(Identity.external_key, Identity.client_id).where(Identity.system == "host")
    )
    return dict(rows.all())


def test_a_datto_export_waits_for_its_sites_then_places_every_device(runner, session):
    assert ingest_file(runner, "devices", DATTO)["unmatched"] == 3
    waiting = session.execute(
        select(InboxHint.key).join(InboxRecord).where(InboxHint.system == "rmm-client")
    ).scalars()
    assert sorted(waiting) == ["Harbor Dental", "Harbor Dental", "Northwind Freight"]

    harbor = make_client("harbor-dental")
    result = runner.invoke(
        args=["identities", "map", "rmm-client", "Harbor Dental", "harbor-dental"]
    )
    assert "replayed 2 devices records: 2 accepted" in result.output, result.output
    found = devices(session)
    assert set(found) == {"HD-FS01", "HD-RECEPTION-01"}
    server = found["HD-FS01"]
    assert (server.client_id, server.host, server.site, server.device_type) == (
        harbor.id,
        "hd-fs01",
        "Harbor Dental",
        "Server",
    )
    assert server.operating_system == "Microsoft Windows Server 2019 Standard 1809"
    assert server.last_seen_at.isoformat() == "2026-11-30T08:15:00+00:00"
    assert (server.rmm, server.rmm_id) == ("datto-rmm", "4d7b6f1e-2c1a-4e8b-9f51-0a6c3d2e1b01")
    assert hosts(session) == {"hd-fs01": harbor.id, "hd-reception-01": harbor.id}
    # The third still waits for Northwind's site.
    assert inbox_by_locator(session)["line 4"].status == "unmatched"


def test_a_ninjaone_export_and_the_same_file_again(runner, session):
    harbor = make_client("harbor-dental", identities=[("rmm-client", "Harbor Dental")])
    make_client("northwind", identities=[("rmm-client", "Northwind Freight")])
    assert ingest_file(runner, "devices", NINJA)["accepted"] == 3
    found = devices(session)
    sql = found["HD-SQL01"]
    assert (sql.client_id, sql.site, sql.device_type, sql.serial_number) == (
        harbor.id,
        "Boston",
        "Windows server",
        "CZJ2340K7Q",
    )
    assert (sql.dns_name, sql.rmm, sql.rmm_id) == (
        "hd-sql01.harbordental.example",
        "ninjaone",
        "101",
    )
    assert sql.last_seen_at.isoformat() == "2026-11-30T08:20:00.482000+00:00"
    assert found["NWF-MBP-07"].device_type == "MAC"
    # Alerts name a device by its hostname or its DNS name.
    assert {"hd-sql01", "hd-sql01.harbordental.example"} <= set(hosts(session))

    summary = ingest_file(runner, "devices", NINJA)
    assert (summary["duplicate"], summary["accepted"]) == (3, 0)


def test_a_device_places_the_alerts_that_waited_for_its_host(runner, session, tmp_path):
    """The real Alertmanager's resolved body names web-1.acme.example; once the
    inventory lists that device for Acme, the alert, raise and resolve, is Acme's."""
    assert ingest_file(runner, "alertmanager", RECORDED_RESOLVED)["unmatched"] == 1
    acme = make_client("acme", identities=[("account", "AC-1")])
    inventory = tmp_path / "devices.csv"
    inventory.write_text(
        "Hostname,DNS Name,Account,Site,Device Type,Operating System,Serial Number,Last Seen\n"
        "WEB-1,web-1.acme.example,AC-1,Main office,Server,Ubuntu 22.04,,2026-12-01T09:00:00Z\n"
    )
    assert ingest_file(runner, "devices", inventory)["accepted"] == 1
    events = session.execute(select(Event.kind, Event.client_id).order_by(Event.kind)).all()
    assert events == [("alert.raised", acme.id), ("alert.resolved", acme.id)]
    assert session.scalars(select(InboxRecord.status)).one() == "replayed"


def test_a_host_places_one_client(runner, session, tmp_path):
    """A hostname another client's device (or a mapping) has already taken
    is refused, naming that client: its alerts would go there."""
    make_client("acme", identities=[("host", "nas-01")])
    make_client("globex")
    inventory = tmp_path / "devices.csv"
    inventory.write_text("hostname,client\nNAS-01,globex\n")
    assert ingest_file(runner, "devices", inventory)["rejected"] == 1
    row = inbox_by_locator(session)["line 2"]
    assert row.field == "hostname"
    assert "already places the alerts of client acme" in row.reason
    assert devices(session) == {}


def test_a_datto_api_page_and_odd_records(runner, session, tmp_path):
    acme = make_client("acme")
    page = {
        "pageDetails": {"count": 4, "totalCount": 4, "prevPageUrl": None, "nextPageUrl": None},
        "devices": [
            {
                "uid": "u-1",
                "siteName": "Acme",
                "hostname": "ACME-LT-04",
                "deviceType": {"category": "Laptop", "type": "Main"},
                "operatingSystem": "Microsoft Windows 11 Pro",
                "lastSeen": 1796026500000,
                "client": "acme",
            },
            {"uid": "u-2", "client": "acme", "lastSeen": 1796026500000},
            {"uid": "u-3", "hostname": "ACME-LT-05", "client": "acme", "lastSeen": "yesterday"},
            {"uid": "u-4", "hostname": "ACME-LT-06", "description": "no client"},
        ],
    }
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page))
    summary = ingest_file(runner, "devices", path)
    assert (summary["accepted"], summary["rejected"]) == (1, 3)
    laptop = devices(session)["ACME-LT-04"]
    assert (laptop.client_id, laptop.device_type) == (acme.id, "Laptop")
    rows = inbox_by_locator(session)
    assert (rows["devices[1]"].field, rows["devices[1]"].reason) == (
        "hostname",
        "hostname is required",
    )
    assert rows["devices[2]"].field == "last_seen"
    assert rows["devices[3]"].field == "client"


def test_the_client_page_and_api_list_the_devices(client, runner, session):
    make_client("harbor-dental", identities=[("rmm-client", "Harbor Dental")])
    ingest_file(runner, "devices", NINJA)
    page = client.get("/clients/harbor-dental")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="devices-title"' in text
    assert "HD-SQL01" in text and "CZJ2340K7Q" in text and "Cambridge" in text
    assert "NWF-MBP-07" not in text  # Northwind's

    answer = client.get("/api/v1/clients/harbor-dental/devices")
    assert answer.status_code == 200
    items = answer.json["items"]
    assert [item["hostname"] for item in items] == ["HD-SQL01", "HD-OP3-PC"]
    assert items[0] | {"updated_at": None} == {
        "hostname": "HD-SQL01",
        "host": "hd-sql01",
        "dns_name": "hd-sql01.harbordental.example",
        "serial_number": "CZJ2340K7Q",
        "site": "Boston",
        "operating_system": "Windows Server 2022 Standard",
        "device_type": "Windows server",
        "last_seen_at": "2026-11-30T08:20:00.482000+00:00",
        "rmm": "ninjaone",
        "rmm_id": "101",
        "updated_at": None,
    }
    assert client.get("/api/v1/clients/nobody/devices").status_code == 404
