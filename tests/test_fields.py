"""The column-wise check for big files answers exactly as the marshmallow schema."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.base import Connector, RecordError
from connectors.fields import load_columns, validate_columns
from connectors.generic import EVENT_FIELDS, EVENT_RULES, GenericEventSchema
from connectors.readers import Record

VALID = {"id": "e1", "kind": "note", "occurred_at": "2026-10-01T10:00:00+02:00", "account": "A"}

CASES = [
    VALID,
    VALID | {"occurred_at": "2026-10-01"},
    VALID | {"occurred_at": "2026-10-01T10:00:00"},
    VALID | {"occurred_at": "2026-10-01T10:00:00Z"},
    VALID | {"occurred_at": "01/10/2026"},
    VALID | {"occurred_at": ""},
    VALID | {"occurred_at": None},
    VALID | {"id": 42},
    VALID | {"id": "  "},
    VALID | {"id": "x" * 201},
    VALID | {"id": ["a"]},
    VALID | {"amount": "12.50", "currency": "eur"},
    VALID | {"amount": 12.5, "currency": "EUR"},
    VALID | {"amount": "1e3", "currency": "EUR"},
    VALID | {"amount": "12.123456", "currency": "EUR"},
    VALID | {"amount": "NaN", "currency": "EUR"},
    VALID | {"amount": "twelve", "currency": "EUR"},
    VALID | {"amount": "12"},
    VALID | {"currency": "EURO"},
    VALID | {"account": "", "client": "acme"},
    VALID | {"account": "", "email": ""},
    VALID | {"due_at": "2026-13-01"},
    VALID | {"attributes": {"k": 1}, "custom_column": "kept"},
    VALID | {"attributes": "not an object"},
    VALID | {"attributes": ""},
    VALID | {"attributes": '{"from": "a CSV cell"}'},
    VALID | {"amount": "100000000000000", "currency": "EUR"},
    VALID | {"amount": Decimal("12345678901234.5678"), "currency": "EUR"},
    {"kind": "note"},
]


def _schema_result(data: dict):
    (result,) = Connector.validate(
        type("C", (Connector,), {"schema": GenericEventSchema})(), [Record(1, "line 1", data)]
    )
    return result


def _normalise(result):
    if isinstance(result, RecordError):
        return ("error", result.field, result.message)
    return ("ok", result)


def test_both_checks_agree_on_every_case():
    records = [Record(i, f"index {i}", case) for i, case in enumerate(CASES)]
    column_results = validate_columns(records, EVENT_FIELDS, EVENT_RULES).results()
    loaded_results = load_columns(GenericEventSchema(), records, EVENT_FIELDS).results()
    for case, by_columns, loaded in zip(CASES, column_results, loaded_results, strict=True):
        assert _normalise(by_columns) == _normalise(_schema_result(case)), case
        assert _normalise(loaded) == _normalise(_schema_result(case)), case


@pytest.mark.parametrize(
    ("data", "field", "value"),
    [
        (VALID, "occurred_at", datetime(2026, 10, 1, 8, tzinfo=UTC)),
        (
            VALID | {"occurred_at": "2026-10-01T10:00:00"},
            "occurred_at",
            datetime(2026, 10, 1, 10, tzinfo=UTC),
        ),
        (VALID | {"amount": "12.50", "currency": "eur"}, "amount", Decimal("12.50")),
        (VALID | {"amount": "12.50", "currency": "eur"}, "currency", "EUR"),
        (VALID | {"id": 42}, "id", "42"),
        (VALID | {"custom_column": "kept"}, "extra", {"custom_column": "kept"}),
    ],
)
def test_values_are_normalised(data, field, value):
    assert _schema_result(data)[field] == value


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (VALID | {"occurred_at": "01/10/2026"}, "occurred_at", "ISO 8601"),
        (VALID | {"amount": "12.123456", "currency": "EUR"}, "amount", "4 decimal places"),
        (VALID | {"amount": "12"}, "currency", "required when amount"),
        (VALID | {"account": ""}, "client", "at least one of client, account or email"),
        ({"kind": "note"}, "id", "required"),
    ],
)
def test_errors_name_the_field(data, field, words):
    error = _schema_result(data)
    assert isinstance(error, RecordError)
    assert error.field == field and words in error.message
