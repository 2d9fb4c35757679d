"""The portfolio's recurring revenue: each active client's MRR (crm.revenue)
as columns of the client table, and the portfolio's, per currency and in the
reporting currency. As of the report's `now`, like its open flags: MRR is a
standing figure, beside the period's collected revenue.

Columns: `mrr_total` (the reporting currency, empty without any MRR),
`mrr_unconverted` (what had no rate, "BRL 300.00"), and `mrr_<CUR>` per
currency, as the revenue columns are.
"""

from datetime import datetime
from decimal import Decimal

import pandas as pd
from sqlalchemy.orm import Session

from crm.formatting import money
from crm.money import Rates, Total
from crm.revenue import Mrr, monthly_recurring, portfolio_mrr


def attach_mrr(
    session: Session, table: pd.DataFrame, now: datetime, rates: Rates
) -> tuple[dict[str, Decimal], Total | None]:
    """Add the MRR columns to `table` (one row per active client, `client_id`);
    give the portfolio's MRR per currency and converted (None without any)."""
    ids = set(table["client_id"].tolist())
    # every client's, then the table's: 10,000 ids cost more to send than to skip
    per_client = {
        client_id: mrr
        for client_id, mrr in monthly_recurring(session, None, now, rates).items()
        if client_id in ids
    }
    codes = sorted({code for mrr in per_client.values() for code in mrr.by_currency})

    def column(read) -> list:
        return [
            read(per_client[client_id]) if client_id in per_client else None
            for client_id in table["client_id"].tolist()
        ]

    table["mrr_total"] = column(_converted)
    table["mrr_unconverted"] = [value or "" for value in column(_left_out)]
    for code in codes:
        table[f"mrr_{code}"] = column(lambda mrr, code=code: mrr.by_currency.get(code))
    by_currency, converted = portfolio_mrr(per_client, rates)
    return by_currency, converted if by_currency else None


def _converted(mrr: Mrr) -> Decimal | None:
    return mrr.total.amount if mrr.by_currency and mrr.total.meaningful else None


def _left_out(mrr: Mrr) -> str:
    return ", ".join(money(amount, code) for code, amount in mrr.total.unconverted.items())
