"""Turn a received file or body into records, each with its position.

JSON numbers with a fraction are read as exact Decimals, never floats, so an
amount of 12345678901234.5678 stays exactly that. orjson reads most records
at a third of the json module's cost, but only into floats: a record it
reads with any float in it (or any object or array, which may hold one) is
read again by crm.jsontext (the json module, with limits on depth and
number size), as is every record orjson refuses, so the values and the error
messages are crm.jsontext's throughout.

A record's position is how a person finds it again: "line 7" of a CSV or
NDJSON file, "index 3" of a JSON array. A record that cannot be parsed on its
own (a bad NDJSON line, a CSV row with too many fields) is still yielded, as a
`Record` carrying its parse error, so it is rejected alone and the rest of the
file goes on. Only input that cannot be read at all raises `UnreadableInput`.

Text is UTF-8, with or without a byte order mark, in every format. A file
that starts with a UTF-16 or UTF-32 byte order mark (Excel's "Unicode text",
PowerShell's default) says exactly how to read it, so it is read that way.
Anything else is refused with what is wrong, never guessed at: Latin-1 read
as UTF-8, or UTF-16 without its mark, would store mojibake.
"""

import codecs
import csv
import io
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePath

import orjson

from crm import jsontext

FORMATS = {".csv": "csv", ".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson"}
# What orjson may have read differently from crm.jsontext: a float (or a number
# too large for 64 bits, which it reads as one), and containers that may hold one.
_MAYBE_INEXACT = frozenset({float, dict, list})


class UnreadableInput(ValueError):
    """The whole input is unusable: wrong encoding, broken JSON document."""


class Record:
    """One record of an input: where it stands (`position`, and `locator`
    in words), its data, and why it could not be parsed, if it could not.

    A record of a line-by-line format (an NDJSON line, a CSV row) is parsed
    when its data or parse error is first asked for, by `read` from `raw`:
    a process that leaves a batch to another (connectors.parallel) never
    pays for parsing it.
    """

    __slots__ = ("_data", "_parse_error", "_raw", "_read", "locator", "position")

    def __init__(
        self,
        position: int,
        locator: str,
        data: dict | None = None,
        parse_error: str | None = None,
        *,
        raw=None,
        read: Callable[[object], tuple[dict, str | None]] | None = None,
    ):
        self.position, self.locator = position, locator
        self._data, self._parse_error = data, parse_error
        self._raw, self._read = raw, read

    def _parse(self) -> None:
        self._data, self._parse_error = self._read(self._raw)
        self._raw = self._read = None

    @property
    def data(self) -> dict:
        if self._read is not None:
            self._parse()
        return self._data

    @data.setter
    def data(self, value: dict) -> None:
        if self._read is not None:
            self._parse()
        self._data = value

    @property
    def parse_error(self) -> str | None:
        if self._read is not None:
            self._parse()
        return self._parse_error

    def __repr__(self) -> str:
        return f"Record({self.position!r}, {self.locator!r}, {self.data!r}, {self.parse_error!r})"


def items_under(
    records: Iterable[Record], key: str, shared: Callable[[dict], dict] | None = None
) -> Iterator[Record]:
    """Each item of the list a record holds under `key` as a record of its own
    ("alerts[2]", or "index 1: alerts[2]" past a file's first record), with
    what `shared` takes for every item from the record that listed it; a
    record without such a list goes on as it is. Numbered in one run."""
    position = 0
    for outer in records:
        items = outer.data.get(key) if outer.parse_error is None else None
        if not isinstance(items, list):
            yield Record(position, outer.locator, outer.data, outer.parse_error)
            position += 1
            continue
        common = shared(outer.data) if shared else {}
        prefix = "" if outer.locator == "index 0" else f"{outer.locator}: "
        for i, item in enumerate(items):
            locator = f"{prefix}{key}[{i}]"
            if isinstance(item, dict):
                yield Record(position, locator, item | common)
            else:
                yield Record(position, locator, {"_raw": item}, "is not a JSON object")
            position += 1


def format_of(filename: str | None, default: str = "json") -> str:
    if not filename:
        return default
    suffix = PurePath(filename).suffix.lower()
    if suffix not in FORMATS:
        raise UnreadableInput(
            f"{filename}: unknown file type {suffix or '(none)'}; use .csv, .json or .ndjson"
        )
    return FORMATS[suffix]


# Longest first: a UTF-32 little-endian mark starts with UTF-16's.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)
# How some files that are not text begin, to say what was sent instead.
_NOT_TEXT = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0", "an old Office document (.xls, .doc)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
)
SAVE_AS_UTF8 = "save it as UTF-8 and send it again"


def decode(content: bytes) -> str:
    """The text of a file, or UnreadableInput saying what is wrong with it."""
    for mark, codec, name in _BYTE_ORDER_MARKS:
        if content.startswith(mark):
            try:
                return content[len(mark) :].decode(codec)
            except UnicodeDecodeError as error:
                offset = len(mark) + error.start
                raise UnreadableInput(
                    f"not {name} text: it starts with a {name} byte order mark, but "
                    f"{_where(content, offset, codec)} is not {name}; {SAVE_AS_UTF8}"
                ) from None
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        for magic, what in _NOT_TEXT:
            if content.startswith(magic):
                raise UnreadableInput(f"not a text file: it is {what}") from None
        if _looks_like_utf16(content):
            raise UnreadableInput(_UTF16_WITHOUT_MARK) from None
        raise UnreadableInput(
            f"not UTF-8 text: {_where(content, error.start, 'utf-8')} is not UTF-8 "
            f"(Latin-1 or Windows-1252, perhaps); {SAVE_AS_UTF8}"
        ) from None
    if _looks_like_utf16(content):
        raise UnreadableInput(_UTF16_WITHOUT_MARK)
    return text


_UTF16_WITHOUT_MARK = (
    "not UTF-8 text: it looks like UTF-16 without a byte order mark, which cannot be "
    "read safely; save it as UTF-8, or as UTF-16 with a byte order mark, and send it again"
)


def _where(content: bytes, offset: int, codec: str) -> str:
    """ "byte 14 (0xE4, line 2)": where a person finds the bad byte."""
    if offset >= len(content):
        return "the end of the file"
    byte = content[offset : offset + 1].hex().upper()
    if codec != "utf-8":
        return f"byte {offset} (0x{byte})"
    line = content.count(b"\n", 0, offset) + 1
    return f"byte {offset} (0x{byte}, line {line})"


def _looks_like_utf16(content: bytes) -> bool:
    """Mostly-ASCII text in UTF-16 has a NUL in every other byte; no UTF-8
    text file does (a stray NUL is one record's problem, not the file's)."""
    sample = content[:4096]
    pairs = len(sample) // 2
    if pairs < 2:
        return False
    return max(sample[0::2].count(0), sample[1::2].count(0)) * 2 > pairs


def safe_filename(name: str | None) -> str | None:
    """A file name as a client sent it, made safe to keep and show: its last
    path part only (`../../etc/passwd.csv` -> `passwd.csv`, also with
    backslashes), without control or bidirectional-override characters.
    None when nothing usable is left."""
    if not name:
        return None
    base = re.split(r"[/\\]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    return None if base in ("", ".", "..") else base


def read_records(content: bytes, fmt: str) -> Iterator[Record]:
    text = decode(content)
    if fmt == "csv":
        return _csv_records(text)
    if fmt == "ndjson":
        return _ndjson_records(text)
    return _json_records(text)


def _csv_records(text: str) -> Iterator[Record]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as error:
        raise UnreadableInput(f"line 1: {error}") from None

    def read(row: list[str]) -> tuple[dict, str | None]:
        data = dict(zip(header, row, strict=False))
        if len(row) != len(header):
            return data, f"has {len(row)} fields but the header has {len(header)}"
        return data, None

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
            yield Record(start, f"line {start}", raw=row, read=read)
        start = reader.line_num + 1


def _ndjson_records(text: str) -> Iterator[Record]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line and not line.isspace():
            yield Record(number, f"line {number}", raw=line, read=_read_line)


def _read_line(line: str) -> tuple[dict, str | None]:
    """An NDJSON line's object, or what is wrong with the line."""
    data = _quick(line)
    if data is None:
        try:
            data = jsontext.loads(line)
        except json.JSONDecodeError as error:
            return {"_raw": line}, f"not valid JSON: {error.msg}"
    return _as_object(data)


def _as_object(data) -> tuple[dict, str | None]:
    """A JSON value as a record's data: an object as it is, anything else kept
    under `_raw` with the reason it cannot be a record."""
    if isinstance(data, dict):
        return data, None
    return {"_raw": data}, "is not a JSON object"


def _quick(text: str):
    """The JSON value as orjson reads it, when that is exactly what
    crm.jsontext reads: an object, or an array of objects, holding nothing orjson may read
    differently. Else None."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(value) is dict:  # an NDJSON line, the common case
        return value if _MAYBE_INEXACT.isdisjoint(map(type, value.values())) else None
    objects = value if type(value) is list else [value]
    exact = all(
        type(item) is dict and _MAYBE_INEXACT.isdisjoint(map(type, item.values()))
        for item in objects
    )
    return value if exact else None


def _json_records(text: str) -> Iterator[Record]:
    document = _quick(text)
    if document is None:
        try:
            document = jsontext.loads(text)
        except json.JSONDecodeError as error:
            raise UnreadableInput(f"not valid JSON at line {error.lineno}: {error.msg}") from None
    items = document if isinstance(document, list) else [document]
    for index, data in enumerate(items):
        yield _object_record(index, f"index {index}", data)


def _object_record(position: int, locator: str, data) -> Record:
    return Record(position, locator, *_as_object(data))


def unwrapped(
    outer: Iterable[Record],
    unwrap: Callable[[dict], list[tuple[str, object]]],
    locate: Callable[[str, str], str],
) -> Iterator[Record]:
    """The records inside each of `outer`'s documents (a list answer's items,
    a webhook body's object): `unwrap` gives each (locator suffix, item),
    `locate` the item's locator from its document's and that suffix. A
    document that could not be read stays one record, as does an item that
    is not an object."""
    position = 0
    for document in outer:
        if document.parse_error is not None:
            yield Record(position, document.locator, document.data, document.parse_error)
            position += 1
            continue
        for suffix, data in unwrap(document.data):
            locator = locate(document.locator, suffix)
            if isinstance(data, dict):
                yield Record(position, locator, data)
            else:
                yield Record(position, locator, {"_raw": data}, "is not a JSON object")
            position += 1
