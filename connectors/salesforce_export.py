"""A Salesforce export as the Salesforce CLI writes it: trees, plans, archives.

`sf data export tree` (formerly `sfdx force:data:tree:export`) writes what a
SOQL query returned as sObject trees, `{"records": [...]}`, each record with
`attributes.type` and `attributes.referenceId` ("AccountRef1", numbered from 1
in every export) in place of its Id, which it leaves out. How it writes a
child depends on `--plan` (salesforcecli/plugin-data, exportApi.ts):

- without it, one file, each child nested under its parent's relationship
  (`"Opportunities": {"records": [...]}`), with no field naming the parent;
- with it, one file per object (`Accounts.json`, `Opportunitys.json`) and a
  plan file listing them, each child naming its parent by reference
  (`"AccountId": "@AccountRef1"`). A CSV made from such a file keeps them.

A reference means something only within its export. The next export
numbers its accounts from 1 again, and nothing in an opportunities file says
which export it came from: two exports' opportunity files can be byte for
byte the same while their accounts differ. No key can pair such a file with
its accounts across inputs without, some day, giving an opportunity to the
wrong client. So references are resolved here, within one input, never
across: an export of several files comes in as one ZIP archive of its output
directory (or as one JSON array of its files). A record that names its
account by reference or by nesting gets that account written into it the
way the REST API writes a parent a query selected (`"Account": {"attributes":
{...}, "Name": "Alpha Dynamics"}`); the inbox keeps that copy, so a replay
reads the same. A reference this input cannot resolve stays as it was, and
the schema says what is missing.
"""

import io
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from connectors.readers import FORMATS, Record, UnreadableInput, read_records
from connectors.salesforce_schema import normalise_header
from crm.models import InboxRecord

ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a ZIP archive, or an empty one
# How long a record's locator may be ("Opportunitys.json: records[3]").
LOCATOR_LIMIT = InboxRecord.__table__.c["locator"].type.length
# An archive unpacking past this is refused before a byte is unpacked: a
# tree export holds at most a few thousand records per object.
UNPACKED_LIMIT = 256 * 1024 * 1024
# The object each file name of a plan export stands for ("Opportunitys.json"
# is how the CLI pluralises), for archive members whose records do not say.
_FILE_OBJECTS = {
    "account": "Account", "accounts": "Account",
    "opportunity": "Opportunity", "opportunities": "Opportunity", "opportunitys": "Opportunity",
}  # fmt: skip


def is_archive(content: bytes) -> bool:
    return content.startswith(ARCHIVE_MAGIC)


def object_type(data: dict) -> str | None:
    """The sObject a record says it is (`attributes.type`), if it says."""
    attributes = data.get("attributes")
    kind = attributes.get("type") if isinstance(attributes, dict) else None
    return str(kind) if kind else None


def is_plan_entry(data: dict) -> bool:
    """An entry of a data plan (`{"sobject", "saveRefs", "files": [...]}`)."""
    return "sobject" in data and isinstance(data.get("files"), list)


def _is_plan(value) -> bool:
    """A data plan file's content: a list of plan entries."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and is_plan_entry(item) for item in value)
    )


def field(data: dict, name: str):
    """The value of a field written in any case (`Name`, `name`, `NAME`)."""
    for key, value in data.items():
        if normalise_header(str(key)) == name:
            return value
    return None


def archive_members(content: bytes) -> list[tuple[str, bytes | str]]:
    """(name, bytes, or why it cannot be read) of each data file in a ZIP
    archive: .json, .csv and .ndjson files, in the archive's order. Folders,
    other files and the archivers' own (`__MACOSX/`, dot files) are left."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, ValueError) as error:
        raise UnreadableInput(f"not a readable ZIP archive: {error}") from None
    with archive:
        wanted = [info for info in archive.infolist() if _is_data_file(info)]
        unpacked = sum(info.file_size for info in wanted)
        if unpacked > UNPACKED_LIMIT:
            raise UnreadableInput(
                f"the archive unpacks to {unpacked} bytes, over the {UNPACKED_LIMIT} "
                "a Salesforce export archive may hold; send its files one by one"
            )
        members = []
        for info in wanted:
            try:
                with archive.open(info) as member:
                    data = member.read(info.file_size + 1)
                if len(data) != info.file_size:
                    raise zipfile.BadZipFile("its size is not the one the archive gives")
                members.append((info.filename, data))
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error) as error:
                members.append((info.filename, f"cannot be unpacked: {error}"))
    return members


def _is_data_file(info: zipfile.ZipInfo) -> bool:
    path = PurePosixPath(info.filename)
    hidden = path.name.startswith(".") or "__MACOSX" in path.parts
    return not info.is_dir() and not hidden and path.suffix.lower() in FORMATS


def archive_records(content: bytes) -> Iterator[tuple[str, Record, str | None]]:
    """(member name, record, the object its file holds if the name says) of
    every member; a member that cannot be read is one record saying why."""
    for name, data in archive_members(content):
        default = _FILE_OBJECTS.get(_object_stem(name))
        if isinstance(data, str):
            yield name, Record(0, name, {}, data), default
            continue
        try:
            for record in read_records(data, FORMATS[PurePosixPath(name).suffix.lower()]):
                yield name, record, default
        except UnreadableInput as error:
            yield name, Record(0, name, {}, f"cannot read {name}: {error}"), default


def _object_stem(name: str) -> str:
    """ "export-Opportunitys.json" -> "opportunitys": the CLI names a plan's
    files after their object, behind the `--prefix` the user gave."""
    stem = PurePosixPath(name).stem.lower()
    return stem.rpartition("-")[2]


def expand(sources: Iterable[tuple[str | None, Record, str | None]]) -> list[Record]:
    """The records of one input, each on its own and numbered in order: the
    items of each `{"records": [...]}` document, every child out of its
    parent, and each reference to an account of the input resolved (see the
    module's docstring). `sources`: (member name or None, record, the object
    the member holds if its records do not say)."""
    flat: list[tuple[str, dict, str | None]] = []
    for member, record, default in sources:
        if record.parse_error is not None:
            if not _is_plan(record.data.get("_raw")):  # `jq -s` joins the plan in too
                flat.append((_locator(member, record.locator), record.data, record.parse_error))
            continue
        data = record.data
        if isinstance(data.get("records"), list):  # a tree file or a query result
            items = [(f"records[{i}]", item) for i, item in enumerate(data["records"])]
            if record.locator != "index 0":
                items = [(f"{record.locator}: {locator}", item) for locator, item in items]
        elif member and is_plan_entry(data):
            continue  # the archive holds the files it names
        else:
            items = [(record.locator, data)]
        for locator, item in items:
            for path, flattened, error in _flattened(item, locator, default):
                flat.append((_locator(member, path), flattened, error))
    accounts = _accounts_by_reference(data for _, data, error in flat if error is None)
    return [
        Record(position, locator, _resolved(data, accounts) if error is None else data, error)
        for position, (locator, data, error) in enumerate(flat)
    ]


def _flattened(item, locator: str, default: str | None) -> Iterator[tuple[str, dict, str | None]]:
    """(locator, record, why it is not one) of the record without its child
    lists, then of each child, with its parent written in when that is an
    account."""
    if not isinstance(item, dict):
        yield locator, {"_raw": item}, "is not a JSON object"
        return
    record = {key: value for key, value in item.items() if not _is_child_list(value)}
    if default and object_type(record) is None:
        record = {"attributes": {"type": default}} | record
    yield locator, record, None
    for key, value in item.items():
        if not _is_child_list(value):
            continue
        for i, child in enumerate(value["records"]):
            if isinstance(child, dict) and object_type(record) == "Account":
                child = {"Account": _parent(record)} | child
            yield from _flattened(child, f"{locator}.{key}[{i}]", None)


def _locator(member: str | None, path: str) -> str:
    """Where a record is, in a few words: "data/Opportunitys.json: records[3]",
    "records[0].Opportunities[1]". Within the locator column's length: the
    file's folders give way first, then its name, then the path's start."""
    if not member or member == path:
        return path if len(path) <= LOCATOR_LIMIT else "…" + path[1 - LOCATOR_LIMIT :]
    room = LOCATOR_LIMIT - len(path) - len(": ")
    name = member if len(member) <= room else PurePosixPath(member).name
    if room < 4:
        return _locator(None, path)
    return f"{name if len(name) <= room else name[: room - 1] + '…'}: {path}"


def _is_child_list(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("records"), list)


def _reference_id(data: dict) -> str | None:
    """`attributes.referenceId`, or a CSV's `referenceId` column."""
    attributes = data.get("attributes")
    ref = attributes.get("referenceId") if isinstance(attributes, dict) else None
    ref = ref or field(data, "attributesreferenceid") or field(data, "referenceid")
    return str(ref) if ref else None


def _accounts_by_reference(records: Iterable[dict]) -> dict[str, dict | None]:
    """Each reference id of the input's accounts -> the account, or None
    when two different accounts carry it (two exports in one archive)."""
    found: dict[str, dict | None] = {}
    for data in records:
        if object_type(data) == "Account" and (ref := _reference_id(data)):
            parent = _parent(data)
            found[ref] = parent if found.get(ref, parent) == parent else None
    return found


def _parent(account: dict) -> dict:
    """An account as the REST API writes a parent: what identifies it."""
    attributes = {"type": "Account"}
    own = account.get("attributes")
    if isinstance(own, dict) and own.get("url"):
        attributes["url"] = own["url"]
    if ref := _reference_id(account):
        attributes["referenceId"] = ref
    parent = {"attributes": attributes}
    for name, key in (("id", "Id"), ("name", "Name")):
        value = field(account, name)
        if value not in (None, ""):
            parent[key] = value
    return parent


def _resolved(data: dict, accounts: dict[str, dict | None]) -> dict:
    """The record with the account its `AccountId` reference names, if this
    input holds that account (once) and the record does not already carry it."""
    reference = field(data, "accountid")
    if not (isinstance(reference, str) and reference.startswith("@")) or "Account" in data:
        return data
    account = accounts.get(reference[1:])
    return data if account is None else {"Account": account} | data
