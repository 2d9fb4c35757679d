"""Reading Stripe objects: money in minor units, epoch times, field paths.

Problems name the field by its path in the record ("data.object.currency"),
so whoever reads the inbox can find it in the payload. What older API
versions call a field is known to connectors.stripe_versions, which every
read here asks when the record lacks the field.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from connectors.base import RecordError
from connectors.stripe_versions import present, stand_ins
from crm.identities import ClientHints, link_system

# Stripe amounts are integers in the currency's minor unit. Per Stripe's
# "Supported currencies" page, these zero-decimal currencies have no minor
# unit (an amount of 500 JPY is 500)...
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
# ...these three-decimal ones have three (5124 KWD minor units are 5.124 KWD);
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# every other currency has two (ISK and HUF too: Stripe keeps them two-decimal
# in the API for backwards compatibility).
DEFAULT_EXPONENT = 2

ORIGIN = "stripe"
DASHBOARD = "https://dashboard.stripe.com/"
CURRENCY = re.compile(r"[A-Za-z]{3}")


def exponent(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return DEFAULT_EXPONENT


@dataclass(frozen=True, slots=True)
class Origin:
    """What the record says about itself, shared by the events it gives."""

    stripe_type: str  # the event type, or "<object> object" for a bare object
    livemode: bool | None
    api_version: str | None


class Fields:
    """Typed, field-named reads of one Stripe object (or a part of one).

    Names may be dotted paths ("status_transitions.paid_at"). `kind` says
    which object this is ("invoice", ...): a field the record lacks is read
    from what stands in for it in that object's older API versions
    (connectors.stripe_versions), and where it came from is noted in
    `inferred`, which every part of one record shares.
    """

    __slots__ = ("data", "inferred", "kind", "parent", "prefix")

    def __init__(self, data: dict, prefix: str, kind=None, parent=None, inferred=None):
        self.data = data
        self.prefix = prefix
        self.kind = kind
        self.parent = parent
        self.inferred: dict[str, str] = {} if inferred is None else inferred

    def of(self, kind: str) -> "Fields":
        """The same object, read as a `kind`."""
        return Fields(self.data, self.prefix, kind, self.parent, self.inferred)

    def child(self, data: dict, name: str, kind: str | None = None) -> "Fields":
        """An object inside this one, at `name`."""
        return Fields(data, f"{self.prefix}{name}.", kind, self, self.inferred)

    def path(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def error(self, name: str, message: str) -> RecordError:
        return RecordError(self.path(name), message)

    def raw(self, name: str):
        """The value at this path as the record has it, or None."""
        if "." not in name:
            return self.data.get(name)
        value = self.data
        for step in name.split("."):
            if isinstance(value, dict):
                value = value.get(step)
            elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
                value = value[int(step)]
            else:
                return None
        return value

    def get(self, name: str):
        """The value at this path, or what stands in for it (noted as inferred)."""
        value = self.raw(name)
        if present(value):
            return value
        for source in stand_ins(self.kind, name):
            found = source(self)
            if found is not None:
                value, path = found
                self.inferred.setdefault(name, path)
                return value
        return value

    def infer(self, name: str, value, path: str):
        """`value`, standing in for `name` as read from `path` (noted)."""
        if value is not None:
            self.inferred.setdefault(name, path)
        return value

    def text(self, name: str, required: bool = False) -> str | None:
        """A string, or the id of an expanded object (`"customer": {"id": ...}`)."""
        value = self.get(name)
        if isinstance(value, dict):
            value = value.get("id")
        if not present(value):
            if required:
                raise self.error(name, "is required")
            return None
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, not {value!r}")
        return value

    def part(self, name: str) -> "Fields":
        value = self.get(name)
        if present(value) and not isinstance(value, dict):
            raise self.error(name, "must be an object")
        return self.child(value or {}, name)

    def currency(self) -> str:
        code = self.text("currency", required=True)
        if not CURRENCY.fullmatch(code):
            raise self.error("currency", f"{code!r} is not a three-letter ISO 4217 code")
        return code.upper()

    def integer(self, name: str, required: bool = False, meaning: str = "an integer") -> int | None:
        """Stripe's amounts and times are integers; a bool is not one here."""
        value = self.get(name)
        if not present(value):
            if required:
                raise self.error(name, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be {meaning}, not {value!r}")
        return value

    def money(self, name: str, required: bool = True) -> Decimal | None:
        """Integer minor units as an exact Decimal in major units."""
        value = self.integer(name, required, "an integer amount in minor units")
        return None if value is None else Decimal(value).scaleb(-exponent(self.currency()))

    def time(self, name: str, required: bool = False) -> datetime | None:
        value = self.integer(name, required, "epoch seconds")
        return None if value is None else datetime.fromtimestamp(value, UTC)


def url(origin: Origin, path: str) -> str:
    return f"{DASHBOARD}{'test/' if origin.livemode is False else ''}{path}"


def money_text(amount: Decimal | None, currency: str) -> str:
    return f"{currency} {amount}" if amount is not None else currency


def attributes(origin: Origin, f: Fields, object_id: str, **extra) -> dict:
    """The attributes every Stripe event has, with what was inferred reading
    its record; call it once everything the event shows has been read."""
    attributes = {"stripe_type": origin.stripe_type, "stripe_id": object_id}
    if origin.livemode is not None:
        attributes["livemode"] = origin.livemode
    if origin.api_version:
        attributes["api_version"] = origin.api_version
    if f.inferred:
        attributes["inferred"] = dict(f.inferred)
    return attributes | {name: value for name, value in extra.items() if value is not None}


# Ids a record may name besides its customer, as the identity systems they
# are taught under: a dispute names only its charge, a refund its charge, an
# invoice payment its invoice; whichever record ties one to its client
# teaches it (CanonicalEvent.aliases), so the others find their client.
SECONDARY = {
    "charge": link_system("stripe_charge"),
    "invoice": link_system("stripe_invoice"),
    "payment_intent": link_system("stripe_payment_intent"),
}


def secondary(**ids: str | None) -> tuple[tuple[str, str], ...]:
    """`secondary(charge="ch_1")` -> (("stripe_charge", "ch_1"),), without empty ones."""
    return tuple((SECONDARY[name], key) for name, key in ids.items() if key)


def hints(customer: str | None, others: tuple = (), emails=()) -> ClientHints:
    """The customer first (it decides), then the secondary ids, then emails."""
    pairs = ((ORIGIN, customer),) if customer else ()
    return ClientHints(identities=pairs + tuple(others), emails=tuple(e for e in emails if e))
