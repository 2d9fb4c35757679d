"""What crosses the briefing's boundaries: the meeting date in, the briefing out as JSON.

The output schemas mirror reports.briefing.model field for field. Amounts are
strings (exact decimals, as everywhere in the API) and times ISO 8601 with an
offset.
"""

from marshmallow import EXCLUDE, Schema, fields, pre_load

from crm.schemas import ClientNameSchema, Day, MoneyTotalSchema, MrrSchema, counts_field


class BriefingQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    date = Day(
        metadata={
            "description": "The meeting day, YYYY-MM-DD (default: today in the client's time "
            "zone). A day already past gives the briefing as it stood that morning."
        }
    )


class BatchQuerySchema(Schema):
    """Which clients' briefings to make at once (reports.briefing.batch) and for which day.

    The filters are checked by batch.Selection.parse, which names the bad one."""

    class Meta:
        unknown = EXCLUDE

    tier = fields.List(
        fields.String(), metadata={"description": "new, standard, problem or key; repeatable"}
    )
    group = fields.String(metadata={"description": "A group id, or kind:name (industry:Dental)"})
    account_manager = fields.String()
    date = Day(
        metadata={"description": "The meeting day, YYYY-MM-DD (default: each client's today)."}
    )

    @pre_load
    def drop_blanks(self, data, **kwargs):
        """An empty box of a GET form arrives as "": no filter at all."""
        tidy = {}
        for key, value in data.items():
            if isinstance(value, list):
                value = [item for item in value if isinstance(item, str) and item.strip()]
            elif isinstance(value, str):
                value = value.strip()
            if value:
                tidy[key] = value
        return tidy


def _money():
    return fields.Decimal(as_string=True, allow_none=True)


def _ids():
    return fields.List(
        fields.Integer(),
        metadata={"description": "Ids of the timeline events this item was read from."},
    )


class BriefingClientSummarySchema(ClientNameSchema):
    status = fields.String()
    groups = fields.List(
        fields.String(),
        metadata={"description": "Its groups, but those of kind language or time zone"},
    )
    account_manager = fields.String(allow_none=True)
    timezone = fields.String()
    url = fields.String()


class BriefingPeriodSchema(Schema):
    meeting_date = fields.Date()
    start = fields.DateTime()
    end = fields.DateTime(metadata={"description": "Now, or the morning of a past meeting day."})
    days = fields.Integer()
    previous_start = fields.DateTime()
    last_meeting_at = fields.DateTime(allow_none=True)
    last_meeting_event_id = fields.Integer(allow_none=True)


class BriefingHealthDriverSchema(Schema):
    kind = fields.String()
    label = fields.String()
    count = fields.Integer()
    points = fields.Integer(metadata={"description": "Points this kind of flag takes off."})
    previous_count = fields.Integer()
    previous_points = fields.Integer()
    change = fields.Integer(metadata={"description": "How it moved the score (+ is better)."})
    event_ids = _ids()


class BriefingHealthSchema(Schema):
    score = fields.Integer()
    previous_score = fields.Integer()
    change = fields.Integer()
    drivers = fields.List(fields.Nested(BriefingHealthDriverSchema))


class BriefingThreadLineSchema(Schema):
    """What a flag and a talking point alike point at: a sum, the thread it stands in and
    the events behind it (the PDF's links and the API's ids come from these)."""

    amount = _money()
    currency = fields.String(allow_none=True)
    thread_type = fields.String(allow_none=True)
    thread_key = fields.String(allow_none=True)
    thread_url = fields.String(allow_none=True)
    event_ids = _ids()


class BriefingFlagSchema(BriefingThreadLineSchema):
    kind = fields.String(
        metadata={
            "description": "open_dispute, critical_alert, failed_payment, overdue_invoice, "
            "late_ticket, recurring_alert or overdue_commitment: the same flags as the "
            "directory, the card and the portfolio report"
        }
    )
    severity = fields.String(metadata={"description": "critical, high, medium or low"})
    title = fields.String()
    detail = fields.String()
    opened_at = fields.DateTime(allow_none=True)
    since = fields.DateTime(
        allow_none=True, metadata={"description": "When the wait began; age_days counts from it"}
    )
    age_days = fields.Integer(allow_none=True, metadata={"description": "Whole days since"})
    facets = fields.List(
        fields.String(),
        metadata={"description": "Why: past_sla, open_too_long, overdue, payment_failed, ..."},
    )
    settled = fields.Boolean(
        metadata={"description": "Settled in the period (solved late, paid after failing)"}
    )
    due_at = fields.DateTime(allow_none=True)
    owner = fields.String(allow_none=True)
    aging_bucket = fields.String(allow_none=True)
    suggestion = fields.String(allow_none=True)
    count = fields.Integer(
        metadata={
            "description": "Threads this line tells of: critical alerts of one check on "
            "one device are one line"
        }
    )


class BriefingBucketTotalSchema(Schema):
    currency = fields.String()
    amount = _money()


class BriefingAgingBucketSchema(Schema):
    label = fields.String()
    count = fields.Integer()
    totals = fields.List(fields.Nested(BriefingBucketTotalSchema))
    event_ids = _ids()


class BriefingTalkingPointSchema(BriefingThreadLineSchema):
    kind = fields.String()
    text = fields.String()
    at = fields.DateTime(allow_none=True)


class BriefingTalkingPointsSchema(Schema):
    work_done = fields.List(fields.Nested(BriefingTalkingPointSchema))
    deals_won = fields.List(fields.Nested(BriefingTalkingPointSchema))
    renewals_due = fields.List(fields.Nested(BriefingTalkingPointSchema))
    open_quotes = fields.List(fields.Nested(BriefingTalkingPointSchema))
    campaigns = fields.List(fields.Nested(BriefingTalkingPointSchema))
    totals = counts_field("Each list's full length; a list holds its first 10")
    more_urls = fields.Dict(
        keys=fields.String(), values=fields.String(), metadata={"description": "The full lists"}
    )


class BriefingSourceCountSchema(Schema):
    source = fields.String()
    count = fields.Integer()
    previous = fields.Integer()
    timeline_url = fields.String(allow_none=True)


class BriefingRevenueSchema(Schema):
    currency = fields.String()
    invoiced = _money()
    collected = _money()
    refunded = _money()
    previous_invoiced = _money()
    previous_collected = _money()


class BriefingMonthSchema(Schema):
    """One month of a chart's twelve: counts of what happened in it."""

    month = fields.Date(metadata={"description": "Its first day, in the client's time zone"})


class BriefingMonthActivitySchema(BriefingMonthSchema):
    by_source = counts_field()
    total = fields.Integer()


class BriefingMonthTicketsSchema(BriefingMonthSchema):
    opened = fields.Integer()
    resolved = fields.Integer()


class BriefingMonthAlertsSchema(BriefingMonthSchema):
    raised = fields.Integer(metadata={"description": "Each time an alert fired counts"})
    resolved = fields.Integer()


class BriefingNumbersSchema(Schema):
    touches = fields.List(fields.Nested(BriefingSourceCountSchema))
    tickets_opened = fields.Integer()
    tickets_resolved = fields.Integer()
    previous_tickets_opened = fields.Integer()
    previous_tickets_resolved = fields.Integer()
    revenue = fields.List(fields.Nested(BriefingRevenueSchema))
    activity = fields.List(fields.Nested(BriefingMonthActivitySchema))
    ticket_trend = fields.List(fields.Nested(BriefingMonthTicketsSchema))
    alerts_raised = fields.Integer(
        metadata={"description": "Times an alert fired in the period (occurrences)."}
    )
    alerts_resolved = fields.Integer()
    previous_alerts_raised = fields.Integer()
    previous_alerts_resolved = fields.Integer()
    alerts_timed = fields.Integer(
        metadata={"description": "Alerts resolved in the period whose raise is on record."}
    )
    median_time_to_resolve_seconds = fields.Method(
        "_median_seconds",
        allow_none=True,
        metadata={"description": "Median time from raise to resolve of those alerts."},
    )
    alert_trend = fields.List(fields.Nested(BriefingMonthAlertsSchema))
    tickets_url = fields.String(allow_none=True)
    billing_url = fields.String(allow_none=True)
    alerts_url = fields.String(allow_none=True)

    def _median_seconds(self, numbers) -> int | None:
        median = numbers.median_time_to_resolve
        return None if median is None else round(median.total_seconds())


class BriefingMoneySchema(Schema):
    reporting = fields.String(metadata={"description": "The reporting currency"})
    rates_stated = fields.String(metadata={"description": "The exchange rates used"})
    aging = fields.List(
        fields.Nested(MoneyTotalSchema),
        metadata={"description": "Each aging bucket's overdue invoices, in `aging`'s order"},
    )
    overdue = fields.Nested(MoneyTotalSchema)
    invoiced = fields.Nested(MoneyTotalSchema)
    collected = fields.Nested(MoneyTotalSchema)
    refunded = fields.Nested(MoneyTotalSchema)


class BriefingSchema(Schema):
    client = fields.Nested(BriefingClientSummarySchema)
    period = fields.Nested(BriefingPeriodSchema)
    generated_at = fields.DateTime()
    stale_ticket_days = fields.Integer()
    health = fields.Nested(BriefingHealthSchema)
    flags = fields.List(
        fields.Nested(BriefingFlagSchema),
        metadata={"description": "The first 20, most severe first (critical alerts grouped)"},
    )
    flag_total = fields.Integer(metadata={"description": "Every flag, one per thread"})
    severity_counts = counts_field()
    more_flags = fields.Integer(metadata={"description": "Lines not in `flags`"})
    more_flags_url = fields.String(allow_none=True)
    aging = fields.List(fields.Nested(BriefingAgingBucketSchema))
    talking_points = fields.Nested(BriefingTalkingPointsSchema)
    numbers = fields.Nested(BriefingNumbersSchema)
    mrr = fields.Nested(
        MrrSchema,
        allow_none=True,
        metadata={"description": "Recurring revenue per month at the period's end (crm.revenue)"},
    )
    previous_mrr = fields.Nested(
        MrrSchema, allow_none=True, metadata={"description": "The same at the period's start"}
    )
    money = fields.Nested(
        BriefingMoneySchema,
        allow_none=True,
        metadata={"description": "Sums across currencies in the reporting currency (crm.money)"},
    )
