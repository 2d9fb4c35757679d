"""Hostile uploads: the wrong type, the wrong encoding, NUL bytes, a 1 GB body,
and file names that climb out of their directory.

Through `POST /api/v1/ingest/<connector>` and `flask ingest`. Every case ends
in a clear error naming the file and the problem (JSON with `message` and
`field`), or in a run whose bad records are rejected with their reasons;
never a server error, never mojibake stored. What was read is kept as it
came, in the raw payload.
"""

import codecs
import io
import json
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from connectors.pipeline.runs import payload_content
from crm.config import from_environment
from crm.models import Event, InboxRecord, IngestRun, RawPayload
from tests.factories import make_client

TITLE = "Café crème à Zürich"  # Latin-1 has each of these letters
BEYOND_LATIN1 = "Second – ☕ 東京 😀"  # UTF-16 needs a surrogate pair for the last
CSV_TEXT = (
    "id,kind,occurred_at,client,title\n"
    f"t1,ticket.opened,2026-10-01T09:00:00Z,acme,{TITLE}\n"
    "t2,ticket.opened,2026-10-01T10:00:00Z,acme,Second\n"
)
RECORDS = [
    {"id": "t1", "kind": "ticket.opened", "occurred_at": "2026-10-01T09:00:00Z",
     "client": "acme", "title": TITLE},
    {"id": "t2", "kind": "ticket.opened", "occurred_at": "2026-10-01T10:00:00Z",
     "client": "acme", "title": BEYOND_LATIN1},
]  # fmt: skip
TEXTS = {
    "csv": CSV_TEXT.replace("Second", BEYOND_LATIN1),
    "ndjson": "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in RECORDS),
    "json": json.dumps(RECORDS, ensure_ascii=False),
}
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"


def _upload(client, content: bytes, filename: str, connector: str = "tickets"):
    response = client.post(
        f"/api/v1/ingest/{connector}",
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )
    assert response.status_code < 500, response.get_data(as_text=True)
    return response


def _refused(response, *words: str) -> str:
    assert response.status_code == 400, response.json
    assert response.json["field"] == "file"
    message = response.json["message"]
    for word in words:
        assert word in message, message
    return message


def _kept_as_sent(session, content: bytes, filename: str) -> IngestRun:
    """The payload was stored byte for byte, and its run says it failed."""
    payload = session.scalars(select(RawPayload)).one()
    stored = payload_content(session, payload.id)
    assert (stored, payload.filename, payload.size) == (content, filename, len(content))
    run = session.scalars(select(IngestRun)).one()
    assert run.payload_id == payload.id and run.status == "failed" and run.error
    assert session.scalar(select(func.count()).select_from(Event)) == 0
    return run


@pytest.fixture
def acme(app):
    return make_client("acme")


# --- the wrong type ------------------------------------------------------------------


def test_an_image_named_like_a_csv_is_refused_as_not_text(client, session, acme):
    response = _upload(client, PNG, "events.csv")
    message = _refused(response, "events.csv", "not a text file", "PNG image")
    run = _kept_as_sent(session, PNG, "events.csv")
    assert run.error in message


@pytest.mark.parametrize(
    ("filename", "words"),
    [
        ("setup.exe", ("setup.exe", "unknown file type .exe", "use .csv, .json or .ndjson")),
        ("events", ("events", "unknown file type (none)")),
        ("events.csv.exe", ("unknown file type .exe",)),
    ],
)
def test_a_name_without_a_known_extension_is_refused(client, session, acme, filename, words):
    content = b"MZ\x90\x00\x03\x00\x00\x00" if filename.endswith(".exe") else CSV_TEXT.encode()
    _refused(_upload(client, content, filename), *words)
    _kept_as_sent(session, content, filename)


def test_flask_ingest_names_the_file_that_is_not_text(runner, session, tmp_path, acme):
    path = tmp_path / "events.csv"
    path.write_bytes(PNG)
    result = runner.invoke(args=["ingest", "tickets", str(path)])
    assert result.exit_code == 1
    assert f"cannot read {path}: not a text file: it is a PNG image" in result.output
    _kept_as_sent(session, PNG, "events.csv")


# --- encodings -----------------------------------------------------------------------


def _title_stored(session, external_id: str = "t1") -> str:
    return session.scalar(select(Event.title).where(Event.external_id == external_id))


# Where the first byte that is not UTF-8 sits in the CSV written in Latin-1.
E_ACUTE = CSV_TEXT.encode("latin-1").index(b"\xe9")


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "json"])
@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-32-le", codecs.BOM_UTF32_LE),
    ],
    ids=["utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf32-bom"],
)
def test_utf8_and_text_with_a_byte_order_mark_are_read_exactly(
    client, session, acme, fmt, encoding, prefix
):
    content = prefix + TEXTS[fmt].encode(encoding)
    response = _upload(client, content, f"events.{fmt}")
    assert response.status_code == 200, response.json
    assert (response.json["accepted"], response.json["rejected"]) == (2, 0)
    assert (_title_stored(session), _title_stored(session, "t2")) == (TITLE, BEYOND_LATIN1)
    assert payload_content(session, session.scalars(select(RawPayload.id)).one()) == content


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (
            CSV_TEXT.encode("utf-16-le"),
            ("not UTF-8 text", "UTF-16 without a byte order mark"),
        ),
        (
            CSV_TEXT.encode("utf-16-be"),
            ("not UTF-8 text", "UTF-16 without a byte order mark"),
        ),
        (
            CSV_TEXT.encode("latin-1"),
            ("not UTF-8 text", f"byte {E_ACUTE} (0xE9, line 2)", "Latin-1", "save it as UTF-8"),
        ),
        (
            codecs.BOM_UTF8 + CSV_TEXT.encode("latin-1"),
            ("not UTF-8 text", "UTF-8 byte order mark", f"byte {E_ACUTE + 3} (0xE9, line 2)"),
        ),
        (
            codecs.BOM_UTF16_LE + CSV_TEXT.encode("utf-16-le")[:-1],
            ("not UTF-16 text", "UTF-16 byte order mark"),
        ),
    ],
    ids=["utf16le-no-bom", "utf16be-no-bom", "latin1", "latin1-utf8-bom", "utf16-cut-short"],
)
def test_text_in_another_encoding_is_refused_naming_the_file_and_the_problem(
    client, session, acme, content, words
):
    _refused(_upload(client, content, "events.csv"), "cannot read events.csv", *words)
    _kept_as_sent(session, content, "events.csv")


def test_flask_ingest_refuses_latin1_naming_the_file(runner, session, tmp_path, acme):
    path = tmp_path / "export.ndjson"
    content = json.dumps(RECORDS[0], ensure_ascii=False).encode("latin-1")
    path.write_bytes(content)
    result = runner.invoke(args=["ingest", "tickets", str(path)])
    assert result.exit_code == 1
    assert f"cannot read {path}: not UTF-8 text: byte" in result.output
    _kept_as_sent(session, content, "export.ndjson")


# --- NUL and other characters no database column holds --------------------------------


def test_a_csv_row_with_a_nul_byte_is_rejected_alone(client, session, acme):
    content = CSV_TEXT.replace("Second", "Sec\x00ond").encode()
    response = _upload(client, content, "events.csv")
    assert response.status_code == 200, response.json
    assert (response.json["accepted"], response.json["rejected"]) == (1, 1)
    row = session.scalars(select(InboxRecord)).one()
    assert (row.locator, row.field) == ("line 3", "title")
    assert row.reason == "title contains a NUL character (U+0000), which text cannot hold"
    assert row.record["title"] == "Sec\ufffdond"  # shown, marked; the file keeps the byte
    assert payload_content(session, session.scalars(select(RawPayload.id)).one()) == content
    assert _title_stored(session) == TITLE


def test_flask_ingest_rejects_the_row_with_a_nul_byte_and_takes_the_rest(
    runner, session, tmp_path, acme
):
    path = tmp_path / "events.csv"
    path.write_bytes(CSV_TEXT.replace("Second", "Sec\x00ond").encode())
    result = runner.invoke(args=["ingest", "tickets", str(path)])
    assert result.exit_code == 0, result.output
    assert "rejected: line 3: title contains a NUL character (U+0000)" in result.output
    assert _title_stored(session) == TITLE


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ('"detail": "a\\u0000b"', "detail", "NUL character (U+0000)"),
        ('"detail": "half a pair \\ud83d"', "detail", "unpaired surrogate (U+D83D)"),
        ('"attributes": {"ke\\u0000y": 1}', "attributes.ke\ufffdy", "NUL character"),
        ('"detail": "raw \x00 byte"', None, "NUL character"),
    ],
    ids=["nul-escape", "lone-surrogate", "nul-in-a-key", "raw-nul"],
)
def test_an_ndjson_record_with_unstorable_text_is_rejected_naming_the_field(
    client, session, acme, line, field, words
):
    bad = '{"id": "t3", "kind": "ticket.opened", "occurred_at": "2026-10-02", "client": "acme", '
    content = (TEXTS["ndjson"] + bad + line + "}\n").encode()
    response = _upload(client, content, "events.ndjson")
    assert response.status_code == 200, response.json
    assert (response.json["accepted"], response.json["rejected"]) == (2, 1)
    row = session.scalars(select(InboxRecord)).one()
    assert row.field == field and words in row.reason
    assert "\x00" not in json.dumps(row.record, ensure_ascii=False)


def test_an_edited_record_with_a_nul_is_refused_and_nothing_changes(client, session, acme):
    first = _upload(client, (TEXTS["ndjson"] + '{"id": "t3"}\n').encode(), "events.ndjson")
    assert first.json["rejected"] == 1
    row = session.scalars(select(InboxRecord)).one()
    before = (row.status, row.field, row.reason, dict(row.record))
    edited = RECORDS[1] | {"id": "t3", "title": "nul \x00 here"}
    response = client.post(f"/api/v1/inbox/{row.id}/replay", json={"record": edited})
    assert response.status_code == 422, response.json
    assert response.json["field"] == "record.title" and "NUL" in response.json["message"]
    session.expire_all()
    assert (row.status, row.field, row.reason, dict(row.record)) == before


# --- size --------------------------------------------------------------------------


class _StreamedBody(io.RawIOBase):
    """A request body pulled from a generator as the server reads it, counting
    what was read: a 1 GB upload without 1 GB anywhere."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.read_bytes = 0
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.pending:
            self.pending = next(self.chunks, b"")
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        self.read_bytes += count
        return count


def _gigabyte_of_csv():
    yield b'--boundary\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
    yield b"Content-Type: text/csv\r\n\r\nid,kind,occurred_at,client\r\n"
    row = b"t1,ticket.opened,2026-10-01T09:00:00Z,acme\r\n" * 1000
    while True:
        yield row


def test_a_1_gb_upload_is_refused_with_413_before_it_is_read(client, session):
    body = _StreamedBody(_gigabyte_of_csv())
    response = client.post(
        "/api/v1/ingest/tickets",
        # As a server hands the body over: a stream, and what its headers say.
        environ_overrides={
            "wsgi.input": body,
            "CONTENT_LENGTH": str(1 << 30),
            "CONTENT_TYPE": "multipart/form-data; boundary=boundary",
        },
    )
    assert response.status_code == 413
    assert response.json["field"] == "file"
    assert response.json["message"] == (
        "file: the upload is 1073741824 bytes; the limit is 104857600 bytes "
        "(TOUCHLINE_MAX_UPLOAD_BYTES); use `flask ingest` on the server for bigger files"
    )
    assert body.read_bytes <= 64 * 1024
    assert session.scalar(select(func.count()).select_from(RawPayload)) == 0


def test_the_upload_limit_is_a_setting(app, client, session, acme, monkeypatch):
    monkeypatch.setenv("TOUCHLINE_MAX_UPLOAD_BYTES", "1234")
    assert from_environment(app.instance_path)["MAX_CONTENT_LENGTH"] == 1234
    monkeypatch.delenv("TOUCHLINE_MAX_UPLOAD_BYTES")
    assert from_environment(app.instance_path)["MAX_CONTENT_LENGTH"] == 100 * 1024 * 1024

    app.config["MAX_CONTENT_LENGTH"] = 2000
    big = _upload(client, CSV_TEXT.encode() + b"x" * 2000, "events.csv")
    assert big.status_code == 413 and big.json["field"] == "file"
    small = _upload(client, CSV_TEXT.encode(), "events.csv")
    assert small.status_code == 200 and small.json["accepted"] == 2


# --- file names -----------------------------------------------------------------------


def _upload_named(client, content: bytes, filename: str):
    """A multipart body written by hand, its file name sent as RFC 2231
    `filename*`, so the server receives exactly these characters: the test
    client (and a browser) would quote or drop some of them."""
    disposition = f"form-data; name=\"file\"; filename*=UTF-8''{quote(filename, safe='')}"
    body = (
        (
            f"--b0undary\r\nContent-Disposition: {disposition}\r\nContent-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + b"\r\n--b0undary--\r\n"
    )
    response = client.post(
        "/api/v1/ingest/tickets", data=body, content_type="multipart/form-data; boundary=b0undary"
    )
    assert response.status_code < 500, response.get_data(as_text=True)
    return response


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("..\\..\\x.csv", "x.csv"),
        ("/etc/passwd.csv", "passwd.csv"),
        ("C:\\Windows\\System32\\evil.csv", "evil.csv"),
        ("reports/../../../tmp/evil.csv", "evil.csv"),
        ("invoice\u202evsc.exe.csv", "invoicevsc.exe.csv"),
        ("tab\tand\nnewline.csv", "tabandnewline.csv"),
    ],
)
def test_a_file_name_keeps_no_directories_or_control_characters(client, session, acme, sent, kept):
    response = _upload_named(client, CSV_TEXT.encode(), sent)
    assert response.status_code == 200, response.json
    payload = session.scalars(select(RawPayload)).one()
    run = session.scalars(select(IngestRun)).one()
    assert (payload.filename, run.source_name, run.started_by) == (kept, kept, f"api:{kept}")


def test_a_climbing_file_name_writes_nothing_outside(app, client, session, acme):
    probe = f"touchline-probe-{uuid.uuid4().hex}.csv"
    places = [Path.cwd(), Path(app.instance_path), Path("/tmp"), Path("/etc")]
    places += [place.parent for place in list(places)] + [Path.cwd().parent.parent]
    for climb in ("../" * 6, "..\\" * 6, "/tmp/", "../instance/"):
        assert _upload_named(client, CSV_TEXT.encode(), climb + probe).status_code == 200
    assert not [place for place in places if (place / probe).exists()]
    names = session.scalars(select(RawPayload.filename)).all()
    assert names == [probe]  # the same bytes are one payload, kept under a clean name


@pytest.mark.parametrize("sent", ["../", "..", "\\..\\", "\x01\x02"])
def test_a_file_name_with_nothing_usable_left_is_refused(client, session, acme, sent):
    response = _upload_named(client, CSV_TEXT.encode(), sent)
    _refused(response, "is not a usable file name")
    assert session.scalar(select(func.count()).select_from(RawPayload)) == 0
