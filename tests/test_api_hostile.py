"""The API against hostile input at its edges, on every operation that takes it.

tests/test_api_fuzz.py fuzzes every operation from the OpenAPI document;
schemathesis keeps its values small, so it never sent what once gave 500s
here: JSON nested 1,000 deep or holding a 5,000-digit number (RecursionError,
ValueError), and days at the ends of the calendar (OverflowError). These
tests send exactly those, in every place of every JSON body the document
describes and every day parameter it declares, and ask for a documented
answer that is not a server error.
"""

import json

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from tests.factories import make_client
from tests.test_api_fuzz import RESPONSE_CHECKS, schema

DEEP = "[" * 1000 + "]" * 1000
HUGE = "9" * 5000
# Raw JSON texts: none of them is a value the API can take, and every one
# used to reach code that could not take it either.
HOSTILE = [
    DEEP,
    '{"a": ' + DEEP + "}",
    HUGE,
    "-" + HUGE,
    "1." + HUGE,
    "1e400",
    '"9999-12-31"',
    '"0001-01-01"',
    '"9999-12-31T23:59:59Z"',
    '"0001-01-01T00:00:00+14:00"',
]
DAYS = ["9999-12-31", "0001-01-01", "10000-01-01", "1899-12-31"]


def _operations(with_body: bool):
    for path, methods in schema.raw_schema["paths"].items():
        for method, operation in methods.items():
            if method == "parameters":
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if with_body and "application/json" in content:
                yield method.upper(), path, _properties(content["application/json"]["schema"])
            days = [
                p["name"]
                for p in operation.get("parameters", [])
                if p.get("in") == "query" and p.get("schema", {}).get("format") == "date"
            ]
            if not with_body and days:
                yield method.upper(), path, days


def _properties(body_schema: dict) -> list[str]:
    """The names a JSON body may hold, with its $ref followed."""
    while "$ref" in body_schema:
        name = body_schema["$ref"].rsplit("/", 1)[1]
        body_schema = schema.raw_schema["components"]["schemas"][name]
    return sorted(body_schema.get("properties", {})) or ["x"]


WRITES = list(_operations(with_body=True))
DAY_READS = list(_operations(with_body=False))


@pytest.fixture
def acme(app):
    return make_client("acme")


def _url(path: str) -> str:
    return (
        path.replace("{slug}", "acme")
        .replace("{key}", "nothing")
        .replace("{record_id}", "1")
        .replace("{connector}", "tickets")
    )


def _check(method: str, path: str, response, **case):
    assert response.status_code < 500, (method, path, response.get_data(as_text=True)[:300])
    operation = schema[path][method]
    operation.Case(**case).validate_response(response, checks=RESPONSE_CHECKS)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(WRITES),
    data=st.data(),
)
def test_hostile_json_in_any_field_of_any_write_gets_a_documented_answer(
    client, acme, target, data
):
    method, path, names = target
    fields = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    values = [data.draw(st.sampled_from(HOSTILE)) for _ in fields]
    body = "{" + ", ".join(f"{json.dumps(n)}: {v}" for n, v in zip(fields, values, strict=True))
    body += "}"
    if data.draw(st.booleans()):
        body = data.draw(st.sampled_from(HOSTILE))  # the whole body, not a field of it
    response = client.open(
        _url(path), method=method, data=body, headers={"Content-Type": "application/json"}
    )
    _check(method, path, response, media_type="application/json")


@pytest.mark.parametrize(("method", "path", "names"), DAY_READS)
@pytest.mark.parametrize("day", DAYS)
def test_days_at_the_ends_of_the_calendar_get_a_documented_answer(
    client, acme, method, path, names, day
):
    for name in names:
        response = client.open(_url(path), method=method, query_string={name: day})
        _check(method, path, response, query={name: day})
        assert response.status_code == 422, (path, name, day)
