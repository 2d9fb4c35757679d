"""One declaration of a flat record format, checked two ways.

A format is a list of `Field`s. From it come a marshmallow schema (for
webhooks, the API and small inputs) and a column-at-a-time check (for large
files, where loading row by row costs ~30 µs a record). Both give the same
values and the same first error per record, since both read each value with
`clean` (the column check merely skips it where whole-list operations show
the answer); tests/test_fields.py holds them to that.
"""

import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import NoneType

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validates_schema

from connectors.base import RecordError, first_error
from connectors.readers import Record
from crm import jsontext

CURRENCY = re.compile(r"[A-Za-z]{3}")
MONEY_PLACES = 4


class KnownFieldsSchema(Schema):
    """A record's schema that reads the fields it names and leaves the others
    out, not refused: a source adds fields without notice, and its records
    must not fail for them. (A schema that keeps them, for the event's
    attributes, says `unknown = INCLUDE` itself.)"""

    class Meta:
        unknown = EXCLUDE


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # text | datetime | decimal | currency | json
    required: bool = False
    max_length: int | None = None


# Messages shared by both checks, so a record gets the same words either way.
MISSING = "is required"
# A marshmallow field's error_messages that say a missing or null value alike:
# every connector's schema names a required field this way.
REQUIRED = {"required": MISSING, "null": MISSING}
BAD_DATETIME = "is not an ISO 8601 date or time"
MONEY_LIMIT = Decimal(10) ** 14  # NUMERIC(18, 4) holds up to 14 integer digits
BAD_DECIMAL = f"is not an amount under 10^14 with at most {MONEY_PLACES} decimal places"
BAD_CURRENCY = "is not a three-letter ISO 4217 currency code"
BAD_JSON = "is not a JSON object"


def too_long(limit: int) -> str:
    return f"is longer than {limit} characters"


# --- values, one at a time (marshmallow) ------------------------------------


def _blank(value) -> bool:
    """None, blank text, or NaN (which JSON can carry): all mean "not given"."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and value != value)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date or date-time; a value without an offset is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    if value.tzinfo is UTC:  # "Z" or "+00:00", as most exports write them
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_decimal(text) -> Decimal:
    value = Decimal(str(text).strip())
    if (
        not value.is_finite()
        or value.as_tuple().exponent < -MONEY_PLACES
        or abs(value) >= MONEY_LIMIT
    ):
        raise InvalidOperation
    return value


def parse_json_object(value) -> dict | None:
    """A JSON object as such, or as text (a CSV cell); blank means not given."""
    if _blank(value):
        return None
    if isinstance(value, str):
        try:
            value = jsontext.loads(value)
        except json.JSONDecodeError:
            raise ValueError(BAD_JSON) from None
    if not isinstance(value, dict):
        raise ValueError(BAD_JSON)
    return value


def clean(spec: Field, value):
    """One value of a field as the format reads it: stripped text, an aware UTC
    datetime, an exact Decimal, an upper-case currency code or a dict.

    Raises ValueError with the words a person reads. Both checks use it, so
    they cannot disagree about a value.
    """
    if spec.type == "json":
        return parse_json_object(value)
    if _blank(value):
        if spec.required:
            raise ValueError(MISSING)
        return None
    if isinstance(value, bool | dict | list):
        raise ValueError(f"is a {type(value).__name__}, not a value")
    text = str(value).strip()
    if spec.type == "text":
        if spec.max_length and len(text) > spec.max_length:
            raise ValueError(too_long(spec.max_length))
        return text
    parse, message = _PARSERS[spec.type]
    try:
        return parse(text)
    except (ValueError, InvalidOperation):
        raise ValueError(message) from None


def parse_currency(text: str) -> str:
    if not CURRENCY.fullmatch(text):
        raise ValueError(BAD_CURRENCY)
    return text.upper()


# How each type that is not plain text reads stripped, non-blank text, and
# what a person is told when it cannot.
_PARSERS = {
    "datetime": (parse_datetime, BAD_DATETIME),
    "decimal": (parse_decimal, BAD_DECIMAL),
    "currency": (parse_currency, BAD_CURRENCY),
}


class _Value(fields.Field):
    """A field that accepts text or numbers and parses them one way."""

    def __init__(self, spec: Field, **kwargs):
        if not spec.required:
            kwargs["load_default"] = None
        super().__init__(
            required=spec.required,
            allow_none=not spec.required,
            error_messages=REQUIRED,
            **kwargs,
        )
        self.spec = spec

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return clean(self.spec, value)
        except ValueError as error:
            raise ValidationError(str(error)) from None


@dataclass(frozen=True)
class Rule:
    """A check across fields of one record: `check` takes the clean values of
    `fields`, in that order, and answers the record's error or None. Both
    checks run it, the schema on each record, the column check on columns."""

    fields: tuple[str, ...]
    check: Callable[..., RecordError | None]

    def on_record(self, data: dict) -> RecordError | None:
        return self.check(*(data.get(name) for name in self.fields))


def build_schema(name: str, specs: Sequence[Field], rules: Sequence[Rule] = ()) -> type:
    """A marshmallow schema for the format; unknown keys are kept as `extra`."""
    attrs = {spec.name: _Value(spec, data_key=spec.name) for spec in specs}
    known = {spec.name for spec in specs}

    def collect_extra(self, data, original_data, **kwargs):
        data["extra"] = _extra(original_data, known)
        return data

    @validates_schema
    def check_rules(self, data, **kwargs):
        for rule in rules:
            error = rule.on_record(data)
            if error:
                raise ValidationError(error.message, field_name=error.field or "_schema")

    attrs["collect_extra"] = post_load(pass_original=True)(collect_extra)
    attrs["check_rules"] = check_rules
    attrs["Meta"] = type("Meta", (), {"unknown": EXCLUDE})
    return type(name, (Schema,), attrs)


def _extra(data: dict, known: set[str]) -> dict:
    """The record's other non-blank columns, kept on the event as attributes."""
    if data.keys() <= known:
        return {}
    return {k: v for k, v in data.items() if k not in known and not _blank(v)}


# --- values, a whole column at a time ----------------------------------------


@dataclass
class CheckedColumns:
    """Records checked against a format, column by column: each field's clean
    values (one per record; None where the record is wrong), each record's
    other non-blank columns (`extra`), and each record's first error or None."""

    columns: dict[str, list]
    extra: list[dict]
    errors: list[RecordError | None]

    def results(self) -> list[dict | RecordError]:
        """Record by record, as the marshmallow schema loads them: the clean
        values with `extra`, or the error."""
        names = list(self.columns)
        rows = zip(*self.columns.values(), strict=True) if names else ((),) * len(self.errors)
        return [
            error or dict(zip(names, values, strict=True), extra=extra)
            for values, extra, error in zip(rows, self.extra, self.errors, strict=True)
        ]


def load_columns(
    schema: Schema, records: Sequence[Record], specs: Sequence[Field]
) -> CheckedColumns:
    """Load each record with the format's marshmallow schema, as columns."""
    rows: list[dict | None] = []
    errors: list[RecordError | None] = []
    for record in records:
        try:
            rows.append(schema.load(record.data))
            errors.append(None)
        except ValidationError as error:
            rows.append(None)
            errors.append(first_error(error.messages))
    columns = {spec.name: [row[spec.name] if row else None for row in rows] for spec in specs}
    return CheckedColumns(columns, [row["extra"] if row else {} for row in rows], errors)


def validate_columns(
    records: Sequence[Record], specs: Sequence[Field], rules: Sequence[Rule] = ()
) -> CheckedColumns:
    """Check many records a column at a time; the same values and errors as
    the marshmallow schema.

    The first error of a record is its first bad field in declaration order,
    then the first broken rule, as marshmallow reports them.
    """
    datas = [record.data for record in records]
    count = len(datas)
    errors: list[RecordError | None] = [None] * count
    given = set().union(*datas)
    columns = {}
    for spec in specs:
        # A key no record has is None throughout, as a missing key is to the schema.
        if spec.name in given:
            raw = list(map(dict.get, datas, itertools.repeat(spec.name)))
            columns[spec.name] = _check_column(spec, raw, errors)
        else:
            if spec.required:
                for index in range(count):
                    errors[index] = errors[index] or RecordError(spec.name, MISSING)
            columns[spec.name] = [None] * count
    for rule in rules:
        broken = map(rule.check, *(columns[name] for name in rule.fields))
        for index, error in enumerate(broken):
            if error is not None and errors[index] is None:
                errors[index] = error
    known = {spec.name for spec in specs}
    extra = [{} for _ in datas] if given <= known else [_extra(data, known) for data in datas]
    return CheckedColumns(columns, extra, errors)


def _check_column(spec: Field, raw: list, errors: list) -> list:
    """The column's clean values; a bad value sets its record's error unless an
    earlier field already did."""
    if spec.type != "json":
        kinds = set(map(type, raw))
        if kinds <= {str, NoneType}:
            return _check_text_column(spec, raw, errors, has_none=NoneType in kinds)
    values = [None] * len(raw)
    for index, value in enumerate(raw):
        if value is None and not spec.required:
            continue
        try:
            values[index] = clean(spec, value)
        except ValueError as error:
            if errors[index] is None:
                errors[index] = RecordError(spec.name, str(error))
    return values


def _check_text_column(spec: Field, raw: list, errors: list, has_none: bool) -> list:
    """`clean` for a column of text (or None), the bulk of a big file, with
    whole-list operations where they show the answer: several times cheaper
    than value by value."""
    text = [v.strip() if v is not None else "" for v in raw] if has_none else [*map(str.strip, raw)]
    has_blank = "" in text
    bad = []
    if has_blank and spec.required:
        bad = [(i, MISSING) for i, t in enumerate(text) if not t]
    if spec.type == "text":
        limit = spec.max_length
        if limit and max(map(len, text), default=0) > limit:
            bad += [(i, too_long(limit)) for i, t in enumerate(text) if len(t) > limit]
        values = [t or None for t in text] if has_blank else text
    else:
        parse, message = _PARSERS[spec.type]
        values = [None] * len(text)
        for index, t in enumerate(text):
            if t:
                try:
                    values[index] = parse(t)
                except (ValueError, InvalidOperation):
                    bad.append((index, message))
    for index, message in bad:
        if errors[index] is None:
            errors[index] = RecordError(spec.name, message)
    return values
