"""The `quickbooks` connector (billing): QuickBooks Online API answers and webhooks.

Input: an entity as the API returns it (`{"Invoice": {...}, "time": ...}`),
a query answer (`{"QueryResponse": {"Invoice": [...]}}`), a Change Data
Capture answer (`{"CDCResponse": [{"QueryResponse": [{"Customer": [...]},
...]}]}`), each item a record `{"<Entity>": {...}}`; or a webhook body in
either of Intuit's formats: the legacy `{"eventNotifications": [...]}` (one
record per entity it names) and the CloudEvents array
(`{"specversion": "1.0", "type": "qbo.invoice.updated.v1", ...}`). A
webhook names only ids, so each is kept as a notification that needs
fetching (connectors.accounting) until a live connection fetches it.

Entities: a Customer registers its `Id` (identity system `quickbooks`) for
the client its id or `PrimaryEmailAddr` names. An Invoice tells the steps
its state shows, keyed `invoice-<Id>:<step>` (QuickBooks numbers each entity
type on its own): issued (`TxnDate`, due `DueDate`), paid in full when its
`Balance` is 0 (QuickBooks says not when: `MetaData.LastUpdatedTime` stands
in, noted `inferred`), voided (QuickBooks voids an invoice by zeroing it with
the private note "Voided"; at `MetaData.LastUpdatedTime`). A Payment is the
money collected (`payment-<Id>` at `TxnDate`), off the invoice's thread as
any payment there would close it even when partial; a CreditMemo is shown
without an amount (credit, not money paid back). Amounts are in
`CurrencyRef`; an entity without one (a company without multicurrency, in
older answers) keeps its total in the attributes, as money of an unknown
currency is not comparable. Deleted entities (CDC `"status": "Deleted"`)
and other entity types are skipped by name.
"""

from calendar import monthrange
from collections.abc import Iterator
from datetime import datetime, timedelta

from marshmallow import INCLUDE, Schema, fields

from connectors.accounting import (
    AnswerConnector,
    Reader,
    money_text,
    needs_fetch,
    parse_iso_time,
)
from connectors.base import CanonicalEvent, IdentityClaim, RecordError, Skip, as_list
from connectors.recurring_templates import Template, template_events
from connectors.registry import register
from crm.identities import ClientHints

ORIGIN = "quickbooks"
# The transactions a RecurringTransaction may hold that bill a client; a
# recurring bill, purchase or journal entry is the provider's own spending.
RECURRING_SALES = ("Invoice", "SalesReceipt")
APP = "https://app.qbo.intuit.com/app/"


class CloudEventSchema(Schema):
    """One event of a CloudEvents webhook body."""

    class Meta:
        unknown = INCLUDE

    specversion = fields.String(required=True)
    id = fields.String(required=True)
    type = fields.String(required=True)
    time = fields.String(required=True)
    entity = fields.String(required=True, data_key="intuitentityid")
    realm = fields.String(load_default=None, allow_none=True, data_key="intuitaccountid")


def _lists(data: dict) -> Iterator[tuple[str, object]]:
    """Entities of a query or CDC answer as `{"<Entity>": item}`, and the
    entities of a legacy webhook one notification each."""
    answers = [("QueryResponse", data.get("QueryResponse"))]
    for index, cdc in enumerate(_list(data.get("CDCResponse"))):
        parts = cdc.get("QueryResponse") if isinstance(cdc, dict) else None
        for part, answer in enumerate(parts if isinstance(parts, list) else []):
            answers.append((f"CDCResponse[{index}][{part}]", answer))
    for path, answer in answers:
        if not isinstance(answer, dict):
            continue
        for name, items in answer.items():
            if isinstance(items, list):
                for index, item in enumerate(items):
                    yield f"{path}.{name}[{index}]", {name: item}
    for index, notice in enumerate(_list(data.get("eventNotifications"))):
        if not isinstance(notice, dict):
            yield f"eventNotifications[{index}]", notice
            continue
        change = notice.get("dataChangeEvent")
        entities = _list(change.get("entities")) if isinstance(change, dict) else []
        for number, entity in enumerate(entities):
            one = {"dataChangeEvent": {"entities": [entity]}}
            yield f"eventNotifications[{index}].entities[{number}]", notice | one


def _list(value) -> list:
    return value if isinstance(value, list) else []


def entity_of(data: dict) -> tuple[str, object] | None:
    """The entity a record holds, and its type name."""
    for name, value in data.items():
        if name[:1].isupper() and name not in ("QueryResponse", "CDCResponse"):
            return name, value
    return None


@register
class QuickBooksConnector(AnswerConnector):
    name = "quickbooks"
    natural_key = ("Id",)
    schema = CloudEventSchema

    lists = staticmethod(_lists)

    def schema_applies(self, data: dict) -> bool:
        """The schema is the CloudEvent's; entities are read in `convert`."""
        return "specversion" in data

    def key_of(self, data: dict) -> str:
        """The entity's type, id and version (`SyncToken`), so a later
        version of a record waiting unmatched is not taken for it."""
        found = entity_of(data)
        if found is not None and isinstance(found[1], dict):
            name, entity = found
            inner = entity_of(entity) if name == "RecurringTransaction" else None
            if inner is not None and isinstance(inner[1], dict):  # {"Invoice": {...}}
                name, entity = f"{name}.{inner[0]}", inner[1]
            return f"{name}:{entity.get('Id', '')}:{entity.get('SyncToken', '')}"[:200]
        if "dataChangeEvent" in data:
            entities = (data["dataChangeEvent"] or {}).get("entities") or [{}]
            entity = entities[0] if isinstance(entities[0], dict) else {}
            return f"{entity.get('name')}:{entity.get('id')}@{entity.get('lastUpdated')}"[:200]
        return str(data.get("id", ""))[:200]

    def convert(self, data: dict) -> list:
        if "specversion" in data:
            raise needs_fetch(
                f"quickbooks {data['type']} {data['entity']} (realm {data['realm']}, "
                f"at {data['time']}, event {data['id']})"
            )
        if "dataChangeEvent" in data:
            return _legacy_notification(Reader(data, parse_iso_time))
        found = entity_of(data)
        if found is None and {"QueryResponse", "CDCResponse", "eventNotifications"} & data.keys():
            raise Skip("the answer holds no entities")
        if found is None:
            raise RecordError(
                None, 'not a QuickBooks entity ({"Invoice": {...}}) nor a webhook event'
            )
        name, entity = found
        if not isinstance(entity, dict):
            raise RecordError(name, "must be an object")
        f = Reader(entity, parse_iso_time, f"{name}.")
        if name not in ENTITIES:
            raise Skip(f"quickbooks {name} is not mapped; mapped: {', '.join(ENTITIES)}")
        if (f.text("status") or "").lower() == "deleted":
            raise Skip(f"quickbooks {name} {f.text('Id')} was deleted")
        return as_list(ENTITIES[name](f))


def _legacy_notification(f: Reader):
    entities = list(f.items("dataChangeEvent.entities"))
    if not entities:
        raise Skip("the notification names no entity")
    entity = entities[0][1]
    raise needs_fetch(
        f"quickbooks {entity.text('name', required=True)} {entity.text('id', required=True)} "
        f"({entity.text('operation')} at {entity.text('lastUpdated')}, "
        f"realm {f.text('realmId')})"
    )


def customer(f: Reader) -> IdentityClaim:
    customer_id = f.text("Id", required=True)
    email = f.part("PrimaryEmailAddr").text("Address")
    return IdentityClaim(
        hints=ClientHints(identities=((ORIGIN, customer_id),), emails=(email,) if email else ()),
        aliases=((ORIGIN, customer_id),),
    )


def _hints(f: Reader) -> ClientHints:
    email = f.part("BillEmail").text("Address")
    customer_id = f.part("CustomerRef").text("value", required=True)
    return ClientHints(identities=((ORIGIN, customer_id),), emails=(email,) if email else ())


def _money(f: Reader, attributes: dict) -> dict:
    """`amount` and `currency` of the total, or, without a currency, the
    total kept in the attributes."""
    total = f.money("TotalAmt", required=True)
    currency = f.part("CurrencyRef").currency("value")
    if currency is None:
        attributes["total"] = str(total)
        return {}
    return {"amount": total, "currency": currency}


def _event(kind, external_id, at, f: Reader, title, attributes, **fields) -> CanonicalEvent:
    return CanonicalEvent(
        origin=ORIGIN,
        external_id=external_id,
        kind=kind,
        occurred_at=at,
        hints=_hints(f),
        title=title[:500],
        attributes={name: value for name, value in attributes.items() if value is not None},
        **fields,
    )


def invoice(f: Reader) -> list[CanonicalEvent]:
    invoice_id = f.text("Id", required=True)
    number = f.text("DocNumber") or invoice_id
    balance = f.money("Balance", required=True)
    attributes = {
        "quickbooks_id": invoice_id,
        "number": number,
        "balance": str(balance),
        "email_status": f.text("EmailStatus"),
    }
    money = _money(f, attributes)
    total = money.get("amount", f.money("TotalAmt"))
    key = f"invoice-{invoice_id}"
    shared = {"thread_key": key, "url": f"{APP}invoice?txnId={invoice_id}"}
    shown = money_text(total, money.get("currency"))
    events = [
        _event(
            "invoice.issued",
            f"{key}:issued",
            f.time("TxnDate", required=True),
            f,
            f"Invoice {number} issued: {shown}",
            attributes,
            due_at=f.time("DueDate"),
            **money,
            **shared,
        )
    ]
    updated = f.time("MetaData.LastUpdatedTime")
    voided = total == 0 and "voided" in (f.text("PrivateNote") or "").lower()
    if voided or (balance == 0 and total > 0):
        if updated is None:
            raise f.error("MetaData.LastUpdatedTime", "is required on a paid or voided invoice")
        step, kind, word = ("void", "invoice.voided", "voided") if voided else (
            "paid", "payment.received", "paid in full"
        )  # fmt: skip
        inferred = {} if voided else {"inferred": {"paid_at": "MetaData.LastUpdatedTime"}}
        events.append(
            _event(
                kind,
                f"{key}:{step}",
                max(updated, events[0].occurred_at),
                f,
                f"Invoice {number} {word}",
                attributes | inferred,
                **shared,
            )
        )
    return events


def payment(f: Reader) -> CanonicalEvent:
    payment_id = f.text("Id", required=True)
    invoices = [
        linked.text("TxnId", required=True)
        for _, line in f.items("Line")
        for _, linked in line.items("LinkedTxn")
        if linked.text("TxnType") == "Invoice"
    ]
    attributes = {
        "quickbooks_id": payment_id,
        "invoices": invoices or None,
        "unapplied": str(f.money("UnappliedAmt")) if f.raw("UnappliedAmt") is not None else None,
        "reference": f.text("PaymentRefNum"),
    }
    money = _money(f, attributes)
    shown = money_text(money.get("amount", f.money("TotalAmt")), money.get("currency"))
    paid_for = f" for invoice {', '.join(invoices)}" if invoices else ""
    return _event(
        "payment.received",
        f"payment-{payment_id}",
        f.time("TxnDate", required=True),
        f,
        f"Payment received{paid_for}: {shown}",
        attributes,
        url=f"{APP}recvpayment?txnId={payment_id}",
        **money,
    )


def credit_memo(f: Reader) -> CanonicalEvent:
    memo_id = f.text("Id", required=True)
    number = f.text("DocNumber") or memo_id
    total = f.money("TotalAmt", required=True)
    currency = f.part("CurrencyRef").currency("value")
    attributes = {
        "quickbooks_id": memo_id,
        "number": number,
        "total": str(total),
        "credit_currency": currency,
        "remaining_credit": str(f.money("RemainingCredit"))
        if f.raw("RemainingCredit") is not None
        else None,
    }
    return _event(
        "refund.issued",
        f"creditmemo-{memo_id}",
        f.time("TxnDate", required=True),
        f,
        f"Credit memo {number}: {money_text(total, currency)}",
        attributes,
        url=f"{APP}creditmemo?txnId={memo_id}",
    )


def recurring(f: Reader) -> list[CanonicalEvent]:
    """A RecurringTransaction: the template (`{"Invoice": {...}}`) under its
    transaction's type, its schedule in `RecurringInfo`
    (connectors.recurring_templates says how it counts). Its amount is the
    template's `TotalAmt` less `TxnTaxDetail.TotalTax`; it starts at
    `ScheduleInfo.StartDate` (else `MetaData.CreateTime`), each later
    `SyncToken` a version at `MetaData.LastUpdatedTime`; it ends at
    `ScheduleInfo.EndDate`, else on its `MaxOccurrences`th invoice. A deleted one (a
    CDC answer's `"status": "Deleted"`) ends when it was deleted, if it still
    names its customer."""
    found = entity_of(f.data)
    if found is None or not isinstance(found[1], dict):
        raise RecordError(f.prefix.rstrip("."), 'must hold its transaction ({"Invoice": {...}})')
    name, _ = found
    t = f.part(name)
    template_id = t.text("Id", required=True)
    if name not in RECURRING_SALES:
        raise Skip(f"quickbooks recurring {name} {template_id} is not a sale to a client")
    deleted = (t.text("status") or "").lower() == "deleted"
    if deleted and t.part("CustomerRef").text("value") is None:
        raise Skip(f"quickbooks recurring {name} {template_id} was deleted (names no customer)")
    info = t.part("RecurringInfo")
    schedule = info.part("ScheduleInfo")
    if (info.text("RecurType") or "").lower() == "unscheduled" or not schedule.data:
        raise Skip(f"quickbooks recurring {name} {template_id} is unscheduled: raised on request")
    every = schedule.raw("NumInterval")  # not a whole number: no monthly amount
    tax = t.part("TxnTaxDetail").money("TotalTax") or 0
    total = t.money("TotalAmt", required=True)
    version = t.text("SyncToken")
    started = schedule.time("StartDate") or t.time("MetaData.CreateTime", required=True)
    title = info.text("Name") or t.text("DocNumber") or template_id
    return template_events(
        Template(
            origin=ORIGIN,
            key=f"recurring-{template_id}",
            name=title,
            hints=_hints(t),
            started=started,
            amount=total - tax,
            currency=t.part("CurrencyRef").currency("value"),
            interval=schedule.text("IntervalType"),
            every=1 if every is None else every,
            status="inactive" if info.raw("Active") is False else "active",
            url=f"{APP}recurring",
            until=schedule.time("EndDate") or _last(schedule, started, every),
            version=version if version not in (None, "0") else None,
            changed=t.time("MetaData.LastUpdatedTime"),
            deleted=t.time("MetaData.LastUpdatedTime", required=True) if deleted else None,
            extra={
                "quickbooks_id": template_id,
                "template_type": name,
                "recur_type": info.text("RecurType"),
                "next_date": schedule.text("NextDate"),
                "max_occurrences": schedule.raw("MaxOccurrences"),
            },
        )
    )


def _last(schedule: Reader, start: datetime, every) -> datetime | None:
    """The day of the `MaxOccurrences`th invoice from `start`, for a schedule
    that ends after so many rather than on a date (None: it does not, or its
    interval or count is not one we can step)."""
    count, unit = schedule.raw("MaxOccurrences"), (schedule.text("IntervalType") or "").lower()
    whole = [v for v in (count, every) if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    if len(whole) < 2:
        return None
    steps = (count - 1) * every
    if unit in ("daily", "weekly"):
        return start + timedelta(days=steps * (7 if unit == "weekly" else 1))
    months = steps * {"monthly": 1, "yearly": 12}.get(unit, 0)
    if not months:
        return None
    year, month = divmod(start.month - 1 + months, 12)
    day = min(start.day, monthrange(start.year + year, month + 1)[1])
    return start.replace(year=start.year + year, month=month + 1, day=day)


# The entities read, each with what it becomes (`convert`).
ENTITIES = {
    "Customer": customer,
    "Invoice": invoice,
    "Payment": payment,
    "CreditMemo": credit_memo,
    "RecurringTransaction": recurring,
}
