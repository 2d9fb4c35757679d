"""A Stripe subscription's amount per month, for crm.revenue's MRR.

Each item bills its price's `unit_amount` (an older API: its plan's `amount`)
times its quantity every `interval_count` `interval`s (the price's
`recurring`, or the plan's own fields); crm.revenue.interval_months turns that
into months. Metered items bill for usage, not a recurring amount: they add
nothing. A coupon of the subscription's discounts (`discount`, or the
expanded objects of `discounts`; each discount once, by its id) that lasts
beyond one invoice takes its `percent_off`, or its `amount_off` per invoice
when every item bills at one interval. What the record does not show (a
price by id alone, a tiered price, an unknown interval) leaves the amount
unknown: it is never guessed.

A discount the record names only by id (`discounts: ["di_..."]`, as Stripe
sends it unless expanded, or a discount whose coupon is an id) has an amount
we cannot read. The subscription then has no monthly amount, and MRR counts
it as unpriced, saying so, rather than at its list price: a billing report
that adds list prices where discounts apply states revenue the provider does
not get, and nothing on the page would say which figure is too high.
`list_monthly` gives the amount before those discounts (kept beside, and
`unknown_discounts` their ids) so the timeline can show both; reading the
subscription with its discounts expanded (the live source's backfill asks
`expand[]=data.discounts`) prices it.
"""

from decimal import Decimal

from connectors.stripe_fields import Fields, exponent
from crm.money import CENT
from crm.revenue import interval_months


def monthly_amount(f: Fields, currency: str | None) -> Decimal | None:
    """The subscription's amount per month in `currency` (its major unit), or
    None, also when a discount is known only by its id."""
    if unknown_discounts(f):
        return None
    return list_monthly(f, currency)


def list_monthly(f: Fields, currency: str | None) -> Decimal | None:
    """The amount per month less the discounts the record shows (those known
    only by id are left out: see the module's docstring)."""
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


def _discounts(f: Fields) -> list[str | dict]:
    """The subscription's discounts, each once: the objects (`discount`, the
    expanded `discounts`) and the ids of those not shown as objects."""
    found = f.raw("discounts")
    listed = list(found) if isinstance(found, list) else []
    single = f.raw("discount")
    if single and isinstance(single, dict | str):
        listed.append(single)
    objects = [d for d in listed if isinstance(d, dict)]
    shown = {d.get("id") for d in objects if d.get("id")}
    seen: set[str] = set()
    discounts: list[str | dict] = []
    for discount in listed:
        key = discount.get("id") if isinstance(discount, dict) else discount
        if (isinstance(discount, str) and discount in shown) or (key and key in seen):
            continue
        if key:
            seen.add(key)
        if isinstance(discount, dict | str):
            discounts.append(discount)
    return discounts


def _coupon(discount: dict):
    coupon = discount.get("coupon")
    if coupon is None and isinstance(discount.get("source"), dict):
        coupon = discount["source"].get("coupon")
    return coupon


def _coupons(f: Fields) -> list[dict]:
    return [
        _coupon(d) for d in _discounts(f) if isinstance(d, dict) and isinstance(_coupon(d), dict)
    ]


def unknown_discounts(f: Fields) -> list[str]:
    """The ids of the discounts whose coupon the record does not show."""
    unknown = []
    for discount in _discounts(f):
        if isinstance(discount, str):
            unknown.append(discount)
        elif isinstance(_coupon(discount), str):
            unknown.append(str(discount.get("id") or _coupon(discount)))
    return unknown


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
