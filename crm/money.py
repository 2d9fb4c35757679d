"""Money across currencies: the one rule for adding amounts in different currencies.

A client may owe in BRL and USD at once; adding or comparing the bare numbers
ranks BRL 20,620 above USD 4,120 although it is worth about a quarter. Every
sum or sort across currencies (the directory's overdue column, the card's and
briefing's overdue totals, the portfolio's revenue) converts here, at rates
the admin states (TOUCHLINE_REPORTING_CURRENCY and TOUCHLINE_EXCHANGE_RATES),
and says which rates it used. An amount in a currency without a rate is never
dropped nor mixed in: it stays apart, named, and flagged as unconverted.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import case, literal

DEFAULT_REPORTING_CURRENCY = "USD"
CENT = Decimal("0.01")


class RatesError(ValueError):
    """The exchange-rate setting cannot be read; the message names the entry."""


@dataclass(frozen=True)
class Rates:
    """Reporting currency, and what one unit of each other currency is worth in it."""

    reporting: str = DEFAULT_REPORTING_CURRENCY
    per_unit: Mapping[str, Decimal] = field(default_factory=dict)

    def rate(self, currency: str | None) -> Decimal | None:
        code = (currency or "").upper()
        if code == self.reporting:
            return Decimal(1)
        return self.per_unit.get(code)

    def convert(self, amount: Decimal, currency: str | None) -> Decimal | None:
        """The amount in the reporting currency, or None when there is no rate."""
        rate = self.rate(currency)
        return None if rate is None else Decimal(amount) * rate

    def sql_converted(self, amount, currency):
        """SQL for `amount` in the reporting currency; NULL without a rate, so a
        sum over it leaves unconverted amounts out rather than mixing them in."""
        known = {self.reporting: Decimal(1), **self.per_unit}
        return case(
            *((currency == code, amount * literal(rate)) for code, rate in known.items()),
            else_=None,
        )

    def stated(self) -> str:
        """The rates used, for a page's or report's footnote."""
        if not self.per_unit:
            return f"In {self.reporting}; no exchange rates are set."
        listed = ", ".join(
            f"1 {code} = {rate} {self.reporting}" for code, rate in self.per_unit.items()
        )
        return f"In {self.reporting} at {listed}."


def parse_rates(reporting: str | None, text: str | None) -> Rates:
    """Read "EUR=1.08, GBP=1.27" (units of the reporting currency per unit)."""
    code = (reporting or DEFAULT_REPORTING_CURRENCY).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise RatesError(f"TOUCHLINE_REPORTING_CURRENCY must be a 3-letter code, not {reporting!r}")
    per_unit: dict[str, Decimal] = {}
    for entry in filter(None, (part.strip() for part in (text or "").replace(";", ",").split(","))):
        name, sep, value = entry.partition("=")
        name = name.strip().upper()
        try:
            rate = Decimal(value.strip())
        except InvalidOperation:
            rate = None
        if not sep or len(name) != 3 or not name.isalpha() or rate is None or rate <= 0:
            raise RatesError(
                f"TOUCHLINE_EXCHANGE_RATES entry {entry!r}: write CODE=rate with a positive rate"
            )
        if name != code:
            per_unit[name] = rate
    return Rates(code, per_unit)


@dataclass
class Total:
    """A sum across currencies: the converted part and what could not be converted."""

    currency: str
    amount: Decimal = Decimal(0)
    unconverted: dict[str, Decimal] = field(default_factory=dict)  # currency -> amount
    converted: int = 0  # how many amounts went into `amount`

    @property
    def complete(self) -> bool:
        return not self.unconverted

    @property
    def meaningful(self) -> bool:
        """Whether `amount` says anything: not when every amount summed lacked
        a rate (then it is a zero that is no total, and must not be shown as one)."""
        return self.complete or self.converted > 0


def total(amounts: Iterable[tuple[str | None, Decimal]], rates: Rates) -> Total:
    """Add (currency, amount) pairs into one reporting-currency figure; amounts
    in a currency without a rate are kept apart, per currency, in `unconverted`."""
    result = Total(rates.reporting)
    for currency, amount in amounts:
        if amount is None:
            continue
        converted = rates.convert(amount, currency)
        if converted is None:
            key = (currency or "").upper()
            result.unconverted[key] = result.unconverted.get(key, Decimal(0)) + Decimal(amount)
        else:
            result.amount += converted
            result.converted += 1
    # to the cent, as every amount is stored, whatever the rates' precision
    result.amount = result.amount.quantize(CENT)
    return result


def current_rates() -> Rates:
    """The running app's configured rates."""
    from flask import current_app

    return rates_from_config(current_app.config)


def rates_from_config(config: Mapping) -> Rates:
    """The rates of config keys REPORTING_CURRENCY and EXCHANGE_RATES."""
    rates = config.get("EXCHANGE_RATES")
    if isinstance(rates, Rates):
        return rates
    return parse_rates(config.get("REPORTING_CURRENCY"), rates)
