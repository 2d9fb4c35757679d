"""Turn a received file or body into records, each with its position.

JSON numbers with a fraction are read as exact Decimals, never floats, so an
amount of 12345678901234.5678 stays exactly that.

A record's position is how a person finds it again: "line 7" of a CSV or
NDJSON file, "index 3" of a JSON array. A record that cannot be parsed on its
own (a bad NDJSON line, a CSV row with too many fields) is still yielded, as a
`Record` carrying its parse error, so it is rejected alone and the rest of the
file goes on. Only input that cannot be read at all raises `UnreadableInput`.
"""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath

FORMATS = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}
# One decoder for every document: json.loads(text, parse_float=...) would
# build a new one per call, which costs as much as parsing an NDJSON line.
_DECODER = json.JSONDecoder(parse_float=Decimal)


class UnreadableInput(ValueError):
    """The whole input is unusable: wrong encoding, broken JSON document."""


@dataclass(slots=True)
class Record:
    position: int
    locator: str
    data: dict
    parse_error: str | None = None


def format_of(filename: str | None, default: str = "json") -> str:
    if not filename:
        return default
    suffix = PurePath(filename).suffix.lower()
    if suffix not in FORMATS:
        raise UnreadableInput(
            f"{filename}: unknown file type {suffix or '(none)'}; use .csv, .json or .ndjson"
        )
    return FORMATS[suffix]


def decode(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableInput(f"not UTF-8 text (byte {error.start})") from None


def read_records(content: bytes, fmt: str) -> Iterator[Record]:
    text = decode(content)
    if fmt == "csv":
        return _csv_records(text)
    if fmt == "ndjson":
        return _ndjson_records(text)
    return _json_records(text)


def _csv_records(text: str) -> Iterator[Record]:
    if "\x00" in text:
        raise UnreadableInput("the CSV contains a NUL byte")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as error:
        raise UnreadableInput(f"line 1: {error}") from None
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield Record(start, f"line {start}", {}, f"malformed CSV: {error}")
            start = reader.line_num + 1
            continue
        if row:
            data = dict(zip(header, row, strict=False))
            error = None
            if len(row) != len(header):
                error = f"has {len(row)} fields but the header has {len(header)}"
            yield Record(start, f"line {start}", data, error)
        start = reader.line_num + 1


def _ndjson_records(text: str) -> Iterator[Record]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = _DECODER.decode(line)
        except json.JSONDecodeError as error:
            yield Record(number, f"line {number}", {"_raw": line}, f"not valid JSON: {error.msg}")
            continue
        yield _object_record(number, f"line {number}", data)


def _json_records(text: str) -> Iterator[Record]:
    try:
        document = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise UnreadableInput(f"not valid JSON at line {error.lineno}: {error.msg}") from None
    items = document if isinstance(document, list) else [document]
    for index, data in enumerate(items):
        yield _object_record(index, f"index {index}", data)


def _object_record(position: int, locator: str, data) -> Record:
    if isinstance(data, dict):
        return Record(position, locator, data)
    return Record(position, locator, {"_raw": data}, "is not a JSON object")
