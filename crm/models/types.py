"""Column types shared by the models."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
from sqlalchemy import JSON, BigInteger, DateTime, Numeric, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime stored as UTC.

    SQLite has no time zones and hands back naive values; this type converts
    every value to UTC on the way in and marks it UTC on the way out, so code
    compares aware datetimes on both engines.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give it a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def bulk_bind_processor(self, dialect):
        """The bind processor for the bulk writes in crm.database, or None.

        On SQLite, SQLAlchemy's processor converts the value and then formats
        it field by field, ~2 µs a value; ingest writes several per event. ISO
        format with microseconds is the very text SQLite's DATETIME stores,
        at a quarter of the cost. Other engines take the datetime itself.
        """
        if dialect.name != "sqlite":
            return None
        return _sqlite_datetime_text


def _sqlite_datetime_text(value: datetime | None) -> str | None:
    """`value` as the text SQLite's DATETIME holds, in UTC:
    "2026-10-01 09:00:00.000000".

    Built from pieces made once (each day's date, each minute of the day,
    each second), at a third of isoformat's cost: ingest writes one or more
    per event. tests/test_bulk_statements.py holds it to isoformat.
    """
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give it a time zone")
        value = value.astimezone(UTC)
    day = value.toordinal()
    date = _DATES.get(day) or _DATES.setdefault(
        day, f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
    )
    if value.microsecond:
        second = f"{value.second:02d}.{value.microsecond:06d}"
    else:
        second = _WHOLE_SECONDS[value.second]
    return date + _MINUTES[value.hour * 60 + value.minute] + second


_DATES: dict[int, str] = {}
_MINUTES = [f"{minute // 60:02d}:{minute % 60:02d}:" for minute in range(24 * 60)]
_WHOLE_SECONDS = [f"{second:02d}.000000" for second in range(60)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Money(TypeDecorator):
    """An exact amount with four decimal places, never a float.

    PostgreSQL stores NUMERIC(18, 4). SQLite's NUMERIC is a float underneath,
    so there the amount is stored as an integer count of ten-thousandths,
    which SUM() adds exactly; both engines hand back Decimal.
    """

    impl = Numeric(18, 4, asdecimal=True)
    cache_ok = True
    PLACES = 4

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        exact = Decimal(value)
        if exact != exact.quantize(Decimal(1).scaleb(-self.PLACES)):
            raise ValueError(f"{value} has more than {self.PLACES} decimal places")
        return int(exact.scaleb(self.PLACES)) if dialect.name == "sqlite" else exact

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.PLACES)
        return Decimal(value)

    def bulk_bind_processor(self, dialect):
        """The bind processor for the bulk writes in crm.database: the same
        checks and values as `process_bind_param`, without the per-call
        dialect test, for the Decimals ingest has already read exactly."""
        places = Decimal(1).scaleb(-self.PLACES)
        scale = self.PLACES if dialect.name == "sqlite" else None

        def process(value):
            if value is None:
                return None
            exact = value if type(value) is Decimal else Decimal(value)
            if exact != exact.quantize(places):
                raise ValueError(f"{value} has more than {self.PLACES} decimal places")
            return int(exact.scaleb(scale)) if scale is not None else exact

        return process


class MoneySum(Money):
    """A sum of Money amounts: as exact, with room for many of the largest
    (NUMERIC(38, 4) on PostgreSQL; SQLite's integer holds what its SUM() of
    the amounts would)."""

    impl = Numeric(38, 4, asdecimal=True)
    cache_ok = True


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)  # exact; a float would round
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# json.dumps(value, default=...) would build a new encoder for every value.
_ENCODER = json.JSONEncoder(default=_json_default)


def json_dumps(value) -> str:
    """The engines' JSON serialiser: exact Decimals and ISO 8601 datetimes.

    orjson writes the same JSON (compact, with UTF-8 as it is) at a fifth of
    the json module's cost, which ingest pays once per event. What orjson
    refuses (integers beyond 64 bits, keys that are not text) the json
    module writes as it always did.
    """
    try:
        return orjson.dumps(value, default=_json_default).decode()
    except (orjson.JSONEncodeError, TypeError):
        return _ENCODER.encode(value)


# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
Json = JSON().with_variant(JSONB(), "postgresql")
