"""Syncing QuickBooks Online and Xero connections, replayed with `responses`:
Xero's answers are the examples of Xero's OpenAPI (xero_openapi_get_*.json),
QuickBooks' the documented shapes of tests/fixtures/vendors and
python-quickbooks' empty CDC answer; see SOURCES.md there. The tokens are
in place (the OAuth flow itself: test_oauth_connections.py)."""

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from cryptography.fernet import Fernet
from responses import matchers
from sqlalchemy import func, select

from connectors.connections import oauth, operations, transport, vault
from connectors.connections.models import StreamState
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sources import quickbooks as qbo
from connectors.connections.sources import xero
from connectors.connections.sync import sync
from crm.models import Event, Identity, InboxRecord
from crm.money import parse_rates
from crm.revenue import monthly_recurring
from tests.factories import make_client

VENDORS = Path(__file__).parent / "fixtures" / "vendors"
QBO = "https://quickbooks.test"
COMPANY = f"{QBO}/v3/company/4620816365"
XERO = "https://xero.test/api.xro/2.0"
TENANT = "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
TOKEN = {
    "access_token": "at-never-shown",
    "refresh_token": "rt-never-shown",
    "token_type": "Bearer",
}


def fixture(name: str):
    return copy.deepcopy(json.loads((VENDORS / name).read_text()))


@pytest.fixture
def keyed(app, monkeypatch):
    app.config["CREDENTIALS_KEY"] = Fernet.generate_key().decode()
    monkeypatch.setattr(transport, "sleep", lambda seconds: None)
    return app


def connected(session, vendor: str, base_url: str, **account):
    data = NewConnectionSchema().load(
        {
            "vendor": vendor,
            "name": vendor,
            "base_url": base_url,
            "credentials": {"client_id": "id", "client_secret": "secret"},
        }
    )
    connection = operations.add(session, data)
    token = TOKEN | {"expires_at": int((datetime.now(UTC) + timedelta(hours=1)).timestamp())}
    credentials = vault.unseal(connection.credentials) | {oauth.TOKEN: token} | account
    connection.credentials = vault.seal(credentials)
    session.commit()
    return connection


def states(session) -> dict[str, dict]:
    session.expire_all()
    return {s.stream: s.state for s in session.scalars(select(StreamState))}


# QuickBooks Online


def quickbooks(session):
    return connected(session, "quickbooks", QBO, realm_id="4620816365")


def entities(name: str) -> list[dict]:
    return [
        r[name]
        for r in fixture("quickbooks_customer_payment_creditmemo_DOCUMENTED_SHAPE.json")
        if name in r
    ]


def query(mock, entity: str, pages: list[list[dict]], time: str, where: str = "") -> None:
    """The query API answering `SELECT * FROM entity` in these pages."""
    position = 1
    for found in pages:
        sql = (
            f"SELECT * FROM {entity}{where} ORDERBY Id STARTPOSITION {position}"
            f" MAXRESULTS {qbo.PAGE}"
        )
        body = {"QueryResponse": {entity: found, "startPosition": position}, "time": time}
        mock.get(
            f"{COMPANY}/query",
            json=body,
            match=[matchers.query_param_matcher({"query": sql, "minorversion": qbo.MINOR_VERSION})],
        )
        position += len(found)


def templates() -> list[dict]:
    """Paulsen's two recurring invoice templates (a monthly and a fortnightly one)."""
    found = fixture("quickbooks_recurring_transactions_DOCUMENTED_SHAPE.json")
    return found["QueryResponse"]["RecurringTransaction"][:2]


def quickbooks_backfill(mock, time: str) -> None:
    invoices = fixture("quickbooks_query_invoices_DOCUMENTED_SHAPE.json")["QueryResponse"][
        "Invoice"
    ]
    query(mock, "Customer", [entities("Customer")], time)
    query(mock, "Invoice", [invoices[:2], invoices[2:]], time)  # two pages
    query(mock, "Payment", [entities("Payment")], time)
    query(mock, "CreditMemo", [entities("CreditMemo")], time)
    query(mock, "RecurringTransaction", [templates(), []], time)  # a full page, then none


def test_quickbooks_backfills_across_pages_then_asks_cdc_for_changes(keyed, session, monkeypatch):
    monkeypatch.setattr(qbo, "PAGE", 2)
    make_client("paulsen", emails=["medical@intuit.com"])
    connection = quickbooks(session)
    began = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="milliseconds")
    with responses.RequestsMock() as mock:
        quickbooks_backfill(mock, began)
        run = sync(session, connection, "test")
        assert all(
            c.request.headers["Authorization"] == "Bearer at-never-shown" for c in mock.calls
        )
    assert run.status == "finished", connection.last_error
    assert run.rejected == 0 and run.unmatched == 0
    assert set(
        session.scalars(select(Identity.external_key).where(Identity.system == "quickbooks"))
    ) == {"15"}
    backfilled = session.scalar(select(func.count(Event.id)).where(Event.origin == "quickbooks"))
    assert backfilled > 3
    streams = ("customers", "invoices", "payments", "credit_memos", "recurring_transactions")
    assert states(session) == {name: {"since": began} for name in streams}
    mrr = monthly_recurring(session, None, datetime.now(UTC), parse_rates("USD", ""))
    assert [m.by_currency for m in mrr.values()] == [{"USD": Decimal("1630.00")}]

    # The next sync: only what changed since the backfill began, through CDC.
    changes = fixture("quickbooks_cdc_response_DOCUMENTED_SHAPE.json")
    empty = fixture("quickbooks_python_quickbooks_cdc_empty.json")
    with responses.RequestsMock() as mock:
        for entity in ("Customer", "Invoice", "Payment", "CreditMemo"):
            mine = copy.deepcopy(changes if entity in ("Customer", "Invoice") else empty)
            parts = mine["CDCResponse"][0]["QueryResponse"]
            mine["CDCResponse"][0]["QueryResponse"] = [p for p in parts if entity in p] or [{}]
            mock.get(
                f"{COMPANY}/cdc",
                json=mine,
                match=[
                    matchers.query_param_matcher(
                        {"entities": entity, "changedSince": began},
                        strict_match=False,
                    )
                ],
            )
        query(mock, "RecurringTransaction", [templates(), []], changes["time"])  # read whole
        run = sync(session, connection, "test")
    assert run.status == "finished", connection.last_error
    # Customer 15 again, invoice 130 paid since, invoice 127 deleted (skipped),
    # the two answers of no changes (skipped), the templates as they were
    # (duplicates) and the query's last, empty page (skipped).
    assert (run.accepted, run.duplicate, run.skipped, run.rejected) == (1, 3, 4, 0)
    saved = states(session)
    assert saved["invoices"] == {"since": changes["time"]}
    assert saved["payments"] == {"since": empty["time"]}
    after = session.scalar(select(func.count(Event.id)).where(Event.origin == "quickbooks"))
    assert after == backfilled + 1  # the paid step; nothing twice


def test_a_cursor_older_than_cdc_keeps_is_caught_up_by_a_query(keyed, session):
    connection = quickbooks(session)
    old = "2014-09-20T00:00:00-07:00"
    for name in ("customers", "invoices", "payments", "credit_memos"):
        session.add(StreamState(connection_id=connection.id, stream=name, state={"since": old}))
    session.commit()
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    where = f" WHERE MetaData.LastUpdatedTime >= '{old}'"
    with responses.RequestsMock() as mock:
        for entity in ("Customer", "Invoice", "Payment", "CreditMemo"):
            query(mock, entity, [[]], now, where)
        query(mock, "RecurringTransaction", [[]], now)  # whole, whatever the cursor
        run = sync(session, connection, "test")
    assert run.status == "finished", connection.last_error
    assert set(map(json.dumps, states(session).values())) == {json.dumps({"since": now})}


def test_a_bad_quickbooks_key_is_named_by_the_connection_test(keyed, client, session):
    quickbooks(session)
    fault = {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired",
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        }
    }
    with responses.RequestsMock() as mock:
        mock.get(f"{COMPANY}/query", status=401, json=fault)
        mock.post(
            oauth.PROVIDERS["quickbooks"].token_url, status=400, json={"error": "invalid_grant"}
        )
        said = client.post("/api/v1/connections/quickbooks/test").get_json()
    assert said["ok"] is False and said["problem"] == "credentials"
    assert "refused to refresh the OAuth token (invalid_grant)" in said["message"]
    assert "never-shown" not in json.dumps(said)


# Xero


def xero_connection(session):
    return connected(session, "xero", XERO, tenant_id=TENANT)


def listing(mock, path: str, pages: list[list[dict]], since: str | None = None, where=None):
    for number, found in enumerate(pages, start=1):
        body = fixture(f"xero_openapi_get_{path.lower()}.json")
        body[path] = found
        body["pagination"] = {"page": number, "pageSize": xero.PAGE, "pageCount": len(pages)}
        params = {"page": str(number), "order": "UpdatedDateUTC ASC"} | (
            {"where": where} if where else {}
        )
        headers = {"Xero-Tenant-Id": TENANT} | ({"If-Modified-Since": since} if since else {})
        mock.get(
            f"{XERO}/{path}",
            json=body,
            match=[matchers.query_param_matcher(params), matchers.header_matcher(headers)],
        )


def repeating(mock, name: str) -> None:
    """`GET /RepeatingInvoices` (sales ones) answering an example of Xero's OpenAPI,
    whole: no page, no If-Modified-Since."""
    mock.get(
        f"{XERO}/RepeatingInvoices",
        json=fixture(name),
        match=[
            matchers.query_param_matcher({"where": 'Type=="ACCREC"'}),
            matchers.header_matcher({"Xero-Tenant-Id": TENANT}),
        ],
    )


def test_xero_pages_through_every_list_then_asks_only_for_changes(keyed, session, monkeypatch):
    monkeypatch.setattr(xero, "PAGE", 2)
    contacts = fixture("xero_openapi_get_contacts.json")["Contacts"]
    invoices = fixture("xero_openapi_get_invoices.json")["Invoices"]
    make_client("marine", identities=[("xero", invoices[0]["Contact"]["ContactID"])])
    make_client("liam", identities=[("xero", "430fa14a-f945-44d3-9f97-5df5e28441b8")])
    connection = xero_connection(session)
    with responses.RequestsMock() as mock:
        listing(mock, "Contacts", [contacts])
        listing(mock, "Invoices", [invoices[:2], invoices[2:]], where='Type=="ACCREC"')
        listing(mock, "Payments", [fixture("xero_openapi_get_payments.json")["Payments"]])
        listing(mock, "CreditNotes", [[]], where='Type=="ACCRECCREDIT"')
        repeating(mock, "xero_openapi_get_repeatinginvoices.json")
        run = sync(session, connection, "test")
    assert run.status == "finished", connection.last_error
    assert run.rejected == 0, [(r.locator, r.reason) for r in session.scalars(select(InboxRecord))]
    first = session.scalar(select(func.count(Event.id)).where(Event.origin == "xero"))
    assert first > 0
    saved = states(session)
    # The latest UpdatedDateUTC of each list: invoices' /Date(1541176648927+0000)/.
    assert saved["invoices"] == {"since": "2018-11-02T16:37:28"}
    assert saved["credit_notes"] == {} and saved["repeating_invoices"] == {}
    subscription = select(Event.kind).where(Event.thread_type == "subscription")
    assert session.scalars(subscription).all() == ["subscription.created"]

    changed = copy.deepcopy(invoices[2])
    changed["UpdatedDateUTC"] = "/Date(1541263048927+0000)/"  # a day later
    with responses.RequestsMock() as mock:
        listing(mock, "Contacts", [[]], saved["contacts"]["since"])
        listing(mock, "Invoices", [[changed]], "2018-11-02T16:37:28", 'Type=="ACCREC"')
        listing(mock, "Payments", [[]], saved["payments"]["since"])
        listing(mock, "CreditNotes", [[]], None, 'Type=="ACCRECCREDIT"')
        repeating(mock, "xero_openapi_delete_repeatinginvoice.json")  # since deleted
        run = sync(session, connection, "test")
    assert run.status == "finished", connection.last_error
    # The changed invoice, three answers of no changes (skipped), the template deleted.
    assert (run.total, run.skipped, run.rejected) == (5, 3, 0)
    assert "subscription.cancelled" in session.scalars(subscription).all()
    assert states(session)["invoices"] == {"since": "2018-11-03T16:37:28"}


def test_a_bad_xero_key_is_named_by_the_connection_test(keyed, client, session):
    xero_connection(session)
    unauthorized = {
        "Type": None,
        "Title": "Unauthorized",
        "Status": 401,
        "Detail": "AuthenticationUnsuccessful",
    }
    with responses.RequestsMock() as mock:
        mock.get(f"{XERO}/Contacts", status=401, json=unauthorized)
        mock.post(
            oauth.PROVIDERS["xero"].token_url,
            json=TOKEN | {"access_token": "at-2", "expires_in": 1800},
        )
        mock.get(f"{XERO}/Contacts", status=401, json=unauthorized)
        said = client.post("/api/v1/connections/xero/test").get_json()
    assert said == {
        "ok": False,
        "problem": "credentials",
        "message": "Xero refused the access token (401: Unauthorized; AuthenticationUnsuccessful):"
        " click Connect on /connections to authorize again",
    }


def test_a_stream_is_named_with_only_the_settings_its_kind_declares():
    """A table of streams (Stream.named) refuses a misspelt setting rather
    than syncing with the kind's default (every Xero list, sales or not)."""
    contacts = xero.Listed.named("contacts", primary_key="ContactID", path="Contacts")
    assert (contacts.name, contacts.primary_key, contacts.path) == (
        "contacts",
        "ContactID",
        "Contacts",
    )
    assert contacts.where is None and xero.Listed.where is None
    with pytest.raises(TypeError, match=r"Listed declares no wher$"):
        xero.Listed.named("invoices", path="Invoices", wher='Type=="ACCREC"')
