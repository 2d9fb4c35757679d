"""What the API answers for the pre-contact card and the device inventory (the
timeline and its inputs are in schemas.py)."""

from marshmallow import Schema, fields

from crm.schemas import (
    ClientNameSchema,
    MoneyTotalSchema,
    ThreadNameSchema,
    counts_field,
    exact_amount,
)

# --- the card --------------------------------------------------------------------


class CardDeadlineSchema(Schema):
    state = fields.String(metadata={"description": "breached or overdue, due, or none"})
    at = fields.DateTime(allow_none=True)


class CardFlagSchema(Schema):
    kind = fields.String(metadata={"description": "The flag (crm.flags): late_ticket, ..."})
    severity = fields.String(metadata={"description": "critical, high, medium or low"})
    since = fields.DateTime(metadata={"description": "When the wait began (its age counts from)"})
    facets = fields.List(fields.String(), metadata={"description": "Why: past_sla, overdue, ..."})


class CardItemSchema(ThreadNameSchema):
    title = fields.String(attribute="entity.title", allow_none=True)
    status = fields.String(attribute="entity.status")
    opened_at = fields.DateTime(attribute="entity.opened_at")
    age_seconds = fields.Function(lambda item: int(item.age.total_seconds()))
    deadline = fields.Nested(CardDeadlineSchema)
    amount = exact_amount(attribute="entity.amount")
    currency = fields.String(attribute="entity.currency", allow_none=True)
    priority = fields.String(attribute="entity.priority", allow_none=True)
    assignee = fields.String(attribute="entity.assignee", allow_none=True)
    flag = fields.Nested(CardFlagSchema, allow_none=True)


class CardRecurrenceSchema(Schema):
    instance = fields.String(metadata={"description": "The device"})
    alertname = fields.String(metadata={"description": "The check"})
    times = fields.Integer(metadata={"description": "Times it fired in the last 30 days"})
    first = fields.DateTime()
    last = fields.DateTime()
    last_thread_key = fields.String(allow_none=True)


class CardAlertGroupSchema(Schema):
    check = fields.String(metadata={"description": "The check (alert name), else the title"})
    device = fields.String(allow_none=True)
    count = fields.Integer(metadata={"description": "Open alerts of this check on this device"})
    critical = fields.Integer(metadata={"description": "How many of them are critical"})
    first_opened = fields.DateTime()
    last_opened = fields.DateTime()
    latest_key = fields.String()


class CardCampaignSchema(Schema):
    key = fields.String()
    title = fields.String()
    sent_at = fields.DateTime()
    recipients = fields.Integer()
    thread_key = fields.String(allow_none=True)
    reactions = counts_field()


class CardCompletedSchema(ThreadNameSchema):
    title = fields.String()
    verb = fields.String()
    closed_at = fields.DateTime()
    by = fields.String(allow_none=True)
    text = fields.String()


class CardContactSchema(Schema):
    name = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    role = fields.String(allow_none=True)


class CardClientSchema(ClientNameSchema):
    language = fields.String(allow_none=True)
    timezone = fields.String()
    account_manager = fields.String(allow_none=True)


class CardSchema(Schema):
    client = fields.Nested(CardClientSchema)
    now = fields.DateTime()
    guidance = fields.String()
    local_now = fields.DateTime(metadata={"description": "Now in the client's time zone."})
    business_hours = fields.String()
    in_business_hours = fields.Boolean()
    contacts = fields.List(fields.Nested(CardContactSchema))
    more_contacts = fields.Integer()
    flags = fields.List(fields.String())
    open_tickets = fields.List(fields.Nested(CardItemSchema))
    active_alerts = fields.List(fields.Nested(CardItemSchema))
    recurring_alerts = fields.List(fields.Nested(CardRecurrenceSchema))
    open_disputes = fields.List(fields.Nested(CardItemSchema))
    failed_payments = fields.List(fields.Nested(CardItemSchema))
    overdue_invoices = fields.List(fields.Nested(CardItemSchema))
    overdue_totals = fields.Dict(keys=fields.String(), values=exact_amount())
    overdue_total = fields.Nested(MoneyTotalSchema, allow_none=True)
    campaigns = fields.List(fields.Nested(CardCampaignSchema))
    open_quotes = fields.List(fields.Nested(CardItemSchema))
    renewals = fields.List(fields.Nested(CardItemSchema))
    commitments = fields.List(fields.Nested(CardItemSchema))
    lately = fields.List(fields.Nested(CardCompletedSchema))
    lately_total = fields.Integer(metadata={"description": "All work finished in 14 days."})
    totals = counts_field(
        "Each list's full count (open_tickets, ...): a list holds its first "
        "10; the rest are on /clients/<slug>/threads"
    )
    recurring_total = fields.Integer(metadata={"description": "All recurring alerts."})
    alert_groups = fields.List(
        fields.Nested(CardAlertGroupSchema),
        metadata={"description": "Open alerts by check and device, critical first (first 10)."},
    )
    alert_group_total = fields.Integer()


class DeviceSchema(Schema):
    hostname = fields.String(metadata={"description": "As the RMM writes it."})
    host = fields.String(
        metadata={"description": "How alerts name it: identity system `host` of the client."}
    )
    dns_name = fields.String(allow_none=True)
    serial_number = fields.String(allow_none=True)
    site = fields.String(allow_none=True)
    operating_system = fields.String(allow_none=True)
    device_type = fields.String(allow_none=True)
    last_seen_at = fields.DateTime(allow_none=True)
    rmm = fields.String(
        allow_none=True, metadata={"description": "The inventory: datto-rmm, ninjaone."}
    )
    rmm_id = fields.String(allow_none=True, metadata={"description": "Its id there."})
    updated_at = fields.DateTime()


class DeviceListSchema(Schema):
    items = fields.List(fields.Nested(DeviceSchema))
