"""One declaration of a flat record format, checked two ways.

A format is a list of `Field`s. From it come a marshmallow schema (for
webhooks, the API and small inputs) and a column-at-a-time pandas check (for
large files, where loading row by row costs ~30 µs a record). Both give the
same values and the same first error per record; tests/test_fields.py holds
them to that.
"""

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validates_schema

from connectors.base import RecordError
from connectors.readers import Record

CURRENCY = re.compile(r"[A-Za-z]{3}")
MONEY_PLACES = 4


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # text | datetime | decimal | currency | json
    required: bool = False
    max_length: int | None = None


# Messages shared by both checks, so a record gets the same words either way.
MISSING = "is required"
BAD_DATETIME = "is not an ISO 8601 date or time"
MONEY_LIMIT = Decimal(10) ** 14  # NUMERIC(18, 4) holds up to 14 integer digits
BAD_DECIMAL = f"is not an amount under 10^14 with at most {MONEY_PLACES} decimal places"
BAD_CURRENCY = "is not a three-letter ISO 4217 currency code"
BAD_JSON = "is not a JSON object"


def too_long(limit: int) -> str:
    return f"is longer than {limit} characters"


# --- values, one at a time (marshmallow) ------------------------------------


def _blank(value) -> bool:
    """None, blank text, or the NaN pandas puts where a record lacks a key."""
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and value != value)


def parse_datetime(text: str) -> datetime:
    """ISO 8601 date or date-time; a value without an offset is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z"))
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
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(BAD_JSON) from None
    if not isinstance(value, dict):
        raise ValueError(BAD_JSON)
    return value


class _Value(fields.Field):
    """A field that accepts text or numbers and parses them one way."""

    def __init__(self, spec: Field, **kwargs):
        if not spec.required:
            kwargs["load_default"] = None
        super().__init__(
            required=spec.required,
            allow_none=not spec.required,
            error_messages={"required": MISSING, "null": MISSING},
            **kwargs,
        )
        self.spec = spec

    def _deserialize(self, value, attr, data, **kwargs):
        spec = self.spec
        if spec.type == "json":
            try:
                return parse_json_object(value)
            except ValueError:
                raise ValidationError(BAD_JSON) from None
        if _blank(value):
            if spec.required:
                raise ValidationError(MISSING)
            return None
        if isinstance(value, bool | dict | list):
            raise ValidationError(f"is a {type(value).__name__}, not a value")
        text = str(value).strip()
        if spec.type == "text":
            if spec.max_length and len(text) > spec.max_length:
                raise ValidationError(too_long(spec.max_length))
            return text
        if spec.type == "datetime":
            try:
                return parse_datetime(text)
            except ValueError:
                raise ValidationError(BAD_DATETIME) from None
        if spec.type == "decimal":
            try:
                return parse_decimal(text)
            except InvalidOperation:
                raise ValidationError(BAD_DECIMAL) from None
        if spec.type == "currency":
            if not CURRENCY.fullmatch(text):
                raise ValidationError(BAD_CURRENCY)
            return text.upper()
        raise AssertionError(f"unknown field type {spec.type}")


RecordRule = Callable[[dict], RecordError | None]


def build_schema(name: str, specs: Sequence[Field], rules: Sequence[RecordRule] = ()) -> type:
    """A marshmallow schema for the format; unknown keys are kept as `extra`."""
    attrs = {spec.name: _Value(spec, data_key=spec.name) for spec in specs}
    known = {spec.name for spec in specs}

    def collect_extra(self, data, original_data, **kwargs):
        extra = {k: v for k, v in original_data.items() if k not in known and not _blank(v)}
        data["extra"] = extra
        return data

    @validates_schema
    def check_rules(self, data, **kwargs):
        for rule in rules:
            error = rule(data)
            if error:
                raise ValidationError(error.message, field_name=error.field or "_schema")

    attrs["collect_extra"] = post_load(pass_original=True)(collect_extra)
    attrs["check_rules"] = check_rules
    attrs["Meta"] = type("Meta", (), {"unknown": EXCLUDE})
    return type(name, (Schema,), attrs)


# --- values, a whole column at a time (pandas) ------------------------------


def validate_frame(
    records: Sequence[Record], specs: Sequence[Field], rules: Sequence[RecordRule] = ()
) -> list[dict | RecordError]:
    """Check many records at once; same results as the marshmallow schema."""
    # dtype=object keeps each value as parsed: no ints turned into "12.0".
    frame = pd.DataFrame([record.data for record in records], dtype=object)
    count = len(records)
    errors: list[RecordError | None] = [None] * count
    values: dict[str, list] = {}

    def fail(mask: np.ndarray, spec: Field, message: str) -> None:
        for index in np.flatnonzero(mask):
            if errors[index] is None:
                errors[index] = RecordError(spec.name, message)

    for spec in specs:
        column = frame[spec.name] if spec.name in frame else pd.Series([None] * count)
        if spec.type == "json":
            values[spec.name] = _parse_each(column.tolist(), spec, parse_json_object, fail)
            continue
        is_scalar = column.map(lambda v: not isinstance(v, bool | dict | list)).to_numpy()
        text = column.where(column.notna(), "").astype(str).str.strip()
        blank = (text == "").to_numpy()
        if spec.required:
            fail(blank, spec, MISSING)
        for index in np.flatnonzero(~is_scalar & ~blank):
            if errors[index] is None:
                kind = type(column.iloc[index]).__name__
                errors[index] = RecordError(spec.name, f"is a {kind}, not a value")
        text = text.where(~blank, None)
        values[spec.name] = _convert_column(text, blank, spec, fail)

    rows = []
    for index in range(count):
        if errors[index] is not None:
            rows.append(errors[index])
            continue
        row = {spec.name: values[spec.name][index] for spec in specs}
        data = records[index].data
        known = values.keys()
        row["extra"] = {k: v for k, v in data.items() if k not in known and not _blank(v)}
        for rule in rules:
            error = rule(row)
            if error:
                row = error
                break
        rows.append(row)
    return rows


def _convert_column(text: pd.Series, blank: np.ndarray, spec: Field, fail) -> list:
    if spec.type == "text":
        if spec.max_length:
            fail((text.str.len() > spec.max_length).to_numpy(), spec, too_long(spec.max_length))
        return text.tolist()
    if spec.type == "currency":
        fail(~blank & ~text.str.fullmatch(CURRENCY).eq(True).to_numpy(), spec, BAD_CURRENCY)
        return text.str.upper().tolist()
    parse = {"datetime": parse_datetime, "decimal": parse_decimal}[spec.type]
    return _parse_each(text.tolist(), spec, parse, fail)


_MESSAGES = {"datetime": BAD_DATETIME, "decimal": BAD_DECIMAL, "json": BAD_JSON}


def _parse_each(items: list, spec: Field, parse, fail) -> list:
    """Parse value by value with the very function the schema uses (all are
    C-fast), so the two checks cannot disagree; blanks stay None."""
    result = [None] * len(items)
    bad = np.zeros(len(items), dtype=bool)
    for index, item in enumerate(items):
        if _blank(item):
            continue
        try:
            result[index] = parse(item)
        except (ValueError, InvalidOperation):
            bad[index] = True
    fail(bad, spec, _MESSAGES[spec.type])
    return result
