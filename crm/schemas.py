"""Schema bases shared by every package's pages and API."""

from datetime import date

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from crm.heartbeat import INTERRUPTED
from crm.vocabulary import ENTITY_TYPES

# The days a query may name. Every day in it can be moved by the spans the
# app works with (a briefing's period and previous period, a year of charts,
# a timeline's last day taken to the next midnight) and stay a date; day 1 of
# year 1 or the last of 9999 cannot, and once answered with a 500.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2999, 12, 31)


class Day(fields.Date):
    """A day, YYYY-MM-DD, between FIRST_DAY and LAST_DAY."""

    def __init__(self, **kwargs):
        kwargs["validate"] = [
            validate.Range(
                min=FIRST_DAY,
                max=LAST_DAY,
                error=f"must be a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}",
            ),
            *_as_list(kwargs.get("validate")),
        ]
        super().__init__(**kwargs)


def _as_list(validators) -> list:
    if validators is None:
        return []
    return list(validators) if isinstance(validators, list | tuple) else [validators]


class FormSchema(Schema):
    """Input from a query string or a browser form.

    Browsers send every field of a form, the empty ones as "": those count as
    missing, so a blank optional field takes its default instead of failing
    validation. Keys the schema does not know are ignored, as a page's other
    controls (buttons, the CSRF token) arrive with the rest.
    """

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _drop_empty(self, data, **kwargs):
        if hasattr(data, "items"):
            return {
                key: value
                for key, value in data.items()
                if not (isinstance(value, str) and not value.strip())
            }
        return data


class ClientNameSchema(Schema):
    """How an answer names a client: its slug (the key its URLs and the API
    take), its name and its tier; a schema that shows a client starts here."""

    slug = fields.String()
    name = fields.String()
    tier = fields.String()


def enum_field(values, description: str | None = None, **kwargs) -> fields.String:
    """Text that is one of `values` (a vocabulary), which the OpenAPI
    document lists; answered as stored, not validated."""
    metadata = {"enum": list(values)}
    if description:
        metadata["description"] = description
    return fields.String(metadata=metadata, **kwargs)


class ThreadNameSchema(Schema):
    """How an answer names a thread: its type and its key within the client
    (the pair its URLs take); a schema that shows a thread starts here."""

    type = enum_field(ENTITY_TYPES)
    key = fields.String()


class WatchedRunSchema(Schema):
    """Work that a worker runs and keeps a heartbeat of (crm.heartbeat): a
    job, an ingest run. A schema of one gives `status` with `shown_status`."""

    heartbeat_at = fields.DateTime(allow_none=True)
    started_by = fields.String()
    finished_at = fields.DateTime(allow_none=True)
    error = fields.String(allow_none=True)


def shown_status(statuses, then: str) -> fields.String:
    """A watched run's status as shown: its own, or INTERRUPTED while it is
    running but its heartbeat stopped; `then` says what becomes of it."""
    return fields.String(
        attribute="shown_status",
        metadata={
            "enum": [*statuses, INTERRUPTED],
            "description": f"`{INTERRUPTED}`: running, but its process stopped (no heartbeat "
            f"for TOUCHLINE_HEARTBEAT_STALE_SECONDS); {then}",
        },
    )


def exact_amount(description: str | None = None, **kwargs) -> fields.Decimal:
    """An amount as an exact decimal string ("120.5000"), never a float."""
    metadata = {"type": "string", "format": "decimal", "example": "120.5000"}
    if description:
        metadata["description"] = description
    return fields.Decimal(as_string=True, allow_none=True, metadata=metadata, **kwargs)


class AmountSchema(Schema):
    currency = fields.String(allow_none=True)
    amount = fields.Decimal(as_string=True)


def amounts_field(description: str) -> fields.List:
    """Amounts in several currencies, each apart."""
    return fields.List(fields.Nested(AmountSchema), metadata={"description": description})


def counts_field(description: str | None = None) -> fields.Dict:
    """Counts by name ({"open_tickets": 12, ...}): a list's full lengths, records by status."""
    metadata = {"description": description} if description else {}
    return fields.Dict(keys=fields.String(), values=fields.Integer(), metadata=metadata)


def total_field(description: str) -> fields.Nested:
    """Amounts added into the reporting currency (crm.money), or none."""
    return fields.Nested(
        lambda: MoneyTotalSchema(), allow_none=True, metadata={"description": description}
    )


class MrrSchema(Schema):
    """Recurring revenue per month (crm.revenue)."""

    by_currency = fields.Dict(
        keys=fields.String(),
        values=fields.Decimal(as_string=True),
        metadata={"description": "Per currency, largest first"},
    )
    total = fields.Nested(lambda: MoneyTotalSchema())
    items = fields.Integer(metadata={"description": "Recurring items earning"})
    unpriced = fields.Integer(metadata={"description": "Of them, without a known monthly amount"})


class MoneyTotalSchema(Schema):
    """A sum across currencies: converted at the stated rates, the rest apart."""

    currency = fields.String(metadata={"description": "The reporting currency"})
    amount = fields.Decimal(as_string=True)
    unconverted = fields.Dict(
        keys=fields.String(),
        values=fields.Decimal(as_string=True),
        metadata={"description": "Amounts per currency without an exchange rate, not in `amount`"},
    )
    complete = fields.Boolean()
