"""ConnectWise PSA's and NinjaOne's APIs replayed with `responses` (no network),
from the objects the file connectors' tests read (tests/fixtures/vendors/SOURCES.md):

ConnectWise: django-connectwise's recorded company, ticket 69, its note and a
time entry (KerkhoffTechnologies/django-connectwise `djconnectwise/tests/fixtures.py`
@ fb44d780), and the agreements and configurations BUILT to ConnectWise's
documented shapes (connectwise_*_DOCUMENTED_SHAPE.json). Where a page needs
more companies or tickets, the recorded one is copied with only its `id` and
`_info.lastUpdated` changed (DERIVED). List answers are JSON arrays, as the
API documents (and the recorded lists are); errors are BUILT to its
documented error object (`code`, `message`, `errors`).

NinjaOne: organizations and the activity list BUILT to NinjaOne's OpenAPI
document (ninjaone_{organizations,activities}_DOCUMENTED_SHAPE.json), the
device and alert an MSP RECORDED from the API (ninjaone_api_*_RECORDED.json;
the `GET /v2/devices` item stands for a `devices-detailed` one, whose further
fields the connector reads alike). The token answer is BUILT to the OAuth 2
client-credentials answer NinjaOne documents (`access_token`, `expires_in`,
`scope`, `token_type`): TOKEN_DOCUMENTED_SHAPE below.
"""

import copy
import json
from pathlib import Path

from cryptography.fernet import Fernet
from responses import matchers

from connectors.connections import operations, transport
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sources import connectwise as cw
from connectors.connections.sources import ninjaone as ninja

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
CONNECTWISE = "https://api-na.connectwise.test/v4_6_release/apis/3.0"
NINJAONE = "https://eu.ninjarmm.test"
CW_KEYS = {
    "company_id": "acmemsp",
    "public_key": "pub-never-shown",
    "private_key": "priv-never-shown",
    "client_id": "0b2c5a6e-client",
}
NINJA_KEYS = {"client_id": "ninja-client", "client_secret": "ninja-secret-never-shown"}
TOKEN_DOCUMENTED_SHAPE = {
    "access_token": "ninja-token-never-shown",
    "expires_in": 3600,
    "scope": "monitoring",
    "token_type": "Bearer",
}


def vendor(name: str):
    return copy.deepcopy(json.loads((VENDORS / name).read_text()))


def keyed(app, monkeypatch) -> list[float]:
    """The credentials' key set; the transport's waits recorded, not spent."""
    app.config["CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    waits: list[float] = []
    monkeypatch.setattr(transport, "sleep", waits.append)
    return waits


def connect(session, vendor_name: str):
    base, keys = (CONNECTWISE, CW_KEYS) if vendor_name == "connectwise" else (NINJAONE, NINJA_KEYS)
    return connect_with(session, vendor_name, base, keys)


def connect_with(session, vendor_name: str, base: str, keys: dict):
    """A connection to `base` named as its vendor, added as the API adds one."""
    data = NewConnectionSchema().load(
        {"vendor": vendor_name, "name": vendor_name, "base_url": base, "credentials": keys}
    )
    connection = operations.add(session, data)
    session.commit()
    return connection


# --- ConnectWise -----------------------------------------------------------------------


def derived(item: dict, item_id: int, updated: str) -> dict:
    """The recorded object with another id and `_info.lastUpdated` (DERIVED)."""
    copied = copy.deepcopy(item) | {"id": item_id}
    copied["_info"] = dict(copied.get("_info") or {}) | {"lastUpdated": updated}
    return copied


def companies() -> list[dict]:
    """The recorded company 2 (its `_info.lastUpdated` malformed, verbatim:
    it moves no cursor), then companies 3 and 4 (DERIVED)."""
    company = vendor("connectwise_djconnectwise_company.json")
    return [
        company,
        derived(company, 3, "2016-01-04T10:00:00Z"),
        derived(company, 4, "2016-01-05T10:00:00Z"),
    ]


def tickets(count: int) -> list[dict]:
    """The recorded ticket 69, then tickets 70, 71, ... a day apart (DERIVED)."""
    ticket = vendor("connectwise_djconnectwise_service_ticket.json")
    return [ticket] + [
        derived(ticket, 69 + n, f"2016-03-{8 + n:02d}T21:59:20Z") for n in range(1, count)
    ]


def in_order(items: list[dict]) -> list[dict]:
    """As ConnectWise answers them: by `_info.lastUpdated`, then `id`."""
    return sorted(items, key=lambda item: cw.cursor_of(item) or ("", 0))


def cw_list(mock, path: str, pages: list[list[dict]], condition=None, state=None) -> dict:
    """A keyset-paged list: each page answered to the keyset after the page
    before (or `state`), and an empty one after a last page that is full;
    the stream's state after the last page."""
    state = dict(state or {})
    if pages and len(pages[-1]) >= cw.PAGE:
        pages = [*pages, []]
    for found in pages:
        wanted = " and ".join(c for c in (condition, cw.after(state)) if c)
        query = {"orderBy": cw.ORDER, "pageSize": str(cw.PAGE)} | (
            {"conditions": wanted} if wanted else {}
        )
        mock.get(f"{CONNECTWISE}{path}", json=found, match=[matchers.query_param_matcher(query)])
        last = [key for key in map(cw.cursor_of, found) if key]
        if last:
            state = {"lastUpdated": last[-1][0], "id": last[-1][1]}
    return state


def cw_notes(mock, ticket_id: int, notes: list[dict]) -> None:
    mock.get(
        f"{CONNECTWISE}/service/tickets/{ticket_id}/notes",
        json=notes,
        match=[
            matchers.query_param_matcher(
                {"orderBy": "id asc", "pageSize": str(cw.PAGE), "conditions": "id > 0"}
            )
        ],
    )


def cw_empty(mock, *paths: str) -> None:
    for path in paths:
        mock.get(f"{CONNECTWISE}{path}", json=[])


# --- NinjaOne ---------------------------------------------------------------------------


def ninja_token(mock, times: int = 1, **answer) -> None:
    for _ in range(times):
        mock.post(
            f"{NINJAONE}{ninja.TOKEN_PATH}",
            json=answer or TOKEN_DOCUMENTED_SHAPE,
            status=401 if answer else 200,
            match=[
                matchers.urlencoded_params_matcher(
                    {"grant_type": "client_credentials", "scope": "monitoring"} | NINJA_KEYS
                )
            ],
        )


def ninja_list(mock, path: str, pages: list[list[dict]]) -> None:
    """A list paged with `after` the last id of the page before, and an
    empty page after a last page that is full."""
    last = None
    if pages and len(pages[-1]) >= ninja.PAGE:
        pages = [*pages, []]
    for found in pages:
        query = {"pageSize": str(ninja.PAGE)} | ({"after": str(last)} if last else {})
        mock.get(f"{NINJAONE}{path}", json=found, match=[matchers.query_param_matcher(query)])
        last = found[-1]["id"] if found else last


def activities() -> list[dict]:
    return vendor("ninjaone_activities_DOCUMENTED_SHAPE.json")["activities"]


def ninja_activities(mock, pages: list[list[dict]], newer: int, older=None) -> None:
    """Activity answers, newest first: the window newer than `newer`, each
    page after the first older than the page before's oldest."""
    for found in pages:
        query = {"pageSize": str(ninja.PAGE), "newerThan": str(newer)}
        if older is not None:
            query["olderThan"] = str(older)
        body = {"lastActivityId": found[0]["id"] if found else None, "activities": found}
        mock.get(
            f"{NINJAONE}/v2/activities", json=body, match=[matchers.query_param_matcher(query)]
        )
        older = found[-1]["id"] if found else older


# --- A sync killed mid-page ---------------------------------------------------------------


class Killed(BaseException):
    """The process dies: no `except Exception` catches it."""


def die_on_second_page(monkeypatch, stream: str):
    """Until the returned function is called, the pipeline dies once the second
    page of records located in `stream` is written but not committed."""
    from connectors.pipeline import pages as page_module

    real_write, written = page_module.write, []

    def dies(batch, writers):
        real_write(batch, writers)  # in the transaction, never committed
        if any(r.locator.startswith(stream) for r in batch.records):
            written.append(batch)
            if len(written) == 2:
                raise Killed

    monkeypatch.setattr(page_module, "write", dies)
    return lambda: monkeypatch.setattr(page_module, "write", real_write)
