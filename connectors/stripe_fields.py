"""Reading Stripe objects: money in minor units, epoch times, field paths.

Problems name the field by its path in the record ("data.object.currency"),
so whoever reads the inbox can find it in the payload.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from connectors.base import RecordError
from crm.identities import ClientHints

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
    """Typed, field-named reads of one Stripe object (or a part of one)."""

    def __init__(self, data: dict, prefix: str):
        self.data = data
        self.prefix = prefix

    def error(self, name: str, message: str) -> RecordError:
        return RecordError(f"{self.prefix}{name}", message)

    def text(self, name: str, required: bool = False) -> str | None:
        """A string, or the id of an expanded object (`"customer": {"id": ...}`)."""
        value = self.data.get(name)
        if isinstance(value, dict):
            value = value.get("id")
        if value is None or value == "":
            if required:
                raise self.error(name, "is required")
            return None
        if not isinstance(value, str):
            raise self.error(name, f"must be a string, not {value!r}")
        return value

    def part(self, name: str) -> "Fields":
        value = self.data.get(name)
        if value is not None and not isinstance(value, dict):
            raise self.error(name, "must be an object")
        return Fields(value or {}, f"{self.prefix}{name}.")

    def currency(self) -> str:
        code = self.text("currency", required=True)
        if not CURRENCY.fullmatch(code):
            raise self.error("currency", f"{code!r} is not a three-letter ISO 4217 code")
        return code.upper()

    def _integer(self, name: str, required: bool, meaning: str) -> int | None:
        """Stripe's amounts and times are integers; a bool is not one here."""
        value = self.data.get(name)
        if value is None:
            if required:
                raise self.error(name, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"must be {meaning}, not {value!r}")
        return value

    def money(self, name: str, required: bool = True) -> Decimal | None:
        """Integer minor units as an exact Decimal in major units."""
        value = self._integer(name, required, "an integer amount in minor units")
        return None if value is None else Decimal(value).scaleb(-exponent(self.currency()))

    def time(self, name: str, required: bool = False) -> datetime | None:
        value = self._integer(name, required, "epoch seconds")
        return None if value is None else datetime.fromtimestamp(value, UTC)


def url(origin: Origin, path: str) -> str:
    return f"{DASHBOARD}{'test/' if origin.livemode is False else ''}{path}"


def money_text(amount: Decimal | None, currency: str) -> str:
    return f"{currency} {amount}" if amount is not None else currency


def attributes(origin: Origin, object_id: str, **extra) -> dict:
    attributes = {"stripe_type": origin.stripe_type, "stripe_id": object_id}
    if origin.livemode is not None:
        attributes["livemode"] = origin.livemode
    if origin.api_version:
        attributes["api_version"] = origin.api_version
    return attributes | {name: value for name, value in extra.items() if value is not None}


def hints(customer: str | None, *identities, emails=()) -> ClientHints:
    pairs = ((ORIGIN, customer),) if customer else ()
    return ClientHints(identities=pairs + identities, emails=tuple(e for e in emails if e))
