"""A Salesforce connection syncing Accounts and Opportunities through the REST
query API (simple-salesforce over our transport), replayed with `responses`.

The opportunities are a recorded REST query response (tests/fixtures/vendors/
salesforce_rest_query_opportunities.json, SOURCES.md), laid in two pages of
the documented shape (`done: false` and a `nextRecordsUrl`, REST API
Developer Guide, "Execute a SOQL Query"): DERIVED. The accounts page holds
the accounts those opportunities name, as their `Account` parents give them
(type, url with the id, Name, Industry): DERIVED."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import func, select

from connectors.connections import operations
from connectors.connections.schemas import NewConnectionSchema
from connectors.connections.sync import sync
from crm.models import Event
from tests import vendor_apis as api
from tests.factories import make_client
from tests.test_connections_sync import waits  # noqa: F401 (a fixture)

pytestmark = pytest.mark.usefixtures("waits")

INSTANCE = "https://acme.my.salesforce.test"
QUERY = f"{INSTANCE}/services/data/v59.0/query/"
NEXT = "/services/data/v59.0/query/01gi0000003BcDeAAF-20"
RECORDED = (
    Path(__file__).parent / "fixtures" / "vendors" / "salesforce_rest_query_opportunities.json"
)
EDGE = "001i000000XSd1FAAT"  # Edge Communications


def opportunities() -> list[dict]:
    return json.loads(RECORDED.read_text())["records"]


def accounts() -> list[dict]:
    found = {}
    for record in opportunities():
        parent = record["Account"]
        account_id = parent["attributes"]["url"].rsplit("/", 1)[1]
        found[account_id] = {
            "attributes": parent["attributes"],
            "Id": account_id,
            "Name": parent["Name"],
            "Industry": parent.get("Industry"),
        }
    return list(found.values())


def soql_of(request) -> str:
    return parse_qs(urlparse(request.url).query).get("q", [""])[0]


def about(sobject: str):
    """A `responses` matcher: the query selects from `sobject`."""

    def match(request):
        found = f" FROM {sobject} " in soql_of(request)
        return found, "" if found else f"not a query of {sobject}"

    return match


def add_salesforce(mock, records: list[dict]) -> None:
    mock.get(
        QUERY,
        match=[about("Account")],
        json={"totalSize": len(accounts()), "done": True, "records": accounts()},
    )
    first, rest = records[:20], records[20:]
    mock.get(
        QUERY,
        match=[about("Opportunity")],
        json={"totalSize": len(records), "done": not rest, "nextRecordsUrl": NEXT, "records": first}
        if rest
        else {"totalSize": len(records), "done": True, "records": first},
    )
    if rest:
        mock.get(
            f"{INSTANCE}{NEXT}", json={"totalSize": len(records), "done": True, "records": rest}
        )


def connect(session):
    data = NewConnectionSchema().load(
        {
            "vendor": "salesforce",
            "name": "crm",
            "base_url": INSTANCE,
            "credentials": {"access_token": "00Di0000000ABCD!AQ0AQtest"},
        }
    )
    connection = operations.add(session, data)
    session.commit()
    return connection


def test_accounts_then_opportunities_page_by_page_onto_their_clients(session):
    make_client("edge", identities=[("salesforce", EDGE)])
    connection = connect(session)
    with api.replayed() as mock:
        add_salesforce(mock, opportunities())
        run = sync(session, connection, "test")
        asked = [soql_of(call.request) for call in mock.calls]
        headers = mock.calls[0].request.headers
    assert len(asked) == 3  # accounts, opportunities, their second page
    assert run.status == "finished", run.error
    assert headers["Authorization"] == "Bearer 00Di0000000ABCD!AQ0AQtest"
    assert asked[0].startswith("SELECT Id, Name") and "ORDER BY SystemModstamp, Id" in asked[0]
    assert "WHERE" not in asked[1]  # the first sync reads every record
    edge = session.scalars(select(Event.title).where(Event.origin == "salesforce")).all()
    assert "Deal won: Edge SLA (USD 60,000.00)" in edge
    # The last record stored: the recorded response selected no SystemModstamp,
    # so its CreatedDate stands in, to the second, in SOQL's form.
    last = opportunities()[-1]["CreatedDate"]  # "2013-12-20T04:13:07.000+0000"
    assert connection.cursors()["opportunities"] == {"since": last[:19] + "Z"}
    assert run.rejected == 0


def test_the_next_sync_asks_from_the_saved_time_and_repeats_nothing(session):
    make_client("edge", identities=[("salesforce", EDGE)])
    connection = connect(session)
    with api.replayed() as mock:
        add_salesforce(mock, opportunities())
        sync(session, connection, "test")
    stored = session.scalar(select(func.count()).select_from(Event))
    since = connection.cursors()["opportunities"]["since"]
    with api.replayed() as mock:
        add_salesforce(mock, opportunities()[-2:])  # the boundary second, again
        second = sync(session, connection, "test")
        asked = [soql_of(call.request) for call in mock.calls]
    assert f"WHERE SystemModstamp >= {since} ORDER BY" in asked[1]
    assert second.status == "finished" and second.accepted == 0
    assert session.scalar(select(func.count()).select_from(Event)) == stored


def test_a_token_salesforce_no_longer_accepts_pauses_the_connection(session):
    connection = connect(session)
    with api.replayed() as mock:
        mock.get(
            QUERY,
            status=401,
            json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
        )
        run = sync(session, connection, "test")
    assert run.status == "failed"
    assert connection.status == "paused"
    assert "no longer accepts the access token" in connection.status_reason


def test_a_connection_test_names_an_object_the_user_may_not_read(session):
    connection = connect(session)
    with api.replayed() as mock:
        mock.get(
            QUERY, match=[about("Account")], json={"totalSize": 0, "done": True, "records": []}
        )
        mock.get(
            QUERY,
            match=[about("Opportunity")],
            status=400,
            json=[
                {
                    "message": "sObject type 'Opportunity' is not supported.",
                    "errorCode": "INVALID_TYPE",
                }
            ],
        )
        ok, problem, message = operations.check(connection)
    assert (ok, problem) == (False, "permission")
    assert "Opportunity" in message and "INVALID_TYPE" in message
