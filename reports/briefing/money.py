"""The briefing's money across currencies: the overdue invoices per aging
bucket and the period's invoiced, collected and refunded, each added into the
reporting currency by crm.money (the one rule the directory, the card and the
portfolio use), with the rates stated. The per-currency figures stay as they
are; a sum is shown beside them only where currencies would otherwise be
mixed or the reporting currency differs from the one amount's."""

from collections.abc import Iterable

from sqlalchemy.orm import Session

from crm.money import Rates, total
from crm.revenue import client_mrr
from reports.briefing.model import AgingBucket, Briefing, MoneyTotals, Revenue


def money_totals(aging: list[AgingBucket], revenue: list[Revenue], rates: Rates) -> MoneyTotals:
    aging_codes = {line.currency for bucket in aging for line in bucket.totals}
    revenue_codes = {line.currency for line in revenue}
    return MoneyTotals(
        reporting=rates.reporting,
        rates_stated=rates.stated(),
        aging=[
            total(((line.currency, line.amount) for line in bucket.totals), rates)
            for bucket in aging
        ],
        overdue=total(
            ((line.currency, line.amount) for bucket in aging for line in bucket.totals), rates
        ),
        invoiced=total(((line.currency, line.invoiced) for line in revenue), rates),
        collected=total(((line.currency, line.collected) for line in revenue), rates),
        refunded=total(((line.currency, line.refunded) for line in revenue), rates),
        aging_converted=_converts(aging_codes, rates),
        revenue_converted=_converts(revenue_codes, rates),
    )


def recurring_revenue(session: Session, client_id: int, briefing: Briefing, rates: Rates) -> None:
    """The client's MRR at the period's end and at its start (crm.revenue),
    beside the period's invoiced and collected revenue."""
    period = briefing.period
    briefing.mrr = client_mrr(session, client_id, period.end, rates)
    briefing.previous_mrr = client_mrr(session, client_id, period.start, rates)


def _converts(codes: Iterable[str], rates: Rates) -> bool:
    """More than one currency, or one that is not the reporting currency."""
    upper = {(code or "").upper() for code in codes}
    return len(upper) > 1 or bool(upper - {rates.reporting})
