"""The API against its own OpenAPI document, fuzzed with schemathesis.

Every operation, writes included, gets valid and invalid requests (odd
unicode, NUL characters, huge numbers, missing and extra parts, unexpected
methods) with the Bearer token of an account holding every role, on a
database with a client, its events, threads, a commitment, an ingest run and
unmatched and rejected records, so that ids and slugs in paths hit real rows
as well as missing ones. Every response must:

- not be a server error;
- have a status code its operation lists by name (the `default` response
  smorest adds everywhere is taken out of the document first: it would let
  any status pass), the content type and headers it documents, and a body
  that matches its schema;
- refuse requests without a token, or with a bad one, with 401;
- answer a method the path does not take with 405 and `Allow`;
- refuse what the document says is invalid (see `filter_failure` for the
  one leniency the API has by design).

Not checked: that every request the document calls valid is accepted
(`positive_data_acceptance`). The API validates what JSON Schema cannot say:
an IANA time zone, a group reference, an opaque timeline cursor, text that
is not only spaces; such requests get a documented 422, which that check
would count as a failure.

Generation is deterministic (a fixed seed, no example database) and bounded
by `max-examples`, so the run takes the same time and finds the same things
on every machine. The multipart ingest endpoint also gets a strategy of its
own (`test_any_upload_gets_a_documented_answer`): files with the extensions
the readers take, which schemathesis never names its generated files with.
The tests at the end pin down, with plain requests, what the fuzzing found.
"""

import io
import json
import os
import string
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import hypothesis.strategies as st
import pytest
import schemathesis
from flask import current_app
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from connectors import registry
from connectors.pipeline import Pipeline
from crm.api import EXTENSION
from crm.extensions import db
from crm.models import InboxRecord
from crm.timeline.touches import make_commitment
from factory import create_app
from tests.accounts import make_user, token_for
from tests.factories import BASE_TIME, event, make_client

# A deeper run than CI's, e.g. before a release:
#   TOUCHLINE_FUZZ_EXAMPLES=500 TOUCHLINE_FUZZ_SEED=7 pytest tests/test_api_fuzz.py
SETTINGS = {
    "seed": int(os.environ.get("TOUCHLINE_FUZZ_SEED", "20261001")),
    "generation": {
        "mode": "all",  # valid requests and invalid ones
        # per operation, in the fuzzing phase (see the module docstring)
        "max-examples": int(os.environ.get("TOUCHLINE_FUZZ_EXAMPLES", "25")),
        "deterministic": True,
        "database": "none",  # nothing written to .hypothesis/
        # OpenAPI does not close a query string to other parameters, and ours
        # ignore the keys they do not know (a page's GET form sends its buttons).
        "allow-extra-parameters": False,
        # The test sends the token itself; missing and bad tokens are what the
        # `ignored_auth` check tries on every operation.
        "with-security-parameters": False,
    },
    "phases": {"stateful": {"enabled": False}},
    "checks": {"positive_data_acceptance": {"enabled": False}},
}


def _openapi_document() -> dict:
    """The document /api/openapi.json serves (its view dumps this same dict),
    without the `default` responses."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    with app.test_request_context():
        document = json.loads(app.json.dumps(app.extensions[EXTENSION].spec.to_dict()))
    for operations in document["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].pop("default", None)
    return document


def _app_under_test(environ, start_response):
    """The app of the running test: its `app` fixture holds the app context."""
    return current_app._get_current_object()(environ, start_response)


schema = schemathesis.openapi.from_dict(
    _openapi_document(), config=schemathesis.Config.from_dict(SETTINGS)
)
schema.app = _app_under_test

# What the `seeded` fixture made, for the path parameters hook (hypothesis
# draws the parameters inside the test, after the fixture ran).
SEEDED: dict = {}


@pytest.fixture
def seeded(app) -> dict:
    client = make_client("acme", identities=[("account", "AC-1")], emails=["ops@acme.test"])
    records = [
        event("t1", "ticket.opened", 1, account="AC-1", thread="T-1"),
        event("t2", "ticket.updated", 2, account="AC-1", thread="T-1"),
        event("i1", "invoice.issued", 3, account="AC-1", thread="INV-1", amount="100.00"),
        event("n1", "ticket.opened", 4, account="NOBODY", thread="T-9"),
        event("bad", "ticket.opened", 5, account="AC-1") | {"occurred_at": "the 3rd"},
    ]
    content = "".join(json.dumps(record) + "\n" for record in records).encode()
    run = Pipeline(db.session, 50).ingest(registry.get("tickets"), content, "seed.ndjson", "tests")
    commitment = make_commitment(
        db.session,
        client,
        title="Send the plan",
        due_at=BASE_TIME,
        actor="Ann",
        now=BASE_TIME - timedelta(days=1),
    )
    db.session.commit()
    unmatched = db.session.scalar(select(InboxRecord).where(InboxRecord.status == "unmatched"))
    SEEDED.clear()
    SEEDED.update(
        slug=client.slug,
        thread_type="ticket",
        thread_key="T-1",
        commitment_key=commitment.key,
        run_id=run.id,
        record_id=unmatched.id,
        connector="tickets",
    )
    return SEEDED


@schema.hook
def before_generate_path_parameters(context, strategy):
    """Half the valid path parameters name the seeded rows; the rest stay
    generated, so missing rows get their 404 too."""
    in_commitments = "/commitments/" in context.operation.path

    def seeded_rows(parameters):
        if not isinstance(parameters, dict) or not parameters:
            return parameters  # no path parameters, or invalid ones (left as generated)
        known = {"key": SEEDED["commitment_key" if in_commitments else "thread_key"]}
        known |= {name: value for name, value in SEEDED.items() if name in parameters}
        return parameters | {name: known[name] for name in parameters if name in known}

    return st.one_of(strategy, strategy.map(seeded_rows))


@schema.hook
def filter_failure(context, failure, case, response):
    """Query strings and JSON bodies read a blank value ("", spaces) as no
    value at all (crm/schemas.py FormSchema: a page's empty box), so `?to=`
    is the default period, not an invalid date. OpenAPI 3.0 has no way to
    say so (`allowEmptyValue` covers "" in a query string only, and is on its
    way out), so an invalid request accepted is let pass only when it holds a
    blank value; any other one still fails the test."""
    if not isinstance(failure, AcceptedNegativeData):
        return True
    sent = urlsplit(response.request.url).query  # as the server read it: {} goes as ""
    values = [value for _, value in parse_qsl(sent, keep_blank_values=True)]
    if isinstance(case.body, dict):
        values += case.body.values()
    return not any(_is_blank(value) for value in values)


def _is_blank(value) -> bool:
    if isinstance(value, list):
        return any(_is_blank(item) for item in value)
    return isinstance(value, str) and not value.strip()


@pytest.fixture
def token(app) -> str:
    return token_for(make_user(email="fuzz@touchline.test"))


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_keeps_to_its_openapi_document(case, seeded, token):
    # The examples of one operation share its seeded database (writes pile up,
    # as they would on a server); each starts on a fresh session, as a request does.
    try:
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    finally:
        db.session.remove()


# --- uploads ----------------------------------------------------------------------------

INGEST = schema["/api/v1/ingest/{connector}"]["POST"]
RESPONSE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

_cells = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_rows = st.lists(st.lists(_cells, min_size=1, max_size=5), max_size=6)
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _cells,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_cells, inner, max_size=4),
    max_leaves=12,
)
_records = st.fixed_dictionaries(
    {"id": _cells, "kind": st.sampled_from(["ticket.opened", "payment.received", "nonsense", ""])},
    optional={"occurred_at": _cells | st.just("2026-10-01T09:00:00Z"), "account": _cells},
)
_texts = st.one_of(
    _rows.map(lambda rows: "\n".join(",".join(row) for row in rows)),
    _json_values.map(json.dumps),
    st.lists(_records | _json_values, max_size=5).map(
        lambda lines: "\n".join(json.dumps(line) for line in lines)
    ),
    st.text(max_size=200),
)
_contents = st.one_of(
    st.binary(max_size=300),
    st.tuples(_texts, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"])).map(
        lambda pair: pair[0].encode(pair[1], errors="replace")
    ),
)
_names = st.tuples(
    st.sampled_from(["", "../", "..\\", "/etc/", "dir/"]),
    st.text(alphabet=string.ascii_letters + "\x00\t\u202e é", max_size=10),
    st.sampled_from([".csv", ".json", ".ndjson", ".CSV", ".txt", ""]),
).map("".join)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    connector=st.sampled_from(["tickets", "billing", "clients", "stripe"]),
    name=_names,
    content=_contents,
)
def test_any_upload_gets_a_documented_answer(client, connector, name, content):
    response = client.post(
        f"/api/v1/ingest/{connector}",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )
    case = INGEST.Case(
        path_parameters={"connector": connector},
        body={"file": content},
        media_type="multipart/form-data",
    )
    case.validate_response(response, checks=RESPONSE_CHECKS)
    # The test client writes the name into the part's header as it is: an empty
    # name, or one ending in a backslash (which escapes the closing quote), makes
    # a part without a file name, which the server reads as a form field: no `file`.
    answers = {422} if not name or name.endswith("\\") else {200, 202, 400}
    assert response.status_code in answers, response.get_data(as_text=True)
    db.session.remove()


# --- what the fuzzing found, pinned down ---------------------------------------------------


def test_error_answers_match_the_documented_error_body(client):
    error = client.get("/api/openapi.json").json["components"]["schemas"]["Error"]
    body = client.get("/api/v1/clients/nobody").json
    assert body["field"] == "slug"
    assert set(body) <= set(error["properties"]) and error["properties"]["field"]["nullable"]


def test_every_operation_lists_the_statuses_it_answers_with(client):
    paths = client.get("/api/openapi.json").json["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            listed = set(operation["responses"])
            if "{" in path:
                assert "404" in listed, f"{method} {path}: {sorted(listed)}"
            if "requestBody" in operation:  # a body that does not parse
                assert "400" in listed, f"{method} {path}: {sorted(listed)}"
    complete = paths["/api/v1/clients/{slug}/commitments/{key}/complete"]["post"]
    assert "409" in complete["responses"]


def test_a_method_a_path_does_not_take_is_405_saying_which_it_does(client):
    response = client.delete("/api/v1/clients")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert response.json["code"] == 405


def test_text_no_database_can_keep_is_refused_naming_the_field(client):
    make_client("acme")
    nul = client.post("/api/v1/clients", json={"name": "Ac\x00me", "timezone": "UTC"})
    assert (nul.status_code, nul.json["field"]) == (422, "name")
    nested = {"name": "Beta", "timezone": "UTC", "contacts": [{"name": "Ann \ud800"}]}
    surrogate = client.post("/api/v1/clients", json=nested)
    assert (surrogate.status_code, surrogate.json["field"]) == (422, "contacts.0.name")
    query = client.get("/api/v1/unmatched/records?connector=%00")
    assert (query.status_code, query.json["field"]) == (422, "connector")
    touch = {"kind": "note", "text": "called\x00"}
    assert client.post("/api/v1/clients/acme/touches", json=touch).json["field"] == "text"
    path = client.get("/api/v1/clients/ac%00me/card")
    assert (path.status_code, path.json["field"]) == (404, "slug")
    assert client.get("/api/v1/clients", query_string={"q": "Ac\x00"}).status_code == 422


def test_numbers_past_what_the_database_holds_are_refused_before_any_query(client):
    assert client.get(f"/api/v1/runs/{2**63}").status_code == 404
    assert client.get(f"/api/v1/runs/{2**31}").status_code == 404
    assert client.post(f"/api/v1/inbox/{2**31}/replay", json={}).status_code == 404
    for listing in ("/api/v1/runs", "/api/v1/unmatched", "/api/v1/unmatched/records"):
        response = client.get(listing, query_string={"page": 2**61})
        assert (response.status_code, response.json["field"]) == (422, "page"), listing
    for listing in ("/api/v1/identities", "/api/v1/clients"):
        assert client.get(listing, query_string={"page": 1_000_001}).status_code == 422
        assert client.get(listing, query_string={"page": 1_000_000}).status_code == 200


def test_a_group_id_in_other_digits_or_past_the_largest_is_refused(client):
    for group in ("²", "٣", "9" * 11, "9" * 5000):
        response = client.get("/api/v1/clients", query_string={"group": group})
        assert (response.status_code, response.json["field"]) == (422, "group"), group
    assert client.get("/api/v1/clients", query_string={"group": "12"}).status_code == 200


def test_a_group_named_with_non_ascii_capitals_is_found_again_not_made_twice(client):
    groups = [{"kind": "custom", "name": "ÏLE ÆRØ"}]
    first = client.post("/api/v1/clients", json={"name": "Acme", "groups": groups})
    again = client.post("/api/v1/clients", json={"name": "Beta", "groups": groups})
    assert (first.status_code, again.status_code) == (201, 201), again.json
    assert again.json["groups"][0]["id"] == first.json["groups"][0]["id"]


def test_a_parameter_that_takes_one_value_is_refused_when_given_twice(client):
    make_client("acme")
    twice = client.get("/api/v1/audit?actor=ann&actor=bob")
    assert (twice.status_code, twice.json["field"]) == (422, "actor")
    assert client.get("/api/v1/clients/acme/timeline?kind=note&kind=call").status_code == 200


def test_a_body_that_is_not_json_is_a_400(client):
    response = client.post("/api/v1/clients", data=b"{", content_type="application/json")
    assert response.status_code == 400
