"""The portfolio report's boundaries: the period asked for (page and API), the
form that accepts a suggested tier, and the report as JSON."""

from datetime import date

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from crm.schemas import (
    ClientNameSchema,
    Day,
    FormSchema,
    MoneyTotalSchema,
    amounts_field,
    counts_field,
    exact_amount,
    total_field,
)
from crm.vocabulary import TIERS
from reports.portfolio.period import Period, last_twelve_months


class PeriodQuerySchema(FormSchema):
    """`?from=&to=`: whole UTC days, both included; by default the last 12 months."""

    start = Day(
        data_key="from",
        metadata={"description": "First day (UTC), YYYY-MM-DD; default: a year before `to`."},
    )
    end = Day(data_key="to", metadata={"description": "Last day (UTC), included; default: today."})

    @validates_schema
    def _days_in_order(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise ValidationError("is before `from`", "to")


def period_from(data: dict, today: date) -> Period:
    """The Period a loaded PeriodQuerySchema asks for; what it leaves out is
    the last twelve months up to `to` (or today)."""
    start = data.get("start")
    # a `from` after today alone asks for that day, not for a period backwards
    end = data.get("end") or (max(today, start) if start else today)
    return Period(start or last_twelve_months(end).start, end)


class TierAcceptSchema(PeriodQuerySchema):
    """Accept one suggestion: give `slug` the tier `tier` (from/to: the period
    of the report to go back to)."""

    slug = fields.String(required=True, validate=validate.Length(min=1, max=80))
    tier = fields.String(required=True, validate=validate.OneOf(TIERS))


# --- out ---------------------------------------------------------------------------


class PeriodSchema(Schema):
    start = Day(data_key="from")
    end = Day(data_key="to")


class CircleSchema(Schema):
    size = fields.Integer(metadata={"description": "Clients in the circle"})
    contributors = fields.Integer(metadata={"description": "Clients with anything at all"})
    share_of_total = fields.Float(metadata={"description": "What the circle makes, 0-1"})
    share_of_clients = fields.Float(metadata={"description": "The circle among contributors"})
    members = fields.List(fields.String(), metadata={"description": "Slugs, biggest first"})


class RevenueCircleSchema(CircleSchema):
    currency = fields.String()
    total = exact_amount("Collected in the period: payments minus refunds")


class TicketCircleSchema(CircleSchema):
    total = fields.Integer(metadata={"description": "Tickets opened in the period"})


class OverlapSchema(Schema):
    both = fields.List(fields.String())
    revenue_only = fields.List(fields.String())
    tickets_only = fields.List(fields.String())


class RevenueSchema(Schema):
    currency = fields.String()
    amount = exact_amount()


class TierChangeSchema(ClientNameSchema):
    suggested_tier = fields.String()
    reason = fields.String(metadata={"description": "Why that tier, in words"})


class ClientFiguresSchema(TierChangeSchema):
    customer_since = fields.Date(allow_none=True)
    timezone = fields.String()
    language = fields.String(allow_none=True)
    account_manager = fields.String(allow_none=True)
    revenue = fields.List(fields.Nested(RevenueSchema))
    reporting_currency = fields.String()
    revenue_total = exact_amount("Its revenue in the reporting currency (crm.money's rates)")
    revenue_unconverted = fields.String(
        metadata={"description": "Revenue in currencies without a rate, left out of revenue_total"}
    )
    mrr = amounts_field("Recurring revenue per month, per currency (crm.revenue)")
    mrr_total = exact_amount("Its MRR in the reporting currency; empty without MRR")
    mrr_unconverted = fields.String(
        metadata={"description": "MRR in currencies without a rate, left out of mrr_total"}
    )
    tickets = fields.Integer()
    in_revenue_circle = fields.Boolean()
    in_ticket_circle = fields.Boolean()
    flags = counts_field("Its flags, by flag (only flags it has): each flagged thread once")
    meeting_overdue = fields.Boolean(
        metadata={"description": "No meeting within its tier's cadence (TOUCHLINE_MEETING_CADENCE)"}
    )


class GroupCountSchema(Schema):
    name = fields.String()
    clients = fields.Integer()
    tickets = fields.Integer(metadata={"description": "Opened in the period"})


class CategorySchema(Schema):
    """A ticket category among the period's most frequent (reports.portfolio.analysis)."""

    category = fields.String(metadata={"description": "`uncategorised` for tickets without one"})
    tickets = fields.Integer(metadata={"description": "Opened in the period"})
    share = fields.Float(metadata={"description": "Of all tickets opened in the period, 0-1"})
    clients = fields.Integer(metadata={"description": "Clients with a ticket of it"})
    missed_sla = fields.Integer(
        metadata={"description": "Solved after their SLA, or still open past it"}
    )


class FlagSchema(Schema):
    client = fields.String(metadata={"description": "The client's slug"})
    name = fields.String()
    flag = fields.String(
        metadata={"description": "The flag (crm.flags): one per thread or recurring alert"}
    )
    severity = fields.String(metadata={"description": "critical, high, medium or low"})
    labels = fields.List(
        fields.String(),
        metadata={
            "description": "Every flag its facets would raise (overdue invoice, failed payment)"
        },
    )
    thread_type = fields.String()
    key = fields.String(
        allow_none=True, metadata={"description": "A recurring alert: its latest occurrence"}
    )
    title = fields.String(allow_none=True)
    since = fields.DateTime(metadata={"description": "When the wait began"})
    days = fields.Integer(metadata={"description": "Whole days since then"})
    amount = exact_amount()
    currency = fields.String(allow_none=True)
    owner = fields.String(allow_none=True)
    url = fields.String(allow_none=True, metadata={"description": "The thread's page"})


class PortfolioSchema(Schema):
    period = fields.Nested(PeriodSchema)
    generated_at = fields.DateTime(metadata={"description": "Open flags are as of this time"})
    active_clients = fields.Integer()
    revenue = fields.List(fields.Nested(RevenueCircleSchema))
    revenue_total = fields.Nested(
        MoneyTotalSchema,
        allow_none=True,
        metadata={"description": "All revenue in the reporting currency (crm.money)"},
    )
    rates_stated = fields.String(metadata={"description": "The exchange rates used"})
    tickets = fields.Nested(TicketCircleSchema)
    overlap = fields.Nested(OverlapSchema)
    tier_changes = fields.List(
        fields.Nested(TierChangeSchema),
        metadata={"description": "Clients whose suggested tier is not their tier"},
    )
    timezones = fields.List(fields.Nested(GroupCountSchema))
    languages = fields.List(fields.Nested(GroupCountSchema))
    categories = fields.List(fields.Nested(CategorySchema))
    flags = fields.List(fields.Nested(FlagSchema))
    flags_total = fields.Integer(
        metadata={
            "description": "Open flags in all; `flags` lists the 100 most severe, the client "
            "directory (/clients?flagged=1) all flagged clients, paged"
        }
    )
    meeting_overdue_clients = fields.Integer(
        metadata={
            "description": "Active clients overdue for a roadmap meeting at generated_at: none "
            "held or planned within their tier's cadence (TOUCHLINE_MEETING_CADENCE)"
        }
    )
    mrr = amounts_field("Active clients' recurring revenue per month, per currency")
    mrr_total = total_field("All MRR in the reporting currency, as of generated_at")
    clients = fields.List(fields.Nested(ClientFiguresSchema))
