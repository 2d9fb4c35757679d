"""The directory's shapes: its filters and order as a query string (the page
and the API load the same schema into crm.clients.filters.DirectoryFilters),
and the rows it answers with."""

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
)

from crm.accounts.requester import current_user_or_none
from crm.clients.filters import (
    DIRECTIONS,
    PER_PAGE,
    SORTS,
    BadGroupSelector,
    DirectoryFilters,
    parse_group_selector,
)
from crm.clients.schemas import ClientGroupSchema
from crm.paging import page_fields, page_schema
from crm.schemas import ClientNameSchema, amounts_field, total_field
from crm.vocabulary import CLIENT_STATUSES, TIERS


class DirectoryQuerySchema(Schema):
    """The directory's filters and order, as a query string."""

    class Meta:
        unknown = EXCLUDE  # a page's query string may carry other things

    q = fields.String(metadata={"description": "Part of the name or slug"})
    tier = fields.List(
        fields.String(validate=validate.OneOf(TIERS)),
        metadata={"description": "Repeat for several tiers"},
    )
    group = fields.String(metadata={"description": "A group id, or kind:name (industry:Dental)"})
    account_manager = fields.String(
        metadata={"description": "The account manager's name (matched or not), case aside"}
    )
    manager = fields.String(
        validate=validate.Regexp(r"^(me|[1-9][0-9]{0,9})$", error="is me or an account id"),
        metadata={
            "description": "The account managing the clients: its id, or `me` for the "
            "signed-in account's own clients"
        },
    )
    flagged = fields.Boolean(
        metadata={"description": "true: only clients with open flags; false: only those without"}
    )
    status = fields.String(validate=validate.OneOf(CLIENT_STATUSES))
    meeting_overdue = fields.Boolean(
        metadata={
            "description": "true: only clients overdue for a roadmap meeting by their "
            "tier's cadence (TOUCHLINE_MEETING_CADENCE); false: only the others"
        }
    )
    sort = fields.String(validate=validate.OneOf(SORTS), load_default="name")
    direction = fields.String(
        validate=validate.OneOf(DIRECTIONS),
        metadata={"description": "Default: asc for name, desc for the others"},
    )
    page = page_fields(PER_PAGE)["page"]
    per_page = page_fields(PER_PAGE)["per_page"]

    @pre_load
    def drop_blanks(self, data, **kwargs):
        """An empty box of a GET form arrives as "": it is no filter at all."""
        tidy = {}
        for key in data:
            value = data[key]
            if isinstance(value, list):
                value = [v for v in value if isinstance(v, str) and v.strip()] or None
            elif isinstance(value, str):
                value = value.strip() or None
            if value is not None:
                tidy[key] = value
        return tidy

    @validates("group")
    def check_group(self, value, **kwargs):
        try:
            parse_group_selector(value)
        except BadGroupSelector as error:
            raise ValidationError(str(error)) from None

    @post_load
    def as_filters(self, data, **kwargs):
        return filters_from(data)


def filters_from(data: dict) -> DirectoryFilters:
    """DirectoryFilters from loaded (or partly valid) query data."""
    known = {
        "q": data.get("q"),
        "tiers": tuple(data.get("tier") or ()),
        "group": data.get("group"),
        "account_manager": data.get("account_manager"),
        "manager_id": _manager_id(data.get("manager")),
        "flagged": data.get("flagged"),
        "status": data.get("status"),
        "meeting_overdue": data.get("meeting_overdue"),
        "sort": data.get("sort") or "name",
        "direction": data.get("direction"),
        "page": data.get("page") or 1,
        "per_page": data.get("per_page") or PER_PAGE,
    }
    return DirectoryFilters(**known)


def _manager_id(manager: str | None) -> int | None:
    """The account id `manager` names: its digits, or the signed-in
    account's for "me" (0, no account's, when nobody is signed in)."""
    if not manager:
        return None
    if manager == "me":
        user = current_user_or_none()
        return user.id if user is not None else 0
    return int(manager) if manager.isdigit() and int(manager) <= 2**31 - 1 else 0


class DirectoryRowSchema(ClientNameSchema):
    status = fields.String()
    account_manager = fields.String(allow_none=True)
    groups = fields.List(fields.Nested(ClientGroupSchema))
    open_tickets = fields.Integer()
    open_disputes = fields.Integer()
    failed_payments = fields.Integer(
        metadata={"description": "Open invoices whose latest payment failed, not yet overdue"}
    )
    overdue = amounts_field("Open invoices past due, per currency, largest first")
    overdue_total = total_field("The overdue amounts in the reporting currency (crm.money)")
    mrr = amounts_field("Recurring revenue per month, per currency (crm.revenue)")
    mrr_total = total_field("The MRR in the reporting currency (crm.money)")
    mrr_unpriced = fields.Integer(
        metadata={"description": "Earning recurring items whose monthly amount is unknown"}
    )
    overdue_invoices = fields.Integer(
        metadata={"description": "Open invoices past due (a failed payment on one included)"}
    )
    overdue_commitments = fields.Integer()
    late_tickets = fields.Integer(
        metadata={"description": "Open past their SLA, or open the stale-ticket days (30) or more"}
    )
    critical_alerts = fields.Integer(metadata={"description": "Open alerts of priority critical"})
    recurring_alerts = fields.Integer(
        metadata={"description": "Checks that fired 3+ times on one device in the last 30 days"}
    )
    last_touch = fields.DateTime(allow_none=True)
    last_contact = fields.DateTime(
        allow_none=True,
        metadata={"description": "The last call, meeting or e-mail (campaign) from us"},
    )
    health = fields.Integer(
        metadata={"description": "Health score 0-100 from the open flags, as in the briefing"}
    )
    next_renewal = fields.DateTime(allow_none=True)
    flags = fields.List(
        fields.String(), metadata={"description": "The open flags' names, most pressing first"}
    )
    has_open_flags = fields.Boolean()
    meeting_overdue = fields.Boolean(
        metadata={"description": "No meeting within its tier's cadence (held or planned)"}
    )
    url = fields.Function(lambda row: f"/clients/{row.slug}")


DirectoryPageSchema = page_schema(DirectoryRowSchema, "DirectoryPage")
