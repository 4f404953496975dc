"""Can we trust the CLV model? Calibration/holdout validation, model comparison, CDNow check.

The split follows lifetimes' ``calibration_and_holdout_data`` (Fader & Hardie's protocol): the
models are fitted on purchases up to ``calibration_end`` (that day included) and predict each
calibration customer's repeat purchases in the holdout, (calibration_end, observation_end].
Holdout purchases are counted like the summary counts purchases: distinct purchase days.

Charts data (all in the chosen period's units):

- period transactions: customers by number of repeat purchases in the calibration period,
  actual vs expected; expected = sum over customers of P(X(T_i) = n) from lifetimes
  (``probability_of_n_purchases_up_to_time`` for BG/NBD and Modified BG/NBD; for Pareto/NBD
  the conditional pmf given an empty history at T = 0, which is the unconditional pmf);
- calibration vs holdout: mean holdout purchases by calibration frequency, actual vs predicted;
- cumulative repeat transactions since the first purchase in the data, actual vs expected
  (lifetimes' ``expected_cumulative_transactions`` definition, aggregated in SQL by day).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

from clm_core.clv import (
    AUTO_CANDIDATES,
    DEFAULT_TIME_BUDGET,
    MODEL_LABELS,
    Note,
    PurchaseModel,
    SpendModel,
    _as_of,
    _check_options,
    _not_enough,
    _note,
    _quiet,
    check_enough_data,
)
from clm_core.config import period_days
from clm_core.errors import NotEnoughData, UsageError
from clm_core.i18n import translate
from clm_core.store import query_df, require_table
from clm_core.summary import summary_sql

__all__ = [
    "CDNOW_PUBLISHED",
    "HOLDOUT_MIN_DAYS",
    "PERIOD_TRANSACTIONS_BINS",
    "ValidationResult",
    "calibration_holdout",
    "cumulative_transactions",
    "default_calibration_end",
    "takeaway_cdnow",
    "takeaway_cumulative",
    "takeaway_holdout",
    "takeaway_period_transactions",
    "validate_models",
    "verify_cdnow",
]

HOLDOUT_MIN_DAYS = 28
PERIOD_TRANSACTIONS_BINS = 7  # 0..6 repeat purchases and "7+"
_PMF_AGES = 120  # ages at which the purchase-count pmf is evaluated (then interpolated)

_HOLDOUT_SQL = """
select c.customer_id,
       c.frequency as frequency_cal,
       c.recency as recency_cal,
       c."T" as "T_cal",
       c.monetary_value as monetary_value_cal,
       c.first_purchase,
       cast(coalesce(h.n, 0) as double) as frequency_holdout
from ({summary}) c
left join (
    select customer_id, count(distinct cast(order_ts as date)) as n
    from transactions
    where cast(order_ts as date) > $as_of and cast(order_ts as date) <= $observation_end
      and amount >= 0 and customer_id is not null
    group by customer_id
) h using (customer_id)
order by c.customer_id
"""

# Per purchase day: customers whose first purchase it is, and repeat purchase days on it.
_DAILY_SQL = """
with days as (
    select customer_id, cast(order_ts as date) as d
    from transactions
    where cast(order_ts as date) <= $observation_end and amount >= 0 and customer_id is not null
    group by 1, 2
),
firsts as (select customer_id, min(d) as f from days group by 1)
select d,
       count(*) filter (where d = f) as new_customers,
       count(*) filter (where d > f) as repeat_days
from days join firsts using (customer_id)
group by d
order by d
"""


def default_calibration_end(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date | str | None = None
) -> dt.date:
    """The last third of the history is the holdout (CDNow: 78 weeks split at 39 weeks)."""
    as_of = _as_of(con, as_of)
    row = con.execute(
        "select min(cast(order_ts as date)) from transactions where amount >= 0"
    ).fetchone()
    first = row[0] if row and row[0] else as_of
    holdout = max(HOLDOUT_MIN_DAYS, (as_of - first).days // 3)
    return as_of - dt.timedelta(days=holdout)


def calibration_holdout(
    con: duckdb.DuckDBPyConnection,
    *,
    calibration_end: dt.date | str,
    observation_end: dt.date | str | None = None,
    period: str = "W",
) -> pd.DataFrame:
    """Per calibration customer: ``frequency_cal, recency_cal, T_cal, monetary_value_cal``
    (summary at ``calibration_end``), ``frequency_holdout`` (purchase days after it, up to
    ``observation_end``) and ``duration_holdout`` (periods), as lifetimes'
    ``calibration_and_holdout_data(..., freq="D", freq_multiplier=k)``."""
    require_table(con, "transactions", "model validation")
    _check_options(period=period)
    observation_end = _as_of(con, observation_end)
    calibration_end = pd.Timestamp(calibration_end).date()
    if calibration_end >= observation_end:
        raise UsageError(
            f"The calibration end ({calibration_end}) must be before the end of the data "
            f"({observation_end})."
        )
    df = query_df(
        con,
        _HOLDOUT_SQL.format(summary=summary_sql()),
        {"as_of": calibration_end, "k": period_days(period), "observation_end": observation_end},
    )
    df["first_purchase"] = pd.to_datetime(df["first_purchase"])
    df["duration_holdout"] = (observation_end - calibration_end).days / period_days(period)
    return df


def _calibration_frame(data: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "frequency": data["frequency_cal"],
            "recency": data["recency_cal"],
            "T": data["T_cal"],
            "monetary_value": data["monetary_value_cal"],
            "first_purchase": data["first_purchase"],
        }
    )


def _expected_counts(pm: PurchaseModel, T: np.ndarray, bins: int) -> np.ndarray:
    """Expected customers with 0..bins-1 and bins+ repeat purchases over their own ages T.

    lifetimes' pmf takes one age at a time: with more than :data:`_PMF_AGES` distinct ages it
    is evaluated on that many ages spread over the range and interpolated (it is smooth in t).
    """
    ages, counts = np.unique(np.round(T, 9), return_counts=True)
    grid = ages if len(ages) <= _PMF_AGES else np.linspace(ages.min(), ages.max(), _PMF_AGES)
    m, c = pm.scaled_model_, pm.scale_
    pmf = np.zeros((len(grid), bins))
    with _quiet():
        for i, age in enumerate(grid):
            if age <= 0:
                pmf[i, 0] = 1.0
            elif pm.model_name_ == "pareto":
                pmf[i] = [m.conditional_probability_of_n_purchases_up_to_time(n, age * c, 0.0, 0.0, 0.0)
                          for n in range(bins)]  # fmt: skip
            else:
                pmf[i] = [m.probability_of_n_purchases_up_to_time(age * c, n) for n in range(bins)]
    pmf = np.clip(np.nan_to_num(pmf), 0.0, 1.0)
    if len(grid) != len(ages):
        pmf = np.column_stack([np.interp(ages, grid, pmf[:, n]) for n in range(bins)])
    out = np.zeros(bins + 1)
    out[:bins] = counts @ pmf
    out[bins] = counts @ np.clip(1.0 - pmf.sum(axis=1), 0.0, 1.0)
    return out


def cumulative_transactions(
    con: duckdb.DuckDBPyConnection,
    models: dict[str, PurchaseModel],
    *,
    observation_end: dt.date,
    period: str,
) -> pd.DataFrame:
    """Cumulative repeat purchase days since the data's first purchase, actual and expected
    per model, at the end of every period (``date`` = start + j periods, exclusive)."""
    daily = query_df(con, _DAILY_SQL, {"observation_end": observation_end})
    if daily.empty:
        return pd.DataFrame(columns=["date", "periods", "actual"])
    daily["d"] = pd.to_datetime(daily["d"])
    start = daily["d"].min()
    day = (daily["d"] - start).dt.days.to_numpy()
    k = period_days(period)
    total_days = (pd.Timestamp(observation_end) - start).days + 1
    j = np.arange(1, int(total_days // k) + 1)
    offsets = np.round(j * k).astype(int)
    repeat = np.bincount(day, weights=daily["repeat_days"].to_numpy(float), minlength=total_days)
    cum = np.concatenate([[0.0], np.cumsum(repeat)])
    out = pd.DataFrame(
        {
            "date": start + pd.to_timedelta(offsets, unit="D"),
            "periods": j,
            "actual": cum[np.minimum(offsets, total_days)],
        }
    )
    new = daily["new_customers"].to_numpy(float)
    has = new > 0
    fday, fn = day[has], new[has]
    ages = (offsets[:, None] - fday[None, :]) / k
    with _quiet():
        for name, pm in models.items():
            t = np.where(ages > 0, ages, 0.0) * pm.scale_
            e = pm.scaled_model_.expected_number_of_purchases_up_to_time(t)
            out[name] = (np.where(ages > 0, np.asarray(e, dtype=float), 0.0) * fn).sum(axis=1)
    return out


@dataclass(frozen=True)
class ValidationResult:
    """Holdout validation of the purchase models (period units: ``period``).

    ``comparison``: model, label, log_likelihood, aic, bic (on the calibration data),
    holdout_mae (mean absolute error per customer, purchases), aggregate_error (relative error
    of total holdout purchases), predicted, actual, fit_seconds, best.
    """

    calibration_end: dt.date
    observation_end: dt.date
    period: str
    holdout_periods: float
    customers: int
    comparison: pd.DataFrame
    best_model: str
    period_transactions: pd.DataFrame
    calibration_vs_holdout: pd.DataFrame
    cumulative: pd.DataFrame
    notes: tuple[Note, ...] = field(default=())

    @property
    def models(self) -> list[str]:
        return list(self.comparison["model"])


def validate_models(
    con: duckdb.DuckDBPyConnection,
    *,
    calibration_end: dt.date | str | None = None,
    as_of: dt.date | str | None = None,
    period: str = "W",
    models: tuple[str, ...] = AUTO_CANDIDATES,
    penalizer: float = 0.0,
    random_state: int = 0,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
) -> ValidationResult:
    """Fit each model on the calibration period and score it on the holdout.

    ``as_of`` is the end of the holdout (default: last transaction date); ``calibration_end``
    defaults to :func:`default_calibration_end`. The best model has the lowest holdout MAE. A
    model that does not fit within ``time_budget`` seconds is left out with the reason.
    """
    for name in models:
        _check_options(model=name, period=period, penalizer=penalizer, time_budget=time_budget)
    observation_end = _as_of(con, as_of)
    if calibration_end is None:
        calibration_end = default_calibration_end(con, as_of=observation_end)
    calibration_end = pd.Timestamp(calibration_end).date()
    holdout_days = (observation_end - calibration_end).days
    if holdout_days < HOLDOUT_MIN_DAYS:
        raise _not_enough(
            "The holdout (after {cal} up to {end}) is {days} days; validation needs at least "
            "{need} days. Choose an earlier calibration end.",
            cal=calibration_end, end=observation_end, days=holdout_days, need=HOLDOUT_MIN_DAYS,
        )  # fmt: skip
    data = calibration_holdout(
        con, calibration_end=calibration_end, observation_end=observation_end, period=period
    )
    X = _calibration_frame(data)
    check_enough_data(X, as_of=calibration_end, what="Validation (calibration period)")
    duration = float(data["duration_holdout"].iloc[0])
    actual = data["frequency_holdout"].to_numpy(float)
    fitted: dict[str, PurchaseModel] = {}
    rows, notes = [], []
    predictions = {}
    for name in models:
        pm = PurchaseModel(
            name, penalizer=penalizer, fallback=False, random_state=random_state,
            time_budget=time_budget,
        )  # fmt: skip
        try:
            pm.fit(X)
        except NotEnoughData as e:
            # why each attempt failed (Pareto/NBD: skipped above its pattern limit, out of its
            # time budget, ...), else a plain "could not be fitted"
            generic = _note("{model} could not be fitted to this data.", model=MODEL_LABELS[name])
            notes.extend(getattr(e, "attempts", ()) or (generic,))
            continue
        notes.extend(pm.notes_)
        pred = pm.expected_purchases(X, duration)
        predictions[name] = pred
        fitted[name] = pm
        rows.append(
            {
                "model": name,
                "label": pm.label_,
                "log_likelihood": pm.log_likelihood_,
                "aic": pm.aic_,
                "bic": pm.bic_,
                "holdout_mae": float(np.mean(np.abs(pred - actual))),
                "aggregate_error": float((pred.sum() - actual.sum()) / max(actual.sum(), 1e-12)),
                "predicted": float(pred.sum()),
                "actual": float(actual.sum()),
                "fit_seconds": pm.fit_seconds_,
            }
        )
    if not rows:
        raise _not_enough("No purchase model could be fitted to the calibration period.")
    comparison = pd.DataFrame(rows)
    best = comparison.loc[comparison["holdout_mae"].idxmin(), "model"]
    comparison["best"] = comparison["model"] == best

    bins = PERIOD_TRANSACTIONS_BINS
    freq = np.minimum(X["frequency"].to_numpy(int), bins)
    labels = [str(n) for n in range(bins)] + [f"{bins}+"]
    pt = pd.DataFrame({"purchases": labels, "actual": np.bincount(freq, minlength=bins + 1)})
    cvh = pd.DataFrame({"frequency_cal": freq, "actual": actual})
    for name, pm in fitted.items():
        pt[name] = _expected_counts(pm, X["T"].to_numpy(float), bins)
        cvh[name] = predictions[name]
    cvh = cvh.groupby("frequency_cal").agg(
        customers=("actual", "size"), **{c: (c, "mean") for c in ["actual", *fitted]}
    )
    cvh = cvh.reset_index()
    cvh["purchases"] = [labels[i] for i in cvh["frequency_cal"]]
    cumulative = cumulative_transactions(
        con, fitted, observation_end=observation_end, period=period
    )
    return ValidationResult(
        calibration_end=calibration_end,
        observation_end=observation_end,
        period=period,
        holdout_periods=duration,
        customers=len(X),
        comparison=comparison,
        best_model=str(best),
        period_transactions=pt,
        calibration_vs_holdout=cvh,
        cumulative=cumulative,
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------- CDNow check

# Published maximum-likelihood estimates on the CDNow 1/10 sample (2,357 customers,
# calibration 39 weeks to 1997-09-30, weeks): BG/NBD and Pareto/NBD from Fader, Hardie & Lee
# (2005), "Counting Your Customers the Easy Way", Marketing Science 24(2); Gamma-Gamma on its
# 946 repeat buyers as reproduced in lifetimes' documentation (Fader & Hardie note 025).
# (model, parameter, published value, decimals published)
CDNOW_PUBLISHED = (
    ("bgnbd", "r", 0.243, 3),
    ("bgnbd", "alpha", 4.414, 3),
    ("bgnbd", "a", 0.793, 3),
    ("bgnbd", "b", 2.426, 3),
    ("bgnbd", "log_likelihood", -9582.4, 1),
    ("pareto", "r", 0.553, 3),
    ("pareto", "alpha", 10.578, 3),
    ("pareto", "s", 0.606, 3),
    ("pareto", "beta", 11.669, 3),
    ("pareto", "log_likelihood", -9595.0, 1),
    ("gamma_gamma", "p", 6.25, 2),
    ("gamma_gamma", "q", 3.74, 2),
    ("gamma_gamma", "v", 15.45, 2),
)


def verify_cdnow(con: duckdb.DuckDBPyConnection | None = None) -> pd.DataFrame:
    """Refit the CDNow sample shipped in lifetimes through this module (weighted patterns) and
    compare with the published estimates.

    A value passes when it is within 1.5 units of the last published decimal (numpy's
    ``assert_almost_equal(decimal=d)``, as lifetimes' own tests check these numbers). ``con``
    is ignored (it lets ``ui.cache.compute`` call and cache this).
    """
    began = time.perf_counter()
    data = load_cdnow_summary_data_with_monetary_value()
    fitted: dict[str, dict[str, float]] = {}
    for name in ("bgnbd", "pareto"):
        pm = PurchaseModel(name, fallback=False, random_state=0).fit(data)
        fitted[name] = {**pm.params_, "log_likelihood": pm.log_likelihood_}
    spend = SpendModel().fit(data)
    fitted["gamma_gamma"] = dict(spend.params_)
    rows = []
    for model, param, published, decimals in CDNOW_PUBLISHED:
        value = fitted[model].get(param, float("nan"))
        tolerance = 1.5 * 10.0**-decimals
        rows.append(
            {
                "model": MODEL_LABELS.get(model, "Gamma-Gamma"),
                "parameter": param,
                "published": published,
                "fitted": round(value, decimals + 2),
                "tolerance": tolerance,
                "passed": bool(abs(value - published) < tolerance),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["seconds"] = time.perf_counter() - began
    return out


# ------------------------------------------------------------------------------ takeaways


def _best(val: ValidationResult) -> pd.Series:
    return val.comparison.set_index("model").loc[val.best_model]


def takeaway_period_transactions(val: ValidationResult, *, lang: str = "en") -> str:
    pt = val.period_transactions
    return translate(
        "Customers with no repeat purchase in the calibration period: {a} actual, {p} expected "
        "by {m}.",
        lang,
    ).format(
        a=f"{pt['actual'].iloc[0]:,.0f}",
        p=f"{pt[val.best_model].iloc[0]:,.0f}",
        m=_best(val)["label"],
    )


def takeaway_holdout(val: ValidationResult, *, lang: str = "en") -> str:
    best = _best(val)
    return translate(
        "Over the {h}-{unit} holdout {m} predicted {p} repeat purchases against {a} actual "
        "({e}); mean absolute error per customer {mae}.",
        lang,
    ).format(
        h=f"{val.holdout_periods:.0f}",
        unit=translate({"D": "day", "W": "week", "M": "month"}[val.period], lang),
        m=best["label"],
        p=f"{best['predicted']:,.0f}",
        a=f"{best['actual']:,.0f}",
        e=f"{best['aggregate_error']:+.1%}",
        mae=f"{best['holdout_mae']:.2f}",
    )


def takeaway_cumulative(val: ValidationResult, *, lang: str = "en") -> str:
    end = val.cumulative.iloc[-1]
    expected = float(end[val.best_model])
    return translate(
        "By {date} {m} expected {p} cumulative repeat purchases against {a} actual ({e}).",
        lang,
    ).format(
        date=pd.Timestamp(end["date"]).date(),
        m=_best(val)["label"],
        p=f"{expected:,.0f}",
        a=f"{end['actual']:,.0f}",
        e=f"{expected / max(float(end['actual']), 1.0) - 1:+.1%}",
    )


def takeaway_cdnow(check: pd.DataFrame, *, lang: str = "en") -> str:
    return translate(
        "Model engine verified on CDNow: {n} of {m} published estimates reproduced.", lang
    ).format(n=int(check["passed"].sum()), m=len(check))
