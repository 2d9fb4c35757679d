"""The steps of a Stripe object's life that its state shows, as events.

A Stripe object says how it stands and, mostly, when it got there: a paid
invoice when it was finalized and when it was paid, a closed dispute when it
was opened, a canceled subscription when it started. Whatever record we read
it from (an event about one step, an export of the object as it stands, the
snapshot a later event carries), every step its state shows becomes an
event keyed "<object key>:<step>" ("in_1:paid"), at the object's own time
for that step. So one step seen through a webhook, an export and a later
event is one event on the timeline, and a thread opens and closes at the
object's own times even when the first record of it we see is a later one.

  invoice          issued (status_transitions.finalized_at, else created)
                   -> paid (paid_at) or void (voided_at); a draft has no step yet
  charge           succeeded or failed (created) -> refunded (its latest
                   refund's created), keyed by the amount refunded so far,
                   so each partial refund is a step of its own
  dispute          opened (created) -> closed (once its status is final; a won
                   one when the balance transaction returned the money)
  subscription     created (start_date) -> cancelled (ended_at, else canceled_at)
  refund           succeeded (created)
  invoice_payment  paid (status_transitions.paid_at), keyed by its invoice when
                   it is the invoice's own payment, as the invoice's paid step is

An event tells of one step (invoice.paid: paid), and its time stands in for
the step's when the object gives none; it keeps the event id in
attributes["stripe_event"]. The other steps its snapshot shows are implied
by it (attributes["implied_by"], see connectors.lifecycle), those with a
time of their own only. An event that is no step (a failed payment attempt,
a subscription's change) is a fact of its own, keyed by the event id. An
export (a bare object) tells every step its state shows; a step without a
time of its own takes the previous step's, else the object's creation.
Times that stand in for another are noted in attributes["inferred"].
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors import stripe_objects as so
from connectors.base import CanonicalEvent, RecordError, Skip
from connectors.lifecycle import IMPLIED_BY
from connectors.stripe_fields import Fields, Origin
from connectors.stripe_versions import dispute_view

LATEST = "latest"  # an event that tells of the last step its object has taken


@dataclass(frozen=True, slots=True)
class Report:
    """What an event says about its object: the step it tells of (or
    LATEST), or the kind of the fact it is; with neither, it only carries a
    snapshot, whose steps it implies."""

    event_id: str
    at: datetime
    step: str | None = None
    fact: str | None = None
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Life:
    """How one kind of object goes through its steps."""

    build: Callable[..., CanonicalEvent]  # a connectors.stripe_objects builder
    kinds: dict[str, str]  # step -> the event kind it is, in the order of a life
    times: dict[str, str | Callable[[Fields], datetime | None]]  # step -> its time
    taken: Callable[[Fields], list[str]]  # the steps the object's state shows
    waiting: Callable[[Fields, str], str]  # why an object shows no step yet
    before: dict[str, str] = field(default_factory=dict)  # step -> the one it follows
    key: Callable[[Fields], str] = lambda f: f.text("id", required=True)
    step_key: Callable[[Fields, str, str], str] = lambda f, key, step: f"{key}:{step}"


def events(kind: str, f: Fields, origin: Origin, report: Report | None = None):
    """The events a record of a `kind` object means: every step its state
    shows and, from an event, the step or fact it tells of."""
    life = LIVES[kind]
    f = dispute_view(f) if kind == "dispute" else f.of(kind)
    key = life.key(f)
    steps = life.taken(f)
    own = report.step if report else None
    if own == LATEST:
        own = steps[-1] if steps else None
    if own is not None:
        steps = _with_steps_before(life, steps, own)
    if report is None and not steps:
        raise Skip(life.waiting(f, key))
    previous = None
    if report is None:  # an export: a step without a time of its own was taken at creation
        created = f.time("created", required=True)
        previous = (created, f.inferred.get("created", f.path("created")))
    told: list[CanonicalEvent] = []
    for step in steps:
        when = _when(life, f, step, previous, report, told=step == own)
        if when is None:
            continue  # implied by an event, but when is unknown: not shown
        previous = when
        event = life.build(life.kinds[step], f, origin, life.step_key(f, key, step), when[0])
        if report is not None:
            mark = "stripe_event" if step == own else IMPLIED_BY
            event.attributes[mark] = report.event_id
        told.append(event)
    if report is not None and report.fact is not None:
        told.append(
            life.build(report.fact, f, origin, report.event_id, report.at, changed=report.changed)
        )
    if not told:
        raise Skip(life.waiting(f, key))
    return told


def _with_steps_before(life: Life, steps: list[str], own: str) -> list[str]:
    """The steps taken, with the one an event tells of and those it follows."""
    wanted, step = set(steps), own
    while step is not None:
        wanted.add(step)
        step = life.before.get(step)
    return [step for step in life.kinds if step in wanted]


def _when(life: Life, f: Fields, step: str, previous, report: Report | None, told: bool):
    """When a step was taken, and the path in the record that says so: its
    own time; else, for the step an event tells of, the event's; else, in
    an export, the previous step's (at first, the object's creation). A
    stand-in is never earlier than the step before it (Stripe's own test
    events are older than their objects), and is noted as inferred. None:
    an event implies the step, but not when it was taken."""
    when = life.times[step]
    name = when if isinstance(when, str) else f"{step}_at"
    at = f.time(when) if isinstance(when, str) else when(f)
    if at is not None:
        return at, f.inferred.get(name, f.path(name))
    if report is None:
        stand_in = previous
    elif not told:
        return None
    elif previous is not None and previous[0] > report.at:
        stand_in = previous
    else:
        stand_in = (report.at, "created")
    f.infer(name, *stand_in)
    return stand_in


def _times_in(f: Fields, list_path: str) -> list[datetime]:
    """When each object a list of the record holds was created (a charge's
    refunds, a dispute's balance transactions), earliest first; before
    2014 such a list was a plain array, since a list object."""
    items = f.raw(f"{list_path}.data")
    if items is None:
        items = f.raw(list_path)
    if not isinstance(items, list):
        return []
    times = [item.get("created") for item in items if isinstance(item, dict)]
    return sorted(
        datetime.fromtimestamp(t, UTC)
        for t in times
        if isinstance(t, int) and not isinstance(t, bool)
    )


# --- invoices ---------------------------------------------------------------


def _invoice_steps(f: Fields) -> list[str]:
    status = f.text("status")
    if status in (None, "draft"):
        return []
    return ["issued", *({"paid": ["paid"], "void": ["void"]}.get(status, []))]


def _invoice_waiting(f: Fields, key: str) -> str:
    status = f.text("status")
    state = "a draft" if status == "draft" else (status or "without status")
    return f"stripe invoice {key} is {state}: not issued yet"


def _payment_key(f: Fields) -> str:
    """The invoice's own payment is the invoice's paid step; another
    payment of it (a partial one, out of band) a fact of its own."""
    if f.raw("is_default") is False:
        return f.text("id", required=True)
    return f.text("invoice", required=True)


# --- charges ----------------------------------------------------------------


def _amount_refunded(f: Fields) -> int | None:
    return f.integer("amount_refunded", meaning="an integer amount in minor units")


def _charge_steps(f: Fields) -> list[str]:
    status = f.text("status")
    steps = [status] if status in ("succeeded", "failed") else []
    return steps + (["refunded"] if (_amount_refunded(f) or 0) > 0 else [])


def _charge_step_key(f: Fields, key: str, step: str) -> str:
    if step != "refunded":
        return f"{key}:{step}"
    refunded = f.integer("amount_refunded", True, "an integer amount in minor units")
    return f"{key}:refunded:{refunded}"


def _refunded_at(f: Fields) -> datetime | None:
    """A charge has no refund time; its refunds list (when given) does."""
    times = _times_in(f, "refunds")
    return f.infer("refunded_at", times[-1], f.path("refunds")) if times else None


def _charge_waiting(f: Fields, key: str) -> str:
    return f"stripe charge {key} is {f.text('status') or 'without status'}: nothing happened yet"


# --- the others -------------------------------------------------------------


def _dispute_closed_at(f: Fields) -> datetime | None:
    """A dispute has no closing time; a won one lists the balance
    transaction that gave the money back, after the one that took it."""
    times = _times_in(f, "balance_transactions")
    if len(times) < 2:
        return None
    return f.infer("closed_at", times[-1], f.path("balance_transactions"))


def _status_is(status: str) -> Callable[[Fields], list[str]]:
    """An object whose one step is reaching this status (a refund succeeding)."""
    return lambda f: [status] if f.text("status") == status else []


def _not_yet(name: str, status: str) -> Callable[[Fields, str], str]:
    return lambda f, key: (
        f"stripe {name} {key} is {f.text('status') or 'without status'}, not {status}"
    )


LIVES = {
    "invoice": Life(
        so.invoice,
        kinds={"issued": "invoice.issued", "paid": "payment.received", "void": "invoice.voided"},
        times={
            "issued": "status_transitions.finalized_at",
            "paid": "status_transitions.paid_at",
            "void": "status_transitions.voided_at",
        },
        taken=_invoice_steps,
        waiting=_invoice_waiting,
        before={"paid": "issued", "void": "issued"},
    ),
    "charge": Life(
        so.charge,
        kinds={
            "succeeded": "payment.received",
            "failed": "payment.failed",
            "refunded": "refund.issued",
        },
        times={"succeeded": "created", "failed": "created", "refunded": _refunded_at},
        taken=_charge_steps,
        waiting=_charge_waiting,
        before={"refunded": "succeeded"},
        step_key=_charge_step_key,
    ),
    "dispute": Life(
        so.dispute,
        kinds={"opened": "dispute.opened", "closed": "dispute.closed"},
        times={"opened": "created", "closed": _dispute_closed_at},
        taken=lambda f: ["opened", "closed"] if so.dispute_closed(f) else ["opened"],
        waiting=lambda f, key: f"stripe dispute {key} shows nothing yet",
        before={"closed": "opened"},
    ),
    "subscription": Life(
        so.subscription,
        kinds={"created": "subscription.created", "cancelled": "subscription.cancelled"},
        times={"created": "start_date", "cancelled": "ended_at"},
        taken=lambda f: ["created"] + (["cancelled"] if f.text("status") == "canceled" else []),
        waiting=lambda f, key: f"stripe subscription {key} shows nothing yet",
        before={"cancelled": "created"},
    ),
    "refund": Life(
        so.refund,
        kinds={"succeeded": "refund.issued"},
        times={"succeeded": "created"},
        taken=_status_is("succeeded"),
        waiting=_not_yet("refund", "succeeded"),
    ),
    "invoice_payment": Life(
        so.invoice_payment,
        kinds={"paid": "payment.received"},
        times={"paid": "status_transitions.paid_at"},
        taken=_status_is("paid"),
        waiting=_not_yet("invoice payment", "paid"),
        key=_payment_key,
    ),
}


def natural_key(data: dict) -> str:
    """A bare object's key and state, for the inbox ("in_1:open"); best effort."""
    kind = data.get("object")
    f = Fields(data, "", kind if kind in LIVES else None)
    try:
        if kind in LIVES:
            key = LIVES[kind].key(dispute_view(f) if kind == "dispute" else f)
        else:
            key = None
        status = f.text("status")
    except RecordError:  # a key for the inbox: whatever the record is, it gets one
        key, status = None, data.get("status")
    return f"{key or data.get('id', '')}:{status or ''}"
