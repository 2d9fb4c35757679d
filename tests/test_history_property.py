"""A client's history gives the same picture however it reaches us.

Property (Hypothesis): the records of one client's history, split across any
number of files and webhooks, in any order, with each identity mapped at any
point (so records wait as unmatched and are replayed), end in the same thread
states, flags and briefing as the same records ingested in time order with
every identity mapped first.

The history is built from vendors' own published records (Stripe's OpenAPI
fixtures, Zendesk's recorded API responses, Grafana's webhook body): a
failed payment on an invoice, a dispute that names only its charge, a ticket
first seen through a later update, a ticket that names only its requester
and the user record that ties the requester to the organization, a critical
alert firing, an alert occurrence delivered only as resolved, and a renewal
ahead.
"""

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from sqlalchemy import select

from connectors import registry
from connectors.pipeline import Pipeline
from connectors.review import map_and_replay
from crm.clients.directory import DirectoryFilters, client_directory
from crm.extensions import db
from crm.models import Client
from crm.timeline.hours import BusinessHours
from crm.timeline.precontact import precontact_card
from reports.briefing.build import build_briefing
from tests.conftest import _empty_all_tables
from tests.factories import make_client
from tests.helpers import entity_states
from tests.signing import headers_for

VENDORS = Path(__file__).parent / "fixtures/vendors"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CUSTOMER = "cus_QXg1o8vcGmoR32"
CHARGE = "ch_1PgafuB7WZ01zgkWXYmPNZs8"
INVOICE = "in_1Pgc6tB7WZ01zgkWu9fdqL6I"
ORGANIZATION = "20012227"
REQUESTER = 20014192  # asks without naming an organization (Zendesk's recorded list)
IDENTITIES = (("stripe", CUSTOMER), ("zendesk", ORGANIZATION), ("alertmanager", "acme"))
SECRETS = {name: f"{name}-secret" for name in ("stripe", "zendesk", "alertmanager", "sales")}


def vendor(name: str) -> dict:
    return copy.deepcopy(json.loads((VENDORS / name).read_text()))


def epoch(days_ago: float) -> int:
    return int((NOW - timedelta(days=days_ago)).timestamp())


def iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


def stripe_event(event_id: str, type_: str, data_object: dict, days_ago: float) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": epoch(days_ago),
        "livemode": False,
        "type": type_,
        "data": {"object": data_object},
    }


def alert(status: str, started_days_ago: float, ended_days_ago: float | None, **labels) -> dict:
    body = vendor("grafana_alerting_webhook_firing.json")
    one = body["alerts"][0]
    one["labels"] |= {"customer": "acme", "instance": "fs01:9100"} | labels
    one |= {
        "status": status,
        "startsAt": iso(started_days_ago),
        "endsAt": iso(ended_days_ago) if ended_days_ago is not None else "0001-01-01T00:00:00Z",
    }
    return one


@dataclasses.dataclass(frozen=True)
class Item:
    """One record of the history: its connector, the record, and when it happened."""

    connector: str
    record: dict
    at: datetime


def history() -> list[Item]:
    invoice = vendor("stripe_openapi_fixture_invoice.json") | {
        "customer": CUSTOMER,
        "status": "open",
        "due_date": epoch(40),
        "amount_due": 125000,
        "amount_remaining": 125000,
        "currency": "usd",
    }
    declined = vendor("stripe_openapi_fixture_charge.json") | {
        "id": "ch_declined",
        "customer": CUSTOMER,
        "invoice": INVOICE,
        "status": "failed",
        "amount": 125000,
        "failure_code": "card_declined",
    }
    disputed = vendor("stripe_openapi_fixture_charge.json") | {"customer": CUSTOMER}
    dispute = vendor("stripe_openapi_fixture_dispute.json")
    listed = vendor("zendesk_ticket_list_api_response.json")["tickets"]
    asked = next(t for t in listed if t["requester_id"] == REQUESTER)
    user = vendor("zendesk_user_show_api_response.json")
    user["user"] |= {"id": REQUESTER, "organization_id": int(ORGANIZATION)}
    renewal = {
        "id": "R-7",
        "kind": "renewal.due",
        "occurred_at": iso(10),
        "client": "acme",
        "thread": "R-7",
        "title": "Managed services contract",
        "due_at": (NOW + timedelta(days=60)).date().isoformat(),
        "amount": "48000",
        "currency": "USD",
    }
    fin = stripe_event("evt_fin", "invoice.finalized", invoice, 70)
    decl = stripe_event("evt_decl", "charge.failed", declined, 30)
    charged = stripe_event("evt_ch", "charge.succeeded", disputed, 60)
    disputed_event = stripe_event("evt_dp", "charge.dispute.created", dispute, 20)
    return [
        Item("stripe", fin, NOW - timedelta(days=70)),
        Item("stripe", decl, NOW - timedelta(days=30)),
        Item("stripe", charged, NOW - timedelta(days=60)),
        Item("stripe", disputed_event, NOW - timedelta(days=20)),
        Item(
            "zendesk",
            vendor("zendesk_ticket_show_api_response.json"),
            datetime(2015, 9, 3, tzinfo=UTC),
        ),
        Item("zendesk", {"ticket": asked}, datetime.fromisoformat(asked["updated_at"])),
        Item("zendesk", user, datetime.fromisoformat(user["user"]["updated_at"])),
        Item(
            "alertmanager", alert("firing", 2, None, severity="critical"), NOW - timedelta(days=2)
        ),
        Item(
            "alertmanager", alert("resolved", 9, 8.5, severity="warning"), NOW - timedelta(days=8.5)
        ),
        Item("sales", renewal, NOW - timedelta(days=10)),
    ]


HISTORY = history()


def body(connector: str, records: list[dict]) -> tuple[bytes, str]:
    """The records as one input of the connector, and its file name."""
    if connector == "alertmanager":
        group = vendor("grafana_alerting_webhook_firing.json") | {"alerts": records}
        return json.dumps(group).encode(), "alerts.json"
    return json.dumps(records).encode(), "records.json"


def deliver(client, session, connector: str, records: list[dict], how: str) -> None:
    content, filename = body(connector, records)
    if how == "file":
        with Pipeline(session) as pipeline:
            pipeline.ingest(registry.get(connector), content, filename, "history test")
        return
    headers = headers_for(connector, SECRETS[connector], content)
    response = client.post(
        f"/webhooks/{connector}",
        data=content,
        headers=headers | {"Content-Type": "application/json"},
    )
    assert response.status_code in (200, 202), response.get_data(as_text=True)


def map_all(session, acme: Client, identities) -> None:
    for system, key in identities:
        map_and_replay(session, system, key, acme, "history test", via="test")
        session.commit()


def picture(app, session) -> dict:
    """What a user sees of the client: thread states, flags and the briefing."""
    acme = session.scalars(select(Client).where(Client.slug == "acme")).one()
    [row] = client_directory(session, DirectoryFilters(), now=NOW).rows
    card = precontact_card(
        session, acme, NOW, guidance={}, hours=BusinessHours.parse("Mon-Fri 09:00-17:30")
    )
    briefing = build_briefing(session, acme, NOW.date(), NOW)
    return {
        "threads": entity_states(session),
        "directory": row.flags,
        "card": card.flags,
        "briefing": _without_ids(dataclasses.asdict(briefing)),
    }


def _without_ids(value):
    """The briefing without database ids, which depend on the order rows were written."""
    if isinstance(value, dict):
        return {k: _without_ids(v) for k, v in value.items() if k not in ("event_ids", "id")}
    if isinstance(value, list):
        return [_without_ids(v) for v in value]
    return value


def in_time_order(app, client, session) -> dict:
    acme = make_client("acme", timezone="Europe/London")
    map_all(session, acme, IDENTITIES)
    run: list[Item] = []
    for item in sorted(HISTORY, key=lambda item: item.at):
        if run and run[-1].connector != item.connector:
            deliver(client, session, run[0].connector, [i.record for i in run], "file")
            run = []
        run.append(item)
    deliver(client, session, run[0].connector, [i.record for i in run], "file")
    return picture(app, session)


@st.composite
def deliveries(draw):
    """The history in some order, cut into inputs, each a file or a webhook,
    and the point at which each identity is mapped (0: before anything)."""
    order = draw(st.permutations(range(len(HISTORY))))
    cuts = draw(st.lists(st.booleans(), min_size=len(order) - 1, max_size=len(order) - 1))
    chunks, chunk = [], [order[0]]
    for index, cut in zip(order[1:], cuts, strict=True):
        if cut:
            chunks.append(chunk)
            chunk = []
        chunk.append(index)
    chunks.append(chunk)
    hows = draw(st.lists(st.sampled_from(["file", "webhook"]), min_size=len(chunks)))
    mapped_at = draw(
        st.lists(st.integers(0, len(chunks)), min_size=len(IDENTITIES), max_size=len(IDENTITIES))
    )
    return chunks, hows, mapped_at


def mapped_when(mapped_at: list[int], now) -> list[tuple[str, str]]:
    """The identities whose mapping point `now` says is reached."""
    return [pair for pair, at in zip(IDENTITIES, mapped_at, strict=True) if now(at)]


def test_any_split_order_and_mapping_gives_the_same_picture(app, client, session):
    app.config["WEBHOOK_SECRETS"] = SECRETS
    expected = in_time_order(app, client, session)
    # The picture is worth comparing: the briefing flags all it should.
    flagged = {flag["kind"]: flag for flag in expected["briefing"]["flags"]}
    assert {"open_dispute", "overdue_invoice", "critical_alert"} <= flagged.keys()
    # A failed payment on the overdue invoice: one problem with both facets.
    assert "failed" in " ".join(flagged["overdue_invoice"]["facets"])
    assert expected["briefing"]["talking_points"]["renewals_due"]

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(deliveries())
    def same_picture(plan):
        chunks, hows, mapped_at = plan
        db.session.remove()
        _empty_all_tables()
        acme = make_client("acme", timezone="Europe/London")
        for step, (chunk, how) in enumerate(zip(chunks, hows, strict=False)):
            map_all(session, acme, mapped_when(mapped_at, lambda at, step=step: at == step))
            by_connector: dict[str, list[dict]] = {}
            for index in chunk:
                item = HISTORY[index]
                by_connector.setdefault(item.connector, []).append(item.record)
            for connector, records in by_connector.items():
                deliver(client, session, connector, records, how)
        map_all(session, acme, mapped_when(mapped_at, lambda at: at >= len(chunks)))
        assert picture(app, session) == expected

    same_picture()
