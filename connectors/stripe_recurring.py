"""A Stripe subscription's amount per month, for crm.revenue's MRR.

Each item bills its price's `unit_amount` (an older API: its plan's `amount`)
times its quantity every `interval_count` `interval`s (the price's
`recurring`, or the plan's own fields); crm.revenue.interval_months turns that
into months. Metered items bill for usage, not a recurring amount: they add
nothing. A coupon of the subscription's discount (`discount`, or the expanded
objects of `discounts`) that lasts beyond one invoice takes its `percent_off`,
or its `amount_off` per invoice when every item bills at one interval. What
the record does not show (a price by id alone, a tiered price, an unknown
interval, a discount by id alone with no amount to read) leaves the amount
unknown, or (a discount by id) unread: it is never guessed.
"""

from decimal import Decimal

from connectors.stripe_fields import Fields, exponent
from crm.money import CENT
from crm.revenue import interval_months


def monthly_amount(f: Fields, currency: str | None) -> Decimal | None:
    """The subscription's amount per month in `currency` (its major unit), or None."""
    if not currency:
        return None
    items = f.raw("items.data")
    if isinstance(items, list) and items:
        lines = [
            (item.get("price") or item.get("plan"), item.get("quantity", 1))
            for item in items
            if isinstance(item, dict)
        ]
    elif isinstance(f.raw("plan"), dict):
        lines = [(f.raw("plan"), f.data.get("quantity", 1))]
    else:
        return None
    minor = Decimal(0)
    spans = set()
    for price, quantity in lines:
        if not isinstance(price, dict):
            return None
        recurring = price.get("recurring") if isinstance(price.get("recurring"), dict) else price
        if recurring.get("usage_type") == "metered":
            continue
        unit = price.get("unit_amount", price.get("amount"))
        months = interval_months(recurring.get("interval"), recurring.get("interval_count", 1))
        if months is None or not all(_whole(v) for v in (unit, quantity)):
            return None
        spans.add(months)
        minor += Decimal(unit * quantity) / months
    span = next(iter(spans)) if len(spans) == 1 else None  # months per invoice
    for coupon in _coupons(f):
        if coupon.get("duration") == "once":
            continue
        if _number(coupon.get("percent_off")):
            minor *= 1 - Decimal(str(coupon["percent_off"])) / 100
        elif _whole(coupon.get("amount_off")):
            same = (coupon.get("currency") or currency).upper() == currency.upper()
            if span is None or not same:
                return None
            minor -= Decimal(coupon["amount_off"]) / span
    minor = max(minor, Decimal(0))
    return minor.scaleb(-exponent(currency.upper())).quantize(CENT)


def _coupons(f: Fields) -> list[dict]:
    found = f.raw("discounts")
    discounts = [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []
    if isinstance(f.raw("discount"), dict):
        discounts.append(f.raw("discount"))
    coupons = []
    for discount in discounts:
        coupon = discount.get("coupon")
        if not isinstance(coupon, dict) and isinstance(discount.get("source"), dict):
            coupon = discount["source"].get("coupon")
        if isinstance(coupon, dict):
            coupons.append(coupon)
    return coupons


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
