"""Data without money: what the analyses count and show when the transactions have no amounts.

A purchase log of customers and dates only (e.g. a grocery log of ``cust,date``) is stored with
amount 0 on every line and the dataset setting ``has_amounts`` = false
(:func:`clm_core.store.has_amounts`). Every count works on it: orders, recency, stages,
retention, churn risk, P(alive). A figure in money would be a false zero, so every view of money
says that the data has no amounts (:data:`NO_AMOUNTS`) and leaves the figure out: the columns
of :data:`MONEY_COLUMNS` are dropped from tables shown and left empty in files written.

A *purchase* is a line with an amount above 0 in the analyses that leave zero-amount lines out
(the Overview's KPIs, campaign attribution, a customer's P(alive) history). In a log without
amounts every line is a purchase: :data:`PURCHASE_SQL` says so in SQL with the bound parameter
``$amounts``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "MONEY_COLUMNS",
    "NO_AMOUNTS",
    "PURCHASE_SQL",
    "blank_money",
    "drop_money",
    "purchase_sql",
]

# The sentence every page shows on data without amounts (a message id: translated by the UI).
NO_AMOUNTS = (
    "This dataset has no amounts (only customers and purchase dates), so nothing is shown in "
    "money: counts, stages, retention and churn risk are."
)

# Columns that hold money, or a rank or share of money, in the frames of clm_core (customer
# summary, segment profiles, churn watchlist, cohort tables, stage details, a customer's
# timeline). A tier ranks money; an M score too; returns are the lines with a negative amount.
MONEY_COLUMNS = frozenset(
    {
        "monetary_value", "revenue", "avg_order_value", "revenue_share", "aov", "monetary",
        "mean_revenue", "m_score", "tier", "clv", "value_at_risk", "value_basis",
        "revenue_retention", "cumulative_revenue_per_customer", "recent_spend",
        "previous_spend", "amount", "returns",
    }
)  # fmt: skip


def purchase_sql(column: str = "amount") -> str:
    """SQL that is true for a purchase line: amount above 0, or any amount (0) in a log without
    amounts. Binds ``$amounts`` (:func:`clm_core.store.has_amounts`). ``column`` is a fixed
    column reference of the caller's query (e.g. ``t.amount``), never user input."""
    return f"({column} > 0 or ({column} = 0 and not $amounts))"


PURCHASE_SQL = purchase_sql()


def drop_money(df: pd.DataFrame, columns: Iterable[str] = MONEY_COLUMNS) -> pd.DataFrame:
    """``df`` without its money columns (a table shown for data without amounts)."""
    gone = [c for c in df.columns if c in set(columns)]
    return df.drop(columns=gone) if gone else df


def blank_money(df: pd.DataFrame, columns: Iterable[str] = MONEY_COLUMNS) -> pd.DataFrame:
    """A copy of ``df`` with its money columns empty (NaN, written as an empty CSV cell) and
    every column kept: a file whose columns are a contract, for data without amounts."""
    out = df.copy()
    for col in (c for c in out.columns if c in set(columns)):
        numeric = pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_bool_dtype(
            out[col]
        )
        out[col] = np.nan if numeric else None
    return out
