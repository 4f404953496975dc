"""Customer 360: find one customer and put everything we know about them on one line of time.

- :func:`find_customers` searches by customer id, name, e-mail or phone (case-insensitive
  substring; a phone query matches on digits only, so ``138-1234-5678`` finds ``13812345678``).
- :func:`customer_profile` returns the customers-table record and the customer's row of
  :func:`clm_core.summary.customer_summary` (same definitions, computed for this customer only).
- :func:`customer_timeline` merges orders, returns, events, campaign contacts and feedback into
  one DataFrame ordered by time, using whichever of those tables the dataset has.
- :func:`p_alive_history` gives P(alive) of the BG/NBD model (Fader, Hardie & Lee 2005) at each
  week of the customer's history: how the model's belief that they are still a customer moved.

Every value reaches SQL as a bound parameter; table names come from the fixed set below.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from clm_core.amounts import PURCHASE_SQL
from clm_core.config import period_days
from clm_core.errors import NotEnoughData, UsageError
from clm_core.i18n import translate
from clm_core.store import has_amounts, query_df, table_names
from clm_core.summary import SUMMARY_COLUMNS, as_of_default, summary_sql

__all__ = [
    "HEADERS",
    "KINDS",
    "SEARCH_COLUMNS",
    "TIMELINE_COLUMNS",
    "CustomerProfile",
    "bgnbd_params",
    "customer_profile",
    "customer_timeline",
    "find_customers",
    "localise_columns",
    "p_alive_history",
    "p_alive_takeaway",
    "record_frame",
    "row_for",
    "timeline_takeaway",
]

SEARCH_COLUMNS = [
    "customer_id", "name", "email", "phone", "region", "acquisition_channel", "owner",
    "signup_ts", "orders", "revenue", "last_purchase", "matched_on",
]  # fmt: skip
TIMELINE_COLUMNS = ["ts", "kind", "detail", "amount", "score", "channel", "ref"]
# Timeline kinds in display order (feedback kinds other than these keep their own name).
KINDS = ["order", "return", "campaign", "complaint", "survey", "event"]

_ESCAPE = "\\"
_PHONE_QUERY = re.compile(r"^[\d\s+\-().]+$")

# Rank: exact id, id prefix, phone digits, e-mail, name, other id substring.
_SEARCH_SQL = """
with hits as (
    select c.customer_id, c.name, c.email, c.phone, c.region, c.acquisition_channel, c.owner,
           c.signup_ts,
           case when lower(c.customer_id) = lower($q) then 0
                when c.customer_id ilike $prefix escape '\\' then 1
                when $digits <> '' and regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g')
                     like $digits_pat then 2
                when c.email ilike $pat escape '\\' then 3
                when c.name ilike $pat escape '\\'
                     or replace(c.name, ' ', '') ilike $pat_nospace escape '\\' then 4
                else 5 end as rank
    from customers c
    where c.customer_id ilike $pat escape '\\'
       or c.email ilike $pat escape '\\'
       or c.name ilike $pat escape '\\'
       or replace(c.name, ' ', '') ilike $pat_nospace escape '\\'
       or ($digits <> '' and regexp_replace(coalesce(c.phone, ''), '[^0-9]', '', 'g')
           like $digits_pat)
    order by rank, c.customer_id
    limit $limit
)
select h.* exclude (rank), {orders}, h.rank
from hits h {join}
order by h.rank, h.customer_id
"""
_SEARCH_TX_ONLY_SQL = f"""
select customer_id,
       count(*) filter (where {PURCHASE_SQL}) as orders,
       case when $amounts then sum(amount) end as revenue,
       max(order_ts) as last_purchase,
       case when lower(customer_id) = lower($q) then 0
            when customer_id ilike $prefix escape '\\' then 1 else 5 end as rank
from transactions
where customer_id ilike $pat escape '\\'
group by customer_id
order by rank, customer_id
limit $limit
"""
_ORDER_STATS = f"""
left join (
    select customer_id,
           count(distinct coalesce(order_id, cast(order_ts as varchar)))
               filter (where {PURCHASE_SQL}) as orders,
           case when $amounts then sum(amount) end as revenue,
           max(order_ts) filter (where {PURCHASE_SQL}) as last_purchase
    from transactions
    where customer_id in (select customer_id from hits)
    group by customer_id
) t on t.customer_id = h.customer_id"""

_TIMELINE_PARTS = {
    "transactions": """
        select order_ts as ts,
               case when amount < 0 then 'return' else 'order' end as kind,
               concat_ws(' · ', category, product,
                         case when quantity = round(quantity)
                              then '×' || cast(cast(abs(quantity) as bigint) as varchar)
                              when quantity is not null then '×' || cast(abs(quantity) as varchar)
                         end)
                   as detail,
               amount, cast(null as double) as score, channel, order_id as ref
        from transactions where customer_id = $cid""",
    "events": """
        select event_ts, 'event', event_name, cast(null as double), cast(null as double),
               channel, cast(null as varchar)
        from events where customer_id = $cid""",
    "campaigns": """
        select sent_ts, 'campaign', concat_ws(' · ', campaign, variant), revenue,
               cast(null as double), channel,
               case when converted then 'converted' when not converted then 'not converted' end
        from campaigns where customer_id = $cid""",
    "feedback": """
        select created_ts, coalesce(kind, 'feedback'), text, cast(null as double), score,
               cast(null as varchar), cast(null as varchar)
        from feedback where customer_id = $cid""",
}


def _like_escape(text: str) -> str:
    return (
        text.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")
    )


def find_customers(con: duckdb.DuckDBPyConnection, query: str, *, limit: int = 50) -> pd.DataFrame:
    """Customers whose id, name, e-mail or phone contains ``query`` (case-insensitive).

    Exact id matches come first, then id prefixes, phone, e-mail and name matches. Datasets
    without a customers table are searched by id in transactions. An empty query finds nobody.
    Columns: :data:`SEARCH_COLUMNS` (``matched_on`` says which field matched).
    """
    q = (query or "").strip()
    present = table_names(con)
    if not q or not present & {"customers", "transactions"}:
        return pd.DataFrame(columns=SEARCH_COLUMNS)
    digits = re.sub(r"\D", "", q) if _PHONE_QUERY.match(q) else ""
    if len(digits) < 4:
        digits = ""
    esc = _like_escape(q)
    params = {
        "q": q,
        "pat": f"%{esc}%",
        "prefix": f"{esc}%",
        "limit": int(limit),
    }
    if "customers" in present:
        params.update(
            digits=digits,
            digits_pat=f"%{digits}%",
            pat_nospace=f"%{_like_escape(q.replace(' ', ''))}%",
        )
        if "transactions" in present:
            sql = _SEARCH_SQL.format(
                orders="t.orders, t.revenue, t.last_purchase", join=_ORDER_STATS
            )
            params["amounts"] = has_amounts(con)
        else:
            sql = _SEARCH_SQL.format(
                orders="cast(null as bigint) as orders, cast(null as double) as revenue, "
                "cast(null as timestamp) as last_purchase",
                join="",
            )
    else:
        sql = _SEARCH_TX_ONLY_SQL
        params["amounts"] = has_amounts(con)
    df = query_df(con, sql, params)
    for col in SEARCH_COLUMNS:
        if col not in df.columns and col != "matched_on":
            df[col] = None
    df["matched_on"] = df["rank"].map(
        {0: "customer_id", 1: "customer_id", 2: "phone", 3: "email", 4: "name", 5: "customer_id"}
    )
    df["orders"] = df["orders"].fillna(0).astype("int64")
    return df[SEARCH_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class CustomerProfile:
    """What the dataset says about one customer at ``as_of``.

    ``record``: the customers-table row (empty when the dataset has no customers table);
    ``summary``: the customer's :func:`~clm_core.summary.customer_summary` row, None for a
    prospect who never bought.
    """

    customer_id: str
    as_of: dt.date | None
    record: dict = field(default_factory=dict)
    summary: dict | None = None


def customer_profile(
    con: duckdb.DuckDBPyConnection,
    customer_id: str,
    *,
    as_of: dt.date | str | None = None,
    period: str = "D",
) -> CustomerProfile:
    """The customer's record and summary row; raises UsageError for an unknown id."""
    present = table_names(con)
    record: dict = {}
    if "customers" in present:
        rec = query_df(
            con, "select * from customers where customer_id = $cid limit 1", {"cid": customer_id}
        )
        if len(rec):
            record = {k: (None if _isna(v) else v) for k, v in rec.iloc[0].to_dict().items()}
    summary = None
    as_of_date = None
    if "transactions" in present:
        try:
            as_of_date = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
        except NotEnoughData:
            as_of_date = None
        if as_of_date is not None:
            # A CTE named like the table shadows it for the summary query: same SQL, one customer.
            sql = (
                "with transactions as (select * from transactions where customer_id = $cid) "
                f"select * from ({summary_sql()}) s"
            )
            row = query_df(
                con, sql, {"cid": customer_id, "as_of": as_of_date, "k": period_days(period)}
            )
            if len(row):
                summary = {c: row.iloc[0][c] for c in SUMMARY_COLUMNS}
                for c in ("first_purchase", "last_purchase"):
                    summary[c] = pd.Timestamp(summary[c])
                for c in ("orders", "returns"):
                    summary[c] = int(summary[c])
                summary = {k: (None if _isna(v) else v) for k, v in summary.items()}
    if not record and summary is None and not _appears_anywhere(con, customer_id, present):
        raise UsageError(f"Customer {customer_id} was not found in this dataset.")
    return CustomerProfile(customer_id, as_of_date, record, summary)


def _isna(v) -> bool:
    return v is None or (not isinstance(v, str) and bool(pd.isna(v)))


def _appears_anywhere(con, customer_id: str, present: set[str]) -> bool:
    for table in ("transactions", "events", "campaigns", "feedback"):
        if table in present:
            sql = f"select 1 from {table} where customer_id = $cid limit 1"  # table: fixed name
            if con.execute(sql, {"cid": customer_id}).fetchone():
                return True
    return False


def customer_timeline(
    con: duckdb.DuckDBPyConnection,
    customer_id: str,
    *,
    kinds: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Orders, returns, events, campaign contacts and feedback of one customer, oldest first.

    Columns :data:`TIMELINE_COLUMNS`: ``ts``; ``kind`` (order, return, event, campaign, or the
    feedback kind such as complaint/survey); ``detail`` (category · product · quantity, the event
    name, campaign · variant, the feedback text); ``amount`` (order amount, negative for returns,
    campaign revenue); ``score`` (feedback score); ``channel``; ``ref`` (order id, or whether a
    campaign contact converted). ``kinds`` keeps only those kinds.
    """
    present = table_names(con)
    parts = [sql for table, sql in _TIMELINE_PARTS.items() if table in present]
    if not parts:
        return pd.DataFrame(columns=TIMELINE_COLUMNS)
    sql = " union all ".join(parts)
    sql = f"select * from ({sql}) u order by ts nulls last, kind, ref"
    df = query_df(con, sql, {"cid": customer_id})
    df.columns = TIMELINE_COLUMNS
    df["ts"] = pd.to_datetime(df["ts"])
    if kinds is not None:
        df = df[df["kind"].isin(kinds)].reset_index(drop=True)
    return df


def record_frame(profile: CustomerProfile) -> pd.DataFrame:
    """The customers-table record as a one-row frame (no rows when the dataset has none)."""
    return pd.DataFrame([profile.record]) if profile.record else pd.DataFrame()


# Display headers of the timeline and record columns (English keys of the translations).
HEADERS = {
    "ts": "Time",
    "kind": "Type",
    "detail": "Detail",
    "amount": "Amount",
    "score": "Feedback score",
    "channel": "Channel",
    "ref": "Reference",
    "customer_id": "Customer ID",
    "signup_ts": "Signed up",
    "acquisition_channel": "Acquisition channel",
    "acquisition_cost": "Acquisition cost",
    "region": "Region",
    "name": "Name",
    "email": "E-mail",
    "phone": "Phone",
    "owner": "Account manager",
}
_VALUES = {"converted": "Converted", "not converted": "Not converted"}


def localise_columns(frame: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """Readable headers and our own constants (timeline kinds, converted / not converted) in
    the user's language; data values stay as they are. Apply after any PII masking."""
    out = frame.copy()
    for col in ("kind", "ref"):
        if col in out.columns:
            out[col] = out[col].map(lambda v: _localise_value(v, lang))
    return out.rename(columns=lambda c: translate(HEADERS.get(c, c), lang))


def _localise_value(value, lang: str):
    if isinstance(value, str) and value in KINDS:
        return translate(value, lang)
    if isinstance(value, str) and value in _VALUES:
        return translate(_VALUES[value], lang)
    return value


def row_for(frame: pd.DataFrame | None, customer_id: str) -> dict | None:
    """One customer's row of a per-customer result (segments, stages, CLV...) as a dict."""
    if frame is None or "customer_id" not in frame.columns:
        return None
    hit = frame[frame["customer_id"] == customer_id]
    if hit.empty:
        return None
    return {k: (None if _isna(v) else v) for k, v in hit.iloc[0].to_dict().items()}


# --------------------------------------------------------------------------------- P(alive)


_FITTERS = {
    "bgnbd": "BetaGeoFitter",
    "pareto": "ParetoNBDFitter",
    "mbgnbd": "ModifiedBetaGeoFitter",
}
_TIME_PARAMS = ("alpha", "beta")  # rate parameters in 1/period: they scale with the time unit


def bgnbd_params(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    period: str = "W",
    penalizer_coef: float = 0.001,
) -> tuple[tuple[str, float], ...]:
    """BG/NBD parameters ``(("r", .), ("alpha", .), ("a", .), ("b", .))`` fitted by lifetimes.

    The fallback for the P(alive) history when :func:`clm_core.clv.fit_clv` cannot be used
    (it asks for at least 500 customers); ``alpha`` is per ``period``.
    """
    from lifetimes import BetaGeoFitter

    from clm_core.summary import customer_summary

    s = customer_summary(con, as_of=as_of, period=period)
    if len(s) < 20 or (s["frequency"] > 0).sum() < 5:
        raise NotEnoughData(
            "P(alive) needs at least 20 customers, 5 of them with repeat purchases."
        )
    model = BetaGeoFitter(penalizer_coef=penalizer_coef)
    model.fit(s["frequency"], s["recency"], s["T"])
    return tuple((k, float(model.params_[k])) for k in ("r", "alpha", "a", "b"))


def p_alive_history(
    con: duckdb.DuckDBPyConnection,
    customer_id: str,
    *,
    params: tuple[tuple[str, float], ...],
    model: str = "bgnbd",
    as_of: dt.date | str | None = None,
    period: str = "W",
    step_days: int = 7,
) -> pd.DataFrame:
    """P(alive) of one customer at every ``step_days`` from their first purchase to ``as_of``.

    ``model`` is "bgnbd", "pareto" or "mbgnbd" (as chosen by :func:`clm_core.clv.fit_clv`) and
    ``params`` its lifetimes parameters as (name, value) pairs, rates per ``period``. At each
    date d the customer's frequency, recency and T are recomputed from purchases on or before d
    (same-day purchases are one purchase, returns ignored, as in :mod:`clm_core.summary`) and
    lifetimes' ``conditional_probability_alive`` is evaluated. Times are rescaled so the
    customer's age at ``as_of`` is 1 (rates scaled alike; probabilities do not change) to keep
    Pareto/NBD's hypergeometric terms well conditioned. Columns: date, p_alive, purchase (True
    on purchase days).
    """
    import lifetimes

    if model not in _FITTERS:
        raise UsageError(f"model must be one of {', '.join(_FITTERS)}, not {model!r}")
    as_of_date = pd.Timestamp(as_of).date() if as_of is not None else as_of_default(con)
    days = query_df(
        con,
        "select distinct cast(order_ts as date) as d from transactions "
        f"where customer_id = $cid and {PURCHASE_SQL} and cast(order_ts as date) <= $as_of "
        "order by d",
        {"cid": customer_id, "as_of": as_of_date, "amounts": has_amounts(con)},
    )["d"]
    if days.empty:
        return pd.DataFrame(columns=["date", "p_alive", "purchase"])
    buy = pd.to_datetime(days).to_numpy(dtype="datetime64[D]")
    end = np.datetime64(as_of_date, "D")
    grid = np.arange(buy[0], end + 1, step_days).astype("datetime64[D]")
    grid = np.unique(np.concatenate([grid, buy, [end]]))
    n_le = np.searchsorted(buy, grid, side="right")  # purchase days on or before each date
    last = buy[n_le - 1]
    k = period_days(period)
    scale = 1.0 / max((end - buy[0]).astype(float) / k, 1.0)  # periods -> "customer ages"
    frequency = (n_le - 1).astype(float)
    recency = (last - buy[0]).astype(float) / k * scale
    T = (grid - buy[0]).astype(float) / k * scale
    fitter = getattr(lifetimes, _FITTERS[model])()
    fitter.params_ = pd.Series(
        {name: float(v) * (scale if name in _TIME_PARAMS else 1.0) for name, v in params}
    )
    with np.errstate(all="ignore"):
        p = np.asarray(fitter.conditional_probability_alive(frequency, recency, T), dtype=float)
    return pd.DataFrame(
        {
            "date": pd.to_datetime(grid),
            "p_alive": np.clip(np.ravel(p), 0.0, 1.0),
            "purchase": np.isin(grid, buy),
        }
    )


# ------------------------------------------------------------------------------- takeaways


def timeline_takeaway(
    profile: CustomerProfile,
    timeline: pd.DataFrame,
    *,
    currency: str = "",
    lang: str = "en",
    money: bool = True,
) -> str:
    """One sentence about the customer's history, computed from the data (``money=False``, data
    without amounts: without what the orders were worth)."""
    from clm_core.formatting import fmt_date, fmt_money

    s = profile.summary
    if s is None:
        signup = profile.record.get("signup_ts")
        if signup is not None:
            return translate("Signed up on {date} and has not bought yet.", lang).format(
                date=fmt_date(pd.Timestamp(signup).date(), lang)
            )
        return translate("No purchases yet.", lang)
    text = translate(
        "{orders} orders worth {revenue} since {first}; last purchase {days} days before {as_of}."
        if money
        else "{orders} orders since {first}; last purchase {days} days before {as_of}.",
        lang,
    ).format(
        orders=s["orders"],
        revenue=fmt_money(float(s["revenue"]), currency or "USD", lang) if money else "",
        first=fmt_date(pd.Timestamp(s["first_purchase"]).date(), lang),
        days=int(s["days_since_last"]),
        as_of=fmt_date(profile.as_of, lang),
    )
    counts = timeline["kind"].value_counts() if len(timeline) else pd.Series(dtype=int)
    if counts.get("complaint", 0):
        text += " " + translate("{n} complaint(s).", lang).format(n=int(counts["complaint"]))
    camp = timeline[(timeline["kind"] == "campaign") & (timeline["ref"] == "converted")]
    if len(camp):
        text += " " + translate("Converted after: {campaigns}.", lang).format(
            campaigns=", ".join(camp["detail"].astype(str).tolist())
        )
    return text


def p_alive_takeaway(history: pd.DataFrame, *, days: int = 90, lang: str = "en") -> str:
    """How P(alive) moved: its latest value and its value ``days`` earlier."""
    from clm_core.formatting import fmt_share

    if history.empty:
        return translate("No purchases yet.", lang)
    now = float(history["p_alive"].iloc[-1])
    before = history[history["date"] <= history["date"].iloc[-1] - pd.Timedelta(days=days)]
    if before.empty:
        return translate("P(alive) is now {now}.", lang).format(now=fmt_share(now, lang))
    return translate("P(alive) is now {now}, {then} {days} days earlier.", lang).format(
        now=fmt_share(now, lang), then=fmt_share(float(before["p_alive"].iloc[-1]), lang), days=days
    )
