"""What the accounting connectors (Xero, QuickBooks Online) share.

Both send amounts as JSON decimals in major units (46.0 is 46.00), name
their fields in PascalCase inside nested objects (`Contact.ContactID`,
`CustomerRef.value`), and tell of an invoice by its state: issued, then
paid or voided. Problems name the field by its path in the record, so
whoever reads the inbox finds it in the payload.

A webhook from either names only ids ("invoice 130 was updated"): such a
record is kept in the inbox as skipped with a reason that starts with
NEEDS_FETCH, the raw notification intact, until a live connection fetches
the entity it names and ingests that.
"""

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from connectors.base import Connector, RecordError, Skip
from connectors.fields import BAD_DECIMAL, MONEY_LIMIT, MONEY_PLACES
from connectors.readers import Record

CURRENCY = re.compile(r"[A-Za-z]{3}")
NEEDS_FETCH = "needs fetching:"


def needs_fetch(what: str) -> Skip:
    """The Skip of a notification that names an entity without its content."""
    return Skip(f"{NEEDS_FETCH} {what}; the webhook names only the id, so the entity must be "
                "fetched from the API (a live connection) to be read")  # fmt: skip


class Reader:
    """Typed, path-named reads of one record (or an object inside it)."""

    __slots__ = ("data", "parse_time", "prefix")

    def __init__(self, data: dict, parse_time: Callable[[str], datetime], prefix: str = ""):
        self.data = data
        self.prefix = prefix
        self.parse_time = parse_time

    def error(self, name: str, message: str) -> RecordError:
        return RecordError(f"{self.prefix}{name}", message)

    def raw(self, name: str):
        value = self.data
        for step in name.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        return value

    def part(self, name: str) -> "Reader":
        value = self.raw(name)
        if value is not None and not isinstance(value, dict):
            raise self.error(name, "must be an object")
        return Reader(value or {}, self.parse_time, f"{self.prefix}{name}.")

    def items(self, name: str) -> Iterator[tuple[int, "Reader"]]:
        """The objects of a list field, each read at its index."""
        value = self.raw(name)
        if value is None:
            return
        if not isinstance(value, list):
            raise self.error(name, "must be a list")
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"{name}[{index}]", "must be an object")
            yield index, Reader(item, self.parse_time, f"{self.prefix}{name}[{index}].")

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.raw(name)
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            value = str(value)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.error(name, "is required")
            return None
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, not {value!r}")
        return value.strip()

    def money(self, name: str, required: bool = False) -> Decimal | None:
        """A decimal amount in major units, given as a JSON number or text."""
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise self.error(name, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
            raise self.error(name, f"must be a number, not {value!r}")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.error(name, f"must be a number, not {value!r}") from None
        if not amount.is_finite():
            raise self.error(name, f"must be a finite number, not {value!r}")
        if abs(amount) >= MONEY_LIMIT or amount.as_tuple().exponent < -MONEY_PLACES:
            # What the amount columns hold (NUMERIC(18, 4)); beyond, the write would fail.
            raise self.error(name, BAD_DECIMAL)
        return amount

    def currency(self, name: str, required: bool = False) -> str | None:
        code = self.text(name, required)
        if code is not None and not CURRENCY.fullmatch(code):
            raise self.error(name, f"{code!r} is not a three-letter ISO 4217 code")
        return code.upper() if code else None

    def time(self, name: str, required: bool = False) -> datetime | None:
        text = self.text(name, required)
        if text is None:
            return None
        try:
            return self.parse_time(text)
        except ValueError as error:
            raise self.error(name, str(error)) from None


def parse_iso_time(text: str) -> datetime:
    """An ISO 8601 date or time (`2014-09-19`, `...-07:00`, `...-0700`, `...Z`)
    as an aware UTC time; without a zone it is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date or time") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def money_text(amount: Decimal | None, currency: str | None) -> str:
    return " ".join(str(part) for part in (currency, amount) if part is not None) or "no amount"


def unwrapped(records: Iterator[Record], lists: Callable[[dict], Iterator]) -> Iterator[Record]:
    """Each record, or the items `lists` finds in it (a list response, a
    webhook's events) as records of their own, located inside it. `lists`
    yields (path, item) pairs, or nothing for a record that is one item."""
    for record in records:
        found = list(lists(record.data))
        if not found:
            yield record
            continue
        prefix = "" if record.locator.startswith("index") else f"{record.locator} "
        for offset, (path, item) in enumerate(found):
            locator = f"{prefix}{path}"[:40]  # the inbox's column
            if isinstance(item, dict):
                yield Record(record.position + offset, locator, item)
            else:
                yield Record(record.position + offset, locator, {"_raw": item}, "not an object")


class AnswerConnector(Connector):
    """A connector that reads the vendor's API answers and webhook bodies as
    they came: the items their lists hold (`lists`) are records of their own,
    each located inside its document."""

    @staticmethod
    def lists(data: dict) -> Iterator[tuple[str, object]]:
        """(path, item) for each item the document holds; nothing for a
        document that is itself one record."""
        return iter(())

    def parse(self, content: bytes, filename: str | None = None) -> Iterator[Record]:
        return unwrapped(super().parse(content, filename), self.lists)
