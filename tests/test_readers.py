"""Records read with orjson's help are exactly what the json module reads."""

import json
from decimal import Decimal

import pytest

from connectors.readers import read_records

EXACT = json.JSONDecoder(parse_float=Decimal)
LINES = [
    '{"id": "a", "n": 1, "s": "x"}',
    '{"amount": 12345678901234.5678}',
    '{"big": 123456789012345678901234567890}',
    '{"small": -9223372036854775809}',
    '{"nested": {"rate": 1.1, "list": [1, 2.5]}}',
    '{"nan": NaN}',
    '{"lone": "\\ud800"}',
    '{"nul": "\\u0000"}',
    '{"same": 1, "same": 2}',
    '[{"an": "array"}]',
    '"just text"',
    "{not json",
]


@pytest.mark.parametrize("line", LINES)
def test_an_ndjson_line_reads_as_the_json_module_reads_it(line):
    (record,) = read_records(line.encode(), "ndjson")
    try:
        expected = EXACT.decode(line)
    except json.JSONDecodeError:
        assert record.parse_error.startswith("not valid JSON")
        assert record.data == {"_raw": line}
        return
    if isinstance(expected, dict):
        assert record.parse_error is None
        assert record.data == expected
        assert all(type(record.data[k]) is type(v) for k, v in expected.items())
    else:
        assert (record.data, record.parse_error) == ({"_raw": expected}, "is not a JSON object")


def test_a_json_array_reads_as_the_json_module_reads_it():
    document = "[" + ",".join(line for line in LINES if line.startswith("{") and "not" not in line)
    document += "]"
    records = list(read_records(document.encode(), "json"))
    assert [record.data for record in records] == EXACT.decode(document)
    assert type(records[1].data["amount"]) is Decimal and type(records[2].data["big"]) is int
