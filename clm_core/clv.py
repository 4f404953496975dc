"""Customer lifetime value: what is each customer worth over the next horizon, and can we trust it.

Purchase models (how often, and whether still alive) and the spend model come from lifetimes;
nothing here re-implements them:

- BG/NBD, Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way", Marketing Science
  24(2): ``lifetimes.BetaGeoFitter``;
- Pareto/NBD, Schmittlein, Morrison & Colombo (1987), Management Science 33(1):
  ``lifetimes.ParetoNBDFitter``;
- Modified BG/NBD, Batislam, Denizel & Filiztekin (2007), IJRM 24(3):
  ``lifetimes.ModifiedBetaGeoFitter``;
- Gamma-Gamma spend model, Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves",
  JMR 42(4), and Fader & Hardie, note 025: ``lifetimes.GammaGammaFitter``.

**Units.** One ``period`` (D days, W weeks, M months of 365.25/12 days) drives everything:
recency and T in the summary, the fitted rate parameter alpha (and beta), the horizon (a whole
number of periods) and the discount rate (per period). A number shown without its period is a
bug: use :data:`PERIOD_UNITS`.

**Speed.** The likelihood of the purchase models depends on a customer only through the
pattern (frequency, recency, T), so every model is fitted on the *distinct* patterns with their
customer counts as lifetimes' ``weights`` and scored once per pattern; results are mapped back
to customers by index. The objectives are lifetimes' own, evaluated per distinct value with
exact gradients (:mod:`clm_core.clv_likelihood`), and beyond 20,000 patterns the fit starts
from the optimum of a 50,000-customer sample, so it needs a few evaluations on the full data. Scoring also uses that, given a customer is alive at T, the future
depends only on (frequency, T): E[N(t) | x, t_x, T] = P(alive | x, t_x, T) *
E[N(t) | alive, x, T] (FHL 2005 eq. 10; Schmittlein et al. 1987 eq. 22). The per-period curve
E[N(t) | alive] that discounting needs is therefore computed per distinct (frequency, T) pair
with lifetimes' own functions, not per customer. Results agree with lifetimes' per-customer
predictions to 1e-6 relative (see tests/test_clv.py).

**CLV.** ``clv = margin * E[average order value] * sum_{i=1..H} (E[N(i)] - E[N(i-1)]) /
(1 + d)^i`` with H the horizon in periods and d the discount rate per period: lifetimes'
``customer_lifetime_value`` with one step per model period.

**Giving up.** Every model fit has a time budget (:data:`DEFAULT_TIME_BUDGET` seconds per
model, all its attempts together; ``time_budget=None``: no limit). Where the fast likelihood
fails (no finite likelihood at the start, an optimiser that does not converge) or stalls (past
:data:`ENGINE_SHARE` of the budget), the model is fitted with lifetimes' own fitter on the same
weighted patterns, from lifetimes' own start, in the rest of the budget. A model that still
does not converge, or runs out of its budget, gives up with the reason in the notes, and
``auto`` chooses among the others.

**Degenerate fits.** A parameter that the data cannot tell from its bound 0 (Pareto/NBD's s, or
BG/NBD's a, near 0: almost nobody drops out, and the model is an NBD in disguise; Pareto/NBD's
beta then means nothing) is listed in ``degenerate_`` and said in a note: its value means
nothing, the predictions still do. The test is a likelihood ratio: setting the parameter to 0
costs less than :data:`DEGENERATE_LL` of log-likelihood.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import io
import math
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import duckdb
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.utils import ConvergenceError
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from clm_core import clv_likelihood as lk
from clm_core.config import period_days
from clm_core.errors import NotEnoughData, UsageError, first_line
from clm_core.filters import keep_customers
from clm_core.i18n import translate
from clm_core.store import column_names, has_amounts, query_df, require_table
from clm_core.summary import as_of_default, customer_summary

__all__ = [
    "ALIVE_BANDS",
    "AUTO_CANDIDATES",
    "CLV_COLUMNS",
    "COHORT_THRESHOLDS",
    "CSV_COLUMNS",
    "DEFAULT_WEEKLY_RATE",
    "DEFAULT_THRESHOLDS",
    "MODELS",
    "MODEL_LABELS",
    "PARAM_NAMES",
    "PARETO_MAX_PATTERNS",
    "DEFAULT_HORIZON",
    "DEFAULT_TIME_BUDGET",
    "DEGENERATE_LL",
    "ENGINE_SHARE",
    "FITTED_ON_ALL",
    "PERIOD_UNIT",
    "PERIOD_UNITS",
    "SPEND_CORRELATION_LIMIT",
    "ClvResult",
    "CohortComparison",
    "Note",
    "PurchaseModel",
    "SpendModel",
    "alive_matrix",
    "annual_rate",
    "check_enough_data",
    "clv_summary",
    "cohort_fits",
    "customer_attributes",
    "default_discount_rate",
    "describe_fit",
    "display_customers",
    "display_table",
    "equivalent_rate",
    "error_text",
    "fit_clv",
    "for_customers",
    "group_takeaway",
    "lorenz_curve",
    "channel_costs",
    "channel_margin_curve",
    "ltv_cac",
    "takeaway_alive",
    "takeaway_cohorts",
    "takeaway_concentration",
    "takeaway_distribution",
    "takeaway_expected",
    "takeaway_groups",
    "takeaway_ltv_cac",
    "takeaway_stages",
    "p_alive",
    "predict_clv",
    "requirements_text",
    "score_customers",
    "select_purchase_model",
    "silence_threshold",
    "stage_alive",
    "value_by_group",
    "value_concentration",
]

MODELS: dict[str, type] = {
    "bgnbd": BetaGeoFitter,
    "pareto": ParetoNBDFitter,
    "mbgnbd": ModifiedBetaGeoFitter,
}
MODEL_LABELS = {"bgnbd": "BG/NBD", "pareto": "Pareto/NBD", "mbgnbd": "Modified BG/NBD"}
PARAM_NAMES = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "pareto": ("r", "alpha", "s", "beta"),
    "mbgnbd": ("r", "alpha", "a", "b"),
}
PERIOD_UNITS = {"D": "days", "W": "weeks", "M": "months"}
PERIOD_UNIT = {"D": "day", "W": "week", "M": "month"}
# Page and CLI defaults: one year ahead, discounted at the equivalent of 1% a week.
DEFAULT_HORIZON = {"D": 364, "W": 52, "M": 12}
DEFAULT_WEEKLY_RATE = 0.01

# Data requirements, checked before any fit (callers may pass their own).
DEFAULT_THRESHOLDS: Mapping[str, int] = {
    "min_customers": 500,
    "min_repeat_customers": 100,
    "min_history_days": 180,
}
# Per-cohort fits see a slice of the customers, so they accept smaller groups.
COHORT_THRESHOLDS: Mapping[str, int] = {
    "min_customers": 100,
    "min_repeat_customers": 30,
    "min_history_days": 90,
}
# Pareto/NBD is fitted by Nelder-Mead (as lifetimes does) over a likelihood with hypergeometric
# terms, evaluated per distinct (x, t_x) and (x, T) pair (clm_core.clv_likelihood): ~350
# evaluations, ~1 s for 15,000 patterns, ~3 s for 41,000 (100,000 customers at day resolution),
# ~7.5 s for 325,000 (was ~100 s for 15,000 with lifetimes' own fit). Above this many distinct
# patterns it is skipped (auto, validation) or replaced by the next model, with a note.
PARETO_MAX_PATTERNS = 20_000
AUTO_CANDIDATES = ("bgnbd", "mbgnbd", "pareto")
_FALLBACKS = {
    "bgnbd": ("mbgnbd", "pareto"),
    "mbgnbd": ("bgnbd", "pareto"),
    "pareto": ("bgnbd", "mbgnbd"),
}
# Seconds one model may take to fit, all its attempts together (pages, CLI and API default).
# BG/NBD on a million customers fits in ~1 s, Pareto/NBD on 20,000 patterns in ~1-3 s.
DEFAULT_TIME_BUDGET = 5.0
# The share of a model's budget its fast-likelihood attempts may use: when they stall, lifetimes'
# own fitter (from lifetimes' start) gets the rest.
ENGINE_SHARE = 0.6
# A parameter is at its bound 0 when setting it to 0 (others fixed) lowers the log-likelihood by
# less than this: half the 5% critical value 2.71 of the likelihood-ratio test of a parameter on
# its boundary (a 50:50 mixture of chi-square(0) and chi-square(1), Self & Liang 1987). Keeping
# the other parameters fixed only makes the drop larger, so the test flags no more than it should.
DEGENERATE_LL = 2.71 / 2
_AT_BOUND = 1e-12  # "0" for a parameter in lifetimes' scaled unit (log(0) is not finite)
# The shape parameters tested against their bound 0. The time scales alpha and beta are not: at
# 0 a rate is infinite, which is no simpler model, and with s -> 0 beta is not identified at all.
_SHAPE_PARAMS = {"bgnbd": ("r", "a", "b"), "mbgnbd": ("r", "a", "b"), "pareto": ("r", "s")}
# The parameters whose bound 0 means "almost nobody drops out" (BG/NBD p ~ Beta(a, b) -> 0;
# Pareto/NBD mu ~ Gamma(s, beta) -> 0): the model then keeps P(alive) close to 1.
_DROPOUT_PARAM = {"bgnbd": "a", "mbgnbd": "a", "pareto": "s"}
RETRY_PENALIZER = 0.001  # smallest penalizer tried after a failed fit
LOOSE_TOL_FACTOR = 100.0  # tolerance multiplier of the last retry of a model
_TOL = {"bgnbd": 1e-7, "mbgnbd": 1e-7, "pareto": 1e-6}  # lifetimes' defaults; Pareto tighter
# Gamma-Gamma assumes spend per order is independent of purchase frequency (FHL 2005, JMR).
SPEND_CORRELATION_LIMIT = 0.3
ALIVE_BANDS = ((0.0, 0.25, "P(alive) < 25%"), (0.25, 0.5, "25-50%"), (0.5, 0.75, "50-75%"),
               (0.75, 1.0000001, "≥ 75%"))  # fmt: skip
_SCORE_CELLS = 4_000_000  # time steps x pairs evaluated at once (memory bound)
_FIT_ERRORS = (
    ConvergenceError,
    ValueError,
    FloatingPointError,
    ZeroDivisionError,
    OverflowError,
    np.linalg.LinAlgError,
)

# The CLI's CSV contract (issue 5), then the page's extra columns.
CSV_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "p_alive",
    "expected_purchases",
    "expected_avg_value",
    "clv",
]
CLV_COLUMNS = [
    *CSV_COLUMNS,
    "expected_next_order",
    "clv_rank",
    "clv_decile",
    "revenue",
    "first_purchase",
    "last_purchase",
]


# ------------------------------------------------------------------------------------ notes


@dataclass(frozen=True)
class Note:
    """A sentence for the user: an English template and its values, translated when shown."""

    template: str
    values: tuple[tuple[str, object], ...] = ()

    def text(self, lang: str = "en") -> str:
        return translate(self.template, lang).format(**dict(self.values))

    def __str__(self) -> str:
        return self.text("en")


NO_SPEND = (
    "The data has no amounts: only the purchase model is fitted (P(alive), expected purchases); "
    "no spend model and no value in money."
)


def _note(template: str, **values) -> Note:
    return Note(template, tuple(values.items()))


def _not_enough(template: str, **values) -> NotEnoughData:
    """NotEnoughData whose message can be translated (``template``/``values`` attributes)."""
    err = NotEnoughData(template.format(**values))
    err.template = template
    err.values = values
    return err


def _label(name: str) -> str:
    return MODEL_LABELS.get(name, name)


# ---------------------------------------------------------------------------------- checks


def _as_of(con: duckdb.DuckDBPyConnection, as_of) -> dt.date:
    if as_of is None:
        return as_of_default(con)
    try:
        return pd.Timestamp(as_of).date()
    except (ValueError, TypeError):
        raise UsageError(f"Not a date: {as_of!r} (use YYYY-MM-DD).") from None


def _check_options(
    *,
    model: str = "auto",
    period: str = "W",
    horizon: int = 52,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    penalizer: float = 0.0,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
) -> None:
    if model != "auto" and model not in MODELS:
        raise UsageError(f"model must be auto, {', '.join(MODELS)}; not {model!r}.")
    if period not in PERIOD_UNITS:
        raise UsageError(f"period must be D, W or M; not {period!r}.")
    if int(horizon) != horizon or not 1 <= horizon <= 3660:
        raise UsageError(
            f"horizon must be a whole number of periods from 1 to 3660; not {horizon}."
        )
    if not 0 <= discount_rate < 1:
        raise UsageError(
            f"discount rate must be at least 0 and below 1 per period; not {discount_rate}."
        )
    if not 0 < margin <= 1:
        raise UsageError(
            f"margin must be above 0 and at most 1 (a share of revenue); not {margin}."
        )
    if not 0 <= penalizer <= 10:
        raise UsageError(f"penalizer must be between 0 and 10; not {penalizer}.")
    if time_budget is not None and not (math.isfinite(time_budget) and time_budget > 0):
        raise UsageError(
            f"time budget must be a positive number of seconds per model; not {time_budget}."
        )


def check_enough_data(
    summary: pd.DataFrame,
    *,
    as_of: dt.date,
    thresholds: Mapping[str, int] | None = None,
    what: str = "Customer value",
) -> None:
    """Refuse, in plain words, data the purchase models cannot learn from (before fitting).

    ``summary`` is :func:`clm_core.summary.customer_summary` output. Thresholds default to
    :data:`DEFAULT_THRESHOLDS`: customers with a purchase, repeat buyers (purchases on two or
    more days; the models learn purchase rates and drop-out from them) and days of history.
    """
    th = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    n = len(summary)
    if n < th["min_customers"]:
        raise _not_enough(
            "{what} needs at least {need} customers with a purchase on or before {as_of}; "
            "there are {n}.",
            what=what, need=th["min_customers"], as_of=as_of, n=n,
        )  # fmt: skip
    repeat = int((summary["frequency"] > 0).sum())
    if repeat < th["min_repeat_customers"]:
        raise _not_enough(
            "{what} needs at least {need} repeat buyers (customers who bought on two or more "
            "days); there are {n}. The models learn purchase rates from repeat purchases.",
            what=what, need=th["min_repeat_customers"], n=repeat,
        )  # fmt: skip
    first = pd.Timestamp(summary["first_purchase"].min()).date()
    days = (as_of - first).days
    if days < th["min_history_days"]:
        raise _not_enough(
            "{what} needs at least {need} days of purchase history; the data covers {days} "
            "days ({first} to {as_of}).",
            what=what, need=th["min_history_days"], days=days, first=first, as_of=as_of,
        )  # fmt: skip


# -------------------------------------------------------------------------------- patterns


def _frt(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    missing = [c for c in ("frequency", "recency", "T") if c not in X.columns]
    if missing:
        raise UsageError(f"The summary lacks column(s) {', '.join(missing)}.")
    if len(X) == 0:
        raise _not_enough("There are no customers to fit.")
    return (
        X["frequency"].to_numpy(dtype=float),
        X["recency"].to_numpy(dtype=float),
        X["T"].to_numpy(dtype=float),
    )


def _distinct(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's distinct-tuple code, the first row of each tuple and the tuple counts.

    Hash-based (``pd.factorize``), no sort: a million rows of three columns take ~0.2 s, a
    third of a sorted ``groupby``. Tuples are numbered in order of first appearance.
    """
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for col in columns:
        codes, uniq = pd.factorize(col, use_na_sentinel=False)
        key = key * len(uniq) + codes
    codes, uniq = pd.factorize(key, use_na_sentinel=False)
    # numbered by first appearance: a row is its tuple's first iff it raises the running max
    first = np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)
    return codes, first, np.bincount(codes, minlength=len(uniq)).astype(np.int64)


@dataclass(frozen=True)
class _Patterns:
    """Distinct (frequency, recency, T) patterns, their customer counts and each row's pattern.

    Patterns are numbered in order of first appearance (:func:`_distinct`); ``data`` is the same set in lifetimes' fitting unit, built once and shared by
    every model fitted on it.
    """

    codes: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    weight: np.ndarray

    @classmethod
    def of(cls, frequency, recency, T) -> _Patterns:
        codes, first, counts = _distinct(frequency, recency, T)
        return cls(
            codes=codes,
            frequency=np.asarray(frequency, float)[first],
            recency=np.asarray(recency, float)[first],
            T=np.asarray(T, float)[first],
            weight=counts,
        )

    @functools.cached_property
    def scale(self) -> float:
        """lifetimes' time scaling: the oldest customer has age 1."""
        return 1.0 / float(self.T.max())

    @functools.cached_property
    def data(self) -> lk.PurchaseData:
        c = self.scale
        return lk.PurchaseData.of(self.frequency, self.recency * c, self.T * c, self.weight)

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.frequency, self.recency, self.T

    @property
    def n_customers(self) -> int:
        return int(self.weight.sum())

    def __len__(self) -> int:
        return len(self.weight)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """lifetimes prints the optimizer output on failure and numpy warns on overflow: silence.
    Also keeps BLAS in this thread (see :func:`clm_core.clv_likelihood.one_blas_thread`)."""
    with (
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
        np.errstate(all="ignore"),
        lk.one_blas_thread(),
    ):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _time_params(name: str, params: Sequence[float], scale: float) -> np.ndarray:
    """Parameters with the time-rate ones (alpha, beta) expressed per ``1/scale`` periods."""
    p = np.asarray(params, dtype=float).copy()
    for i, n in enumerate(PARAM_NAMES[name]):
        if n in ("alpha", "beta"):
            p[i] *= scale
    return p


def _scaled_fitter(name: str, fitter, scale: float):
    """A copy of a fitted lifetimes model in the time unit lifetimes fits in (the oldest
    customer has age 1): hypergeometric terms stay well conditioned, and probabilities and
    expected counts are the same in any unit (times are scaled with the parameters)."""
    scaled = copy.copy(fitter)
    scaled.params_ = pd.Series(
        _time_params(name, fitter.params_.to_numpy(), scale), index=fitter.params_.index
    )
    return scaled


def _log_likelihood(name: str, params: Sequence[float], f, r, T, w, scale: float = 1.0) -> float:
    """Total log-likelihood in period units, without penalty (lifetimes' objective).

    Evaluated in the scaled unit and converted: changing the time unit by a factor c changes a
    customer's likelihood by c^-x (x purchase-time densities), so LL = LL_c + sum(w x) log c.
    """
    data = lk.PurchaseData.of(f, np.asarray(r) * scale, np.asarray(T) * scale, w)
    return _scaled_log_likelihood(name, _time_params(name, params, scale), data, scale)


def _scaled_log_likelihood(name: str, p: np.ndarray, data: lk.PurchaseData, scale: float) -> float:
    """:func:`_log_likelihood` from parameters and patterns already in the scaled unit."""
    with _quiet():
        if name == "pareto":  # lifetimes divides this objective by the mean weight
            ll = -lk.negative_log_likelihood(name, p, data) * float(np.mean(data.w))
        else:
            ll = -lk.negative_log_likelihood(name, np.log(p), data) * float(np.sum(data.w))
    return ll + float(np.sum(data.w * data.x)) * math.log(scale)


def _fit_with_lifetimes(
    name: str, pat: _Patterns, pen: float, tol: float, rng, deadline: float | None
) -> np.ndarray:
    """lifetimes' own fitter on the weighted patterns, from lifetimes' own start (Pareto/NBD:
    N(1, 0.05), drawn from ``rng``): the fitted parameters in lifetimes' scaled unit.

    lifetimes' ``fit`` minimises ``self._negative_log_likelihood``; an instance attribute wraps
    it in the deadline check (:func:`clm_core.clv_likelihood.with_deadline`)."""
    fitter = MODELS[name](penalizer_coef=pen)
    nll = type(fitter)._negative_log_likelihood
    fitter._negative_log_likelihood = lk.with_deadline(nll, deadline)
    options = {"weights": pat.weight, "tol": tol}
    if name == "pareto":
        options["initial_params"] = rng.normal(1.0, 0.05, size=4)
    with _quiet():
        fitter.fit(pat.frequency, pat.recency, pat.T, **options)
    params = _time_params(name, fitter.params_.to_numpy(), pat.scale)
    if not (np.all(np.isfinite(params)) and np.all(params > 0)):
        raise ValueError("the parameters are not finite and positive.")
    return params


def _at_bound(name: str, params: np.ndarray, ll: float, pat: _Patterns) -> tuple[str, ...]:
    """The shape parameters the data cannot tell from 0 (``params`` in the scaled unit): see
    :data:`DEGENERATE_LL`."""
    out = []
    for i, param in enumerate(PARAM_NAMES[name]):
        if param not in _SHAPE_PARAMS[name]:
            continue
        bound = np.array(params, dtype=float)
        bound[i] = _AT_BOUND
        drop = ll - _scaled_log_likelihood(name, bound, pat.data, pat.scale)
        if drop < DEGENERATE_LL:  # a NaN likelihood at the bound says nothing: not flagged
            out.append(param)
    return tuple(out)


def _degenerate_note(name: str, param: str, value: float) -> Note:
    if _DROPOUT_PARAM[name] == param:
        return _note(
            "{model} is degenerate: {param} = {value} is at its bound 0 (the data cannot tell "
            "it from 0), so the model sees almost no drop-out and keeps P(alive) close to 1 "
            "for nearly everyone.",
            model=_label(name), param=param, value=f"{value:.3g}",
        )  # fmt: skip
    return _note(
        "{model} is degenerate: {param} = {value} is at its bound 0 (the data cannot tell it "
        "from 0); treat its predictions with care.",
        model=_label(name), param=param, value=f"{value:.3g}",
    )  # fmt: skip


def _lifetimes_model(name: str, scaled_params: np.ndarray, scale: float, penalizer: float):
    """A lifetimes fitter holding parameters found by :mod:`clm_core.clv_likelihood` (period
    units), so every prediction comes from lifetimes' own methods."""
    fitter = MODELS[name](penalizer_coef=penalizer)
    fitter._scale = scale
    fitter.params_ = pd.Series(
        _time_params(name, scaled_params, 1.0 / scale), index=list(PARAM_NAMES[name])
    )
    fitter.predict = fitter.conditional_expected_number_of_purchases_up_to_time
    return fitter


# --------------------------------------------------------------------------- purchase model


class PurchaseModel(BaseEstimator):
    """A BG/NBD, Pareto/NBD or Modified BG/NBD model fitted by lifetimes on distinct patterns.

    Parameters
    ----------
    model : "bgnbd", "pareto" or "mbgnbd".
    penalizer : lifetimes' ``penalizer_coef`` (L2 on the parameters), with the same meaning as
        in a plain per-customer lifetimes fit (rescaled for Pareto/NBD, whose lifetimes
        objective is not a per-customer mean).
    fallback : when the fit fails even with a looser tolerance and a small penalizer, try the
        other models (each attempt is reported in ``notes_``).
    retries : retry a failed fit with a looser tolerance (x100), then a small penalizer.
    max_pareto_patterns : above this many distinct patterns Pareto/NBD is not attempted.
    random_state : seeds the jitter of Pareto/NBD's Nelder-Mead start (a BG/NBD-based guess
        times N(1, 0.05), like lifetimes' own random start around 1).
    time_budget : seconds each model may take, all its attempts together (None: no limit): the
        fast likelihood's attempts get :data:`ENGINE_SHARE` of it, lifetimes' own fitter the
        rest; a model past it gives up with a note and the next one in the plan is tried.

    Attributes after ``fit``: ``model_`` (the lifetimes fitter), ``model_name_``, ``params_``
    (dict, lifetimes' names; alpha and beta per period), ``penalizer_``, ``log_likelihood_``,
    ``n_customers_``, ``n_repeat_``, ``n_patterns_``, ``fit_seconds_``, ``notes_``,
    ``engine_`` ("clm_core": the fast likelihood; "lifetimes": lifetimes' own fitter, after the
    fast one failed), ``degenerate_`` (names of the parameters at their bound 0, see the module
    docstring), and ``scale_`` / ``scaled_model_``: the same model in lifetimes' fitting unit
    (1/max T periods), which every prediction uses (see :func:`_scaled_fitter`).
    """

    def __init__(
        self,
        model: str = "bgnbd",
        *,
        penalizer: float = 0.0,
        fallback: bool = True,
        retries: bool = True,
        max_pareto_patterns: int = PARETO_MAX_PATTERNS,
        random_state: int | None = 0,
        time_budget: float | None = DEFAULT_TIME_BUDGET,
    ) -> None:
        self.model = model
        self.penalizer = penalizer
        self.fallback = fallback
        self.retries = retries
        self.max_pareto_patterns = max_pareto_patterns
        self.random_state = random_state
        self.time_budget = time_budget

    # -- fitting

    def fit(self, X: pd.DataFrame, y=None) -> PurchaseModel:
        """Fit on a customer summary (columns frequency, recency, T in period units)."""
        return self._fit_patterns(_Patterns.of(*_frt(X)))

    def _plan(self) -> list[tuple[str, float, float, str]]:
        """(model, penalizer, tolerance factor, engine) of each attempt, in order. Each model
        ends with lifetimes' own fitter: slower on many patterns, so tried last."""
        if self.model not in MODELS:
            raise UsageError(f"model must be one of {', '.join(MODELS)}; not {self.model!r}.")
        retry = max(self.penalizer * 10, RETRY_PENALIZER)
        plan = [(self.model, self.penalizer, 1.0, "clm_core")]
        if self.retries:  # a looser tolerance first: it does not bias the estimates
            plan += [
                (self.model, self.penalizer, LOOSE_TOL_FACTOR, "clm_core"),
                (self.model, retry, 1.0, "clm_core"),
            ]
        plan.append((self.model, self.penalizer, 1.0, "lifetimes"))
        if self.fallback:
            for other in _FALLBACKS[self.model]:
                plan += [
                    (other, self.penalizer, 1.0, "clm_core"),
                    (other, retry, 1.0, "clm_core"),
                    (other, self.penalizer, 1.0, "lifetimes"),
                ]
        return plan

    def _deadline(self, began: float, engine: str) -> float | None:
        """When an attempt of a model whose first attempt began at ``began`` must stop: the
        fast likelihood may use :data:`ENGINE_SHARE` of the budget, lifetimes' fitter the rest."""
        if self.time_budget is None:
            return None
        return began + self.time_budget * (ENGINE_SHARE if engine == "clm_core" else 1.0)

    def _timeout_reason(self, engine: str) -> str:
        if engine == "clm_core":
            return (
                f"it took more than {ENGINE_SHARE * self.time_budget:g} s of its "
                f"{self.time_budget:g} s time budget."
            )
        return f"it ran out of its time budget of {self.time_budget:g} s."

    def _fit_patterns(self, pat: _Patterns) -> PurchaseModel:
        began = time.perf_counter()
        if pat.T.max() <= 0:
            raise _not_enough("Every customer made their first purchase on the as-of date.")
        scale = pat.scale
        rng = np.random.default_rng(self.random_state)
        notes: list[Note] = []
        failed = 0
        skipped_pareto = False
        began_model: dict[str, float] = {}  # each model's budget runs from its first attempt
        out_of_time: set[tuple[str, str]] = set()  # (model, engine)
        for name, pen, tol_factor, engine in self._plan():
            if name == "pareto" and len(pat) > self.max_pareto_patterns:
                if not skipped_pareto:
                    notes.append(
                        _note(
                            "Pareto/NBD skipped: {n} distinct purchase patterns is more than "
                            "{limit}; its fit takes several seconds at that size.",
                            n=f"{len(pat):,}",
                            limit=f"{self.max_pareto_patterns:,}",
                        )  # fmt: skip
                    )
                    skipped_pareto = True
                continue
            if (name, engine) in out_of_time:  # its time is spent: no more such attempts
                continue
            deadline = self._deadline(began_model.setdefault(name, time.perf_counter()), engine)
            try:
                fitter, ll = self._lifetimes_fit(
                    name, pat, pen, tol_factor, rng, deadline=deadline, engine=engine
                )
                reason = self._invalid(name, fitter, ll, pat)
            except lk.FitTimeout:
                out_of_time.add((name, engine))
                reason = self._timeout_reason(engine)
            except _FIT_ERRORS as e:
                reason = first_line(e)
            if reason:
                failed += 1
                notes.append(
                    _note(
                        "{model} (penalizer {pen}, tolerance x{tol}) did not fit: {reason}",
                        model=_label(name),
                        pen=pen,
                        tol=f"{tol_factor:g}",
                        reason=reason,
                    )  # fmt: skip
                )
                continue
            if name != self.model:
                notes.append(
                    _note(
                        "Used {model} (penalizer {pen}) instead of the requested {asked}, which "
                        "could not be fitted.",
                        model=_label(name),
                        pen=pen,
                        asked=_label(self.model),
                    )
                )
            elif failed:
                notes.append(
                    _note(
                        "{model} fitted with penalizer {pen} and tolerance x{tol} after {n} "
                        "failed attempt(s).",
                        model=_label(name),
                        pen=pen,
                        tol=f"{tol_factor:g}",
                        n=failed,
                    )
                )
            scaled = _time_params(name, fitter.params_.to_numpy(), scale)
            self.degenerate_ = _at_bound(name, scaled, ll, pat)
            notes.extend(_degenerate_note(name, p, fitter.params_[p]) for p in self.degenerate_)
            self.model_ = fitter
            self.model_name_ = name
            self.params_ = {k: float(v) for k, v in fitter.params_.items()}
            self.penalizer_ = pen
            self.scale_ = scale
            self.scaled_model_ = _scaled_fitter(name, fitter, scale)
            self.log_likelihood_ = ll
            self.n_customers_ = pat.n_customers
            self.n_repeat_ = int(pat.weight[pat.frequency > 0].sum())
            self.n_patterns_ = len(pat)
            self.fit_seconds_ = time.perf_counter() - began
            self.notes_ = tuple(notes)
            return self
        tried = "; ".join(str(n) for n in notes)
        err = _not_enough(
            "No purchase model could be fitted to this data. Tried: {tried} This usually "
            "means too few repeat purchases or a very short history.",
            tried=tried,
        )
        err.attempts = tuple(notes)  # each attempt and why it failed, for auto's notes
        raise err

    def _lifetimes_fit(
        self,
        name,
        pat: _Patterns,
        pen: float,
        tol_factor: float,
        rng,
        *,
        deadline: float | None = None,
        engine: str = "clm_core",
    ):
        """Fit lifetimes' objective on the patterns, with the fast likelihood (``engine``
        "clm_core", :mod:`clm_core.clv_likelihood`) or lifetimes' own fitter ("lifetimes");
        returns the lifetimes fitter and the log-likelihood in period units."""
        if name == "pareto":
            # lifetimes' Pareto objective is a sum over rows divided by the mean weight: scale
            # the penalizer so it means what it means in a per-customer fit.
            pen = pen * len(pat) / pat.n_customers
        tol = _TOL[name] * tol_factor
        if engine == "lifetimes":
            params = _fit_with_lifetimes(name, pat, pen, tol, rng, deadline)
        else:
            start = None
            if name == "pareto":
                start = _pareto_start(pat, deadline) * rng.normal(1.0, 0.05, size=4)
            with _quiet():
                out = lk.fit_purchase(
                    name, pat.data, penalizer=pen, tol=tol, initial_params=start,
                    deadline=deadline,
                )  # fmt: skip
            self.evaluations_ = out.evaluations  # optimiser work of the last attempt
            params = out.params
            if not np.all(np.isfinite(params)) or np.any(params <= 0):
                raise ValueError("the parameters are not finite and positive.")
        self.engine_ = engine
        ll = _scaled_log_likelihood(name, params, pat.data, pat.scale)
        return _lifetimes_model(name, params, pat.scale, pen), ll

    @staticmethod
    def _invalid(name: str, fitter, ll: float, pat: _Patterns) -> str | None:
        if not np.isfinite(ll):
            return "the log-likelihood is not finite."
        scale = pat.scale
        m = _scaled_fitter(name, fitter, scale)
        f, r, T = pat.frequency, pat.recency * scale, pat.T * scale
        with _quiet():
            pa = np.asarray(m.conditional_probability_alive(f, r, T), dtype=float)
            e1 = m.conditional_expected_number_of_purchases_up_to_time(scale, f, r, T)
        if not (np.all(np.isfinite(pa)) and np.all((pa >= 0) & (pa <= 1))):
            return "P(alive) is not a probability for every customer."
        if not np.all(np.isfinite(e1)):
            return "expected purchases are not finite for every customer."
        return None

    # -- fitted quantities

    @property
    def label_(self) -> str:
        check_is_fitted(self)
        return _label(self.model_name_)

    @property
    def aic_(self) -> float:
        check_is_fitted(self)
        return 2 * len(self.params_) - 2 * self.log_likelihood_

    @property
    def bic_(self) -> float:
        check_is_fitted(self)
        return len(self.params_) * math.log(self.n_customers_) - 2 * self.log_likelihood_

    def log_likelihood(self, X: pd.DataFrame) -> float:
        """Total log-likelihood of other customers under the fitted parameters."""
        check_is_fitted(self)
        f, r, T = _frt(X)
        params = list(self.params_.values())
        return _log_likelihood(self.model_name_, params, f, r, T, np.ones_like(f), self.scale_)

    def p_alive(self, X: pd.DataFrame) -> np.ndarray:
        """P(alive at T | frequency, recency, T) per row of ``X``."""
        check_is_fitted(self)
        pat = _Patterns.of(*_frt(X))
        c = self.scale_
        with _quiet():
            pa = self.scaled_model_.conditional_probability_alive(
                pat.frequency, pat.recency * c, pat.T * c
            )
        return np.clip(np.asarray(pa, dtype=float), 0.0, 1.0)[pat.codes]

    def expected_purchases(self, X: pd.DataFrame, t: float) -> np.ndarray:
        """E[repeat purchases in the next ``t`` periods | history] per row (direct lifetimes)."""
        check_is_fitted(self)
        pat = _Patterns.of(*_frt(X))
        c = self.scale_
        with _quiet():
            e = self.scaled_model_.conditional_expected_number_of_purchases_up_to_time(
                float(t) * c, pat.frequency, pat.recency * c, pat.T * c
            )
        return np.asarray(e, dtype=float)[pat.codes]

    def score(self, X: pd.DataFrame, *, horizon: int, discount_rate: float) -> pd.DataFrame:
        """Per row of ``X``: ``p_alive``, ``expected_purchases`` over ``horizon`` periods,
        ``discounted_purchases`` (sum of per-period expected purchases / (1+d)^i) and
        ``next_purchase_periods`` (periods until one more purchase is expected if alive; NaN
        beyond the horizon). See the module docstring for how it is computed per pattern."""
        check_is_fitted(self)
        return self._score_patterns(
            _Patterns.of(*_frt(X)), horizon=horizon, discount_rate=discount_rate
        )

    def _score_patterns(self, pat: _Patterns, *, horizon: int, discount_rate: float):
        m, c = self.scaled_model_, self.scale_
        pair_code, first, _ = _distinct(pat.frequency, pat.T)
        pf, pT = pat.frequency[first], pat.T[first] * c
        ref_r = np.where(pf > 0, pT, 0.0)  # a purchase at T: the pair's most certain history
        steps = np.arange(1, int(horizon) + 1, dtype=float)
        disc = (1.0 + discount_rate) ** -steps
        cond_h = np.empty(len(pf))
        dep = np.empty(len(pf))
        nxt = np.full(len(pf), np.nan)
        chunk = max(1, _SCORE_CELLS // len(steps))
        with _quiet():
            pa = m.conditional_probability_alive(pat.frequency, pat.recency * c, pat.T * c)
            pa = np.asarray(pa, dtype=float)
            pa_ref = np.asarray(m.conditional_probability_alive(pf, ref_r, pT), dtype=float)
            for lo in range(0, len(pf), chunk):
                sl = slice(lo, lo + chunk)
                e = m.conditional_expected_number_of_purchases_up_to_time(
                    steps[:, None] * c, pf[sl], ref_r[sl], pT[sl]
                )
                cond = np.asarray(e, dtype=float) / pa_ref[sl]  # E[N(t) | alive, x, T]
                inc = np.diff(cond, axis=0, prepend=0.0)
                cond_h[sl] = cond[-1]
                dep[sl] = disc @ inc
                nxt[sl] = _first_crossing(cond)
        pa = np.clip(pa.astype(float), 0.0, 1.0)
        out = pd.DataFrame(
            {
                "p_alive": pa,
                "expected_purchases": pa * cond_h[pair_code],
                "discounted_purchases": pa * dep[pair_code],
                "next_purchase_periods": nxt[pair_code],
            }
        )
        bad = ~np.isfinite(out[["expected_purchases", "discounted_purchases"]].to_numpy())
        if bad.any():
            raise _not_enough(
                "{model} gave no finite prediction for {n} customers; try another model or a "
                "penalizer.",
                model=self.label_, n=int(pat.weight[bad.any(axis=1)].sum()),
            )  # fmt: skip
        return out.iloc[pat.codes].reset_index(drop=True)


def _distinct_pairs(f: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (frequency, monetary_value) pairs and their counts."""
    codes, first, counts = _distinct(f, m)
    return f[first], m[first], counts


def _pareto_start(pat: _Patterns, deadline: float | None = None) -> np.ndarray:
    """Nelder-Mead start for Pareto/NBD in lifetimes' scaled unit, from a quick BG/NBD fit.

    Both models share the gamma purchase-rate mixing (r, alpha); the Pareto drop-out rate
    mixing (s, beta) starts at s = 1 with mean rate P(drop after a purchase) x purchase rate =
    a/(a+b) * r/alpha. From there Nelder-Mead needs about a third of the evaluations of
    lifetimes' default start near 1 (CDNow and demo data: same optimum).

    With BG/NBD's a near 0 (nobody drops out: Online Retail) that beta is huge and the
    hypergeometric terms of the likelihood overflow (NaN); then beta starts at alpha, where
    their argument |alpha - beta| / (max(alpha, beta) + t) is 0. (From lifetimes' start near 1
    Nelder-Mead wanders along the flat ridge s -> 0 towards large beta, where each evaluation
    is slow and lifetimes' P(alive) is NaN for the heaviest buyers.) Falls back to ones
    (lifetimes' start) when BG/NBD does not fit.
    """
    try:
        with _quiet():
            r, alpha, a, b = lk.fit_purchase("bgnbd", pat.data, deadline=deadline).params
            for beta in ((a + b) / a * alpha / r, alpha):  # alpha in scaled unit
                start = np.array([r, alpha, 1.0, beta])
                if (
                    np.all(np.isfinite(start))
                    and np.all(start > 0)
                    and np.isfinite(lk.negative_log_likelihood("pareto", start, pat.data))
                ):
                    return start
    except lk.FitTimeout:
        raise
    except _FIT_ERRORS:
        pass
    return np.ones(4)


def _first_crossing(cond: np.ndarray, level: float = 1.0) -> np.ndarray:
    """Time (in steps, interpolated) at which each column of ``cond`` first reaches ``level``."""
    above = cond >= level
    has = above.any(axis=0)
    idx = above.argmax(axis=0)
    cols = np.arange(cond.shape[1])
    hi = cond[idx, cols]
    lo = np.where(idx > 0, cond[np.maximum(idx - 1, 0), cols], 0.0)
    frac = np.where(hi > lo, (level - lo) / np.where(hi > lo, hi - lo, 1.0), 1.0)
    return np.where(has, idx + frac, np.nan)


def select_purchase_model(
    X: pd.DataFrame,
    *,
    model: str = "auto",
    penalizer: float = 0.0,
    random_state: int | None = 0,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
) -> tuple[PurchaseModel, pd.DataFrame, tuple[Note, ...]]:
    """Fit the requested model, or with ``model="auto"`` every candidate, and pick one.

    Auto picks the lowest BIC on the fitted data (all candidates model the same (x, t_x, T) so
    their likelihoods compare; Fader, Hardie & Lee 2005 compare BG/NBD and Pareto/NBD the same
    way). Pareto/NBD is a candidate only up to :data:`PARETO_MAX_PATTERNS` patterns. A candidate
    that does not converge within ``time_budget`` seconds gives up and is left out, with the
    reason in the notes. Returns the chosen model, a table of candidates (with each one's
    parameters, engine and degenerate parameters) and notes on the choice, including the
    other candidates' notes (a degenerate fit).
    """
    return _select(_Patterns.of(*_frt(X)), model, penalizer, random_state, time_budget)


def _select(
    pat: _Patterns,
    model: str,
    penalizer: float,
    random_state: int | None,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
) -> tuple[PurchaseModel, pd.DataFrame, tuple[Note, ...]]:
    options = {"penalizer": penalizer, "random_state": random_state, "time_budget": time_budget}
    if model != "auto":
        pm = PurchaseModel(model, **options)
        pm._fit_patterns(pat)
        return pm, _candidates([pm], pm), ()
    fits, notes = [], []
    for name in AUTO_CANDIDATES:
        pm = PurchaseModel(name, fallback=False, retries=False, **options)
        try:
            pm._fit_patterns(pat)
        except NotEnoughData as e:
            if name == "pareto" and len(pat) > PARETO_MAX_PATTERNS:
                notes.append(
                    _note(
                        "Pareto/NBD not compared: {n} distinct purchase patterns is more than "
                        "{limit} (its fit takes several seconds at that size).",
                        n=f"{len(pat):,}",
                        limit=f"{PARETO_MAX_PATTERNS:,}",
                    )  # fmt: skip
                )
            else:  # why each attempt failed, else a plain "could not be fitted"
                why = getattr(e, "attempts", ()) or (
                    _note("{model} could not be fitted to this data.", model=_label(name)),
                )
                notes.extend(why)
            continue
        fits.append(pm)
    if not fits:
        raise _not_enough(
            "No purchase model could be fitted to this data. This usually means too few repeat "
            "purchases or a very short history."
        )
    best = min(fits, key=lambda m: m.bic_)
    others = ", ".join(f"{m.label_} {m.bic_:,.1f}" for m in fits if m is not best)
    notes.insert(
        0,
        _note(
            "Auto chose {model}: lowest BIC ({bic}){others}.",
            model=best.label_,
            bic=f"{best.bic_:,.1f}",
            others=f"; {others}" if others else "",
        ),
    )
    # the chosen model's own notes travel with it (PurchaseModel.notes_); the others' here
    notes.extend(n for m in fits if m is not best for n in m.notes_)
    return best, _candidates(fits, best), tuple(notes)


def _candidates(fits: list[PurchaseModel], chosen: PurchaseModel) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "model": m.model_name_,
                "label": m.label_,
                "log_likelihood": m.log_likelihood_,
                "aic": m.aic_,
                "bic": m.bic_,
                "fit_seconds": m.fit_seconds_,
                "chosen": m is chosen,
                "params": dict(m.params_),
                "engine": m.engine_,
                "degenerate": m.degenerate_,
            }
            for m in fits
        ]
    )


def _degenerate(candidates: pd.DataFrame) -> dict[str, dict[str, float]]:
    """{model: {parameter: value}} of the parameters at their bound, per fitted candidate."""
    return {
        row.model: {p: row.params[p] for p in row.degenerate}
        for row in candidates.itertuples()
        if row.degenerate
    }


# ------------------------------------------------------------------------------ spend model


class SpendModel(BaseEstimator):
    """Gamma-Gamma model of the average order value (lifetimes ``GammaGammaFitter``).

    Fitted on repeat buyers with a positive average repeat order (frequency > 0 and
    monetary_value > 0), on distinct (frequency, monetary_value) pairs with counts as weights.
    Before fitting it measures the Pearson correlation between frequency and monetary value:
    the model assumes independence, so ``correlation_`` above :data:`SPEND_CORRELATION_LIMIT`
    in absolute value is reported in ``notes_``. A failed fit, or q <= 1 (no finite population
    mean), is retried with a looser tolerance, a penalizer, then lifetimes' ``q_constraint``; if
    all fail, or ``time_budget`` seconds (all attempts together) run out, the
    expected average value falls back to the customer's own average (repeat buyers) or the mean
    of all repeat buyers' averages, and ``fallback_`` is True.
    """

    def __init__(
        self,
        *,
        penalizer: float = 0.0,
        random_state: int | None = 0,
        time_budget: float | None = DEFAULT_TIME_BUDGET,
    ) -> None:
        self.penalizer = penalizer
        self.random_state = random_state
        self.time_budget = time_budget

    def fit(self, X: pd.DataFrame, y=None) -> SpendModel:
        began = time.perf_counter()
        f = X["frequency"].to_numpy(float)
        m = X["monetary_value"].to_numpy(float)
        use = (f > 0) & (m > 0) & np.isfinite(m)
        self.n_customers_ = int(use.sum())
        if self.n_customers_ < 2:
            raise _not_enough("The spend model needs repeat buyers with a positive order value.")
        with np.errstate(all="ignore"):
            corr = np.corrcoef(f[use], m[use])[0, 1] if self.n_customers_ > 2 else np.nan
        self.correlation_ = float(corr) if np.isfinite(corr) else 0.0
        notes: list[Note] = []
        if abs(self.correlation_) > SPEND_CORRELATION_LIMIT:
            notes.append(
                _note(
                    "Frequency and average order value are correlated (r = {r}) among repeat "
                    "buyers; the Gamma-Gamma model assumes they are independent (|r| below "
                    "{limit}), so treat expected order values with care.",
                    r=f"{self.correlation_:.2f}",
                    limit=SPEND_CORRELATION_LIMIT,
                )  # fmt: skip
            )
        pf, pm, w = _distinct_pairs(f[use], m[use])
        data = lk.SpendData.of(pf, pm, w)
        retry = max(self.penalizer * 10, RETRY_PENALIZER)
        deadline = None if self.time_budget is None else began + self.time_budget
        self.model_ = None
        plan = (
            (self.penalizer, 1.0, False),
            (self.penalizer, LOOSE_TOL_FACTOR, False),  # BFGS "precision loss" on big data
            (retry, 1.0, False),
            (retry, 1.0, True),
        )
        for pen, tol_factor, q_constraint in plan:
            fitter = GammaGammaFitter(penalizer_coef=pen)
            try:
                with _quiet():
                    tol = 1e-7 * tol_factor  # lifetimes' default 1e-7
                    out = lk.fit_spend(
                        data, penalizer=pen, tol=tol, q_constraint=q_constraint,
                        deadline=deadline,
                    )  # fmt: skip
                fitter.params_ = pd.Series(out.params, index=["p", "q", "v"])
                params = out.params
                reason = None
                if not np.all(np.isfinite(params)):
                    reason = "the parameters are not finite."
                elif fitter.params_["q"] <= 1:
                    reason = "q <= 1, so the population mean order value is not finite."
            except lk.FitTimeout:
                notes.append(
                    _note(
                        "Gamma-Gamma (penalizer {pen}, tolerance x{tol}) did not fit: {reason}",
                        pen=pen,
                        tol=f"{tol_factor:g}",
                        reason=f"it ran out of its time budget of {self.time_budget:g} s.",
                    )
                )
                break
            except _FIT_ERRORS as e:
                reason = first_line(e)
            if reason is None:
                self.model_ = fitter
                self.penalizer_ = pen
                if notes and "did not fit" in notes[-1].template:
                    notes.append(
                        _note(
                            "Gamma-Gamma fitted with penalizer {pen} and tolerance x{tol}.",
                            pen=pen,
                            tol=f"{tol_factor:g}",
                        )
                    )
                break
            notes.append(
                _note(
                    "Gamma-Gamma (penalizer {pen}, tolerance x{tol}) did not fit: {reason}",
                    pen=pen,
                    tol=f"{tol_factor:g}",
                    reason=reason,
                )
            )
        if self.model_ is None:
            self.params_ = {}
            self.log_likelihood_ = float("nan")
            self.penalizer_ = float("nan")
            self.fallback_ = True
            self.population_mean_ = float(np.average(pm, weights=w))
            notes.append(
                _note(
                    "Expected order value falls back to each repeat buyer's own average and, "
                    "for one-time buyers, the average of all repeat buyers ({mean})",
                    mean=f"{self.population_mean_:,.2f}",
                )
            )
        else:
            self.params_ = {k: float(v) for k, v in self.model_.params_.items()}
            self.fallback_ = False
            p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
            self.population_mean_ = v * p / (q - 1)
            with _quiet():
                nll = lk.negative_log_likelihood("gamma_gamma", np.log([p, q, v]), data)
            self.log_likelihood_ = float(-nll * w.sum())
        self.fit_seconds_ = time.perf_counter() - began
        self.notes_ = tuple(notes)
        return self

    def expected_avg_value(self, X: pd.DataFrame) -> np.ndarray:
        """E[average order value | frequency, monetary_value] per row (money units)."""
        check_is_fitted(self)
        f = X["frequency"].to_numpy(float)
        m = X["monetary_value"].to_numpy(float)
        if self.fallback_:
            return np.where((f > 0) & (m > 0), m, self.population_mean_)
        with _quiet():
            return np.asarray(self.model_.conditional_expected_average_profit(f, m), dtype=float)


# ------------------------------------------------------------------------------ public API


def score_customers(
    purchase: PurchaseModel,
    spend: SpendModel | None,
    summary: pd.DataFrame,
    *,
    horizon: int,
    discount_rate: float,
    margin: float = 1.0,
    patterns: _Patterns | None = None,
) -> pd.DataFrame:
    """Per row of ``summary``: ``p_alive``, ``expected_purchases`` (next ``horizon`` periods),
    ``expected_avg_value``, ``clv`` (``margin`` x expected order value x purchases discounted at
    ``discount_rate`` per period) and ``next_purchase_periods``, from fitted models. Without a
    spend model (data without amounts) the two money columns are NaN."""
    pat = patterns if patterns is not None else _Patterns.of(*_frt(summary))
    sc = purchase._score_patterns(pat, horizon=int(horizon), discount_rate=discount_rate)
    eav = spend.expected_avg_value(summary) if spend is not None else np.full(len(summary), np.nan)
    return pd.DataFrame(
        {
            "p_alive": sc["p_alive"].to_numpy(),
            "expected_purchases": sc["expected_purchases"].to_numpy(),
            "expected_avg_value": eav,
            "clv": margin * eav * sc["discounted_purchases"].to_numpy(),
            "next_purchase_periods": sc["next_purchase_periods"].to_numpy(),
        }
    )


@dataclass(frozen=True)
class ClvResult:
    """Per-customer CLV and everything needed to explain it (picklable: no lifetimes objects).

    ``customers`` has :data:`CLV_COLUMNS`; ``params`` use lifetimes' names with alpha (and beta)
    per ``period``; money in the dataset's currency; ``horizon`` in periods; ``discount_rate``
    per period; ``degenerate``: the parameters at their bound 0 of each fitted candidate (see
    the module docstring), alpha and beta per ``period``.
    """

    customers: pd.DataFrame
    model: str
    params: dict
    spend_params: dict
    log_likelihood: float
    spend_log_likelihood: float
    spend_correlation: float
    n_customers: int
    n_repeat: int
    n_patterns: int
    fit_seconds: float
    period: str
    as_of: dt.date
    horizon: int
    discount_rate: float
    margin: float
    penalizer: float
    candidates: pd.DataFrame
    notes: tuple[Note, ...] = field(default=())
    # {model: {parameter: value}} of every fitted candidate's parameters at their bound 0
    degenerate: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def model_label(self) -> str:
        return _label(self.model)

    @property
    def units(self) -> str:
        return PERIOD_UNITS[self.period]


def fit_clv(
    con: duckdb.DuckDBPyConnection,
    *,
    model: str = "auto",
    period: str = "W",
    as_of: dt.date | str | None = None,
    horizon: int = 52,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    penalizer: float = 0.0,
    random_state: int = 0,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
) -> ClvResult:
    """Fit the purchase and spend models on the dataset and score every customer.

    ``horizon`` is a whole number of ``period``s, ``discount_rate`` is per period, ``margin`` the
    profit share of revenue (1.0 = revenue), ``time_budget`` the seconds each model may take to
    fit (None: no limit). Raises NotEnoughData (plain words, before fitting) when the data
    misses :data:`DEFAULT_THRESHOLDS`.
    """
    _check_options(
        model=model, period=period, horizon=horizon, discount_rate=discount_rate,
        margin=margin, penalizer=penalizer, time_budget=time_budget,
    )  # fmt: skip
    began = time.perf_counter()
    as_of = _as_of(con, as_of)
    summary = customer_summary(con, as_of=as_of, period=period)
    check_enough_data(summary, as_of=as_of)
    pat = _Patterns.of(*_frt(summary))
    pm, candidates, choice_notes = _select(pat, model, penalizer, random_state, time_budget)
    # A purchase log without money has no spend to model: P(alive) and expected purchases
    # only; the money columns stay empty (NaN), never 0.
    money = has_amounts(con)
    spend = (
        SpendModel(random_state=random_state, time_budget=time_budget).fit(summary)
        if money
        else None
    )
    sc = score_customers(
        pm, spend, summary, horizon=horizon, discount_rate=discount_rate, margin=margin,
        patterns=pat,
    )  # fmt: skip
    days = sc["next_purchase_periods"].to_numpy() * period_days(period)
    next_order = pd.Timestamp(as_of) + pd.to_timedelta(np.ceil(days), unit="D")
    keep = ["customer_id", "frequency", "recency", "T", "monetary_value"]
    out = pd.concat(
        [
            summary[keep].reset_index(drop=True),
            sc[["p_alive", "expected_purchases", "expected_avg_value", "clv"]],
            pd.DataFrame({"expected_next_order": next_order}),
            summary[["revenue", "first_purchase", "last_purchase"]].reset_index(drop=True),
        ],
        axis=1,
    )
    if not money:
        out[["monetary_value", "revenue"]] = np.nan
    # Without money, customers rank by their expected (discounted) purchases instead.
    worth = out["clv"] if money else pd.Series(sc["expected_purchases"].to_numpy())
    rank = worth.rank(ascending=False, method="first").astype("int64")
    out["clv_rank"] = rank
    out["clv_decile"] = np.ceil(rank * 10 / len(out)).astype("int64")  # 1 = top 10%
    return ClvResult(
        customers=out[CLV_COLUMNS],
        model=pm.model_name_,
        params=pm.params_,
        spend_params=spend.params_ if spend else {},
        log_likelihood=pm.log_likelihood_,
        spend_log_likelihood=spend.log_likelihood_ if spend else float("nan"),
        spend_correlation=spend.correlation_ if spend else float("nan"),
        n_customers=pm.n_customers_,
        n_repeat=pm.n_repeat_,
        n_patterns=pm.n_patterns_,
        fit_seconds=time.perf_counter() - began,
        period=period,
        as_of=as_of,
        horizon=int(horizon),
        discount_rate=float(discount_rate),
        margin=float(margin),
        penalizer=pm.penalizer_,
        candidates=candidates,
        notes=tuple(choice_notes) + pm.notes_ + (spend.notes_ if spend else (_note(NO_SPEND),)),
        degenerate=_degenerate(candidates),
    )


def predict_clv(con: duckdb.DuckDBPyConnection, **options) -> pd.DataFrame:
    """Per-customer CLV (:data:`CLV_COLUMNS`): ``fit_clv(con, **options).customers``; the
    options, units and errors are :func:`fit_clv`'s.

    ``clv_decile`` 1 is the most valuable 10% of customers; ``expected_next_order`` is the date
    by which a customer, if still alive, is expected to have bought once more (NaT when that is
    beyond the horizon).
    """
    return fit_clv(con, **options).customers


def for_customers(res: ClvResult, ids: pd.Series | None) -> ClvResult:
    """``res`` showing only the customers in ``ids`` (all when None).

    The page fits once on every customer and shows the global filters' customers
    (``clm_core.filters.filtered_customer_ids``): parameters, ranks and deciles stay those of the
    fit on every customer, so a filter change selects rows instead of refitting.
    """
    if ids is None:
        return res
    return replace(res, customers=keep_customers(res.customers, ids))


# Said on the page: the models do not change with the sidebar filters.
FITTED_ON_ALL = (
    "Models fitted on all {n} customers; filters only choose which customers are shown and "
    "counted ({k} here)."
)


def p_alive(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    period: str = "W",
) -> pd.DataFrame:
    """``customer_id, p_alive``: probability each customer is still active at ``as_of``.

    Uses the purchase model auto-selection of :func:`fit_clv` (the spend model is not needed).
    """
    _check_options(period=period)
    as_of = _as_of(con, as_of)
    summary = customer_summary(con, as_of=as_of, period=period)
    check_enough_data(summary, as_of=as_of, what="P(alive)")
    pm, _, _ = select_purchase_model(summary, model="auto")
    return pd.DataFrame({"customer_id": summary["customer_id"], "p_alive": pm.p_alive(summary)})


# ------------------------------------------------------------------------ analysis tables


def equivalent_rate(rate: float, *, from_period: str = "W", to_period: str = "W") -> float:
    """The discount rate per ``to_period`` that compounds like ``rate`` per ``from_period``."""
    if from_period == to_period:
        return float(rate)
    return (1.0 + rate) ** (period_days(to_period) / period_days(from_period)) - 1.0


def default_discount_rate(period: str) -> float:
    """The default discount rate per ``period``: :data:`DEFAULT_WEEKLY_RATE` compounded."""
    return equivalent_rate(DEFAULT_WEEKLY_RATE, to_period=period)


def annual_rate(rate: float, period: str) -> float:
    """The yearly rate (365.25 days) equivalent to ``rate`` per ``period``."""
    return (1.0 + rate) ** (365.25 / period_days(period)) - 1.0


def describe_fit(res: ClvResult, lang: str = "en") -> str:
    """One line on the fitted models: parameters (alpha per period), spend check, size, time."""
    params = ", ".join(f"{n} = {v:.3f}" for n, v in res.params.items())
    spend = ", ".join(f"{n} = {v:.2f}" for n, v in res.spend_params.items())
    return translate(
        "{model} ({params}; alpha per {unit}) · Gamma-Gamma ({spend}) · frequency/order value "
        "correlation r = {r} (independence assumed below {limit}) · {n} customers in {p} "
        "distinct patterns, fitted and scored in {s} s",
        lang,
    ).format(
        model=translate(res.model_label, lang),
        params=params,
        unit=translate(PERIOD_UNIT[res.period], lang),
        spend=spend or translate("fallback", lang),
        r=f"{res.spend_correlation:.2f}",
        limit=SPEND_CORRELATION_LIMIT,
        n=f"{res.n_customers:,}",
        p=f"{res.n_patterns:,}",
        s=f"{res.fit_seconds:.1f}",
    )


def requirements_text(period: str, rate: float, lang: str = "en") -> str:
    """The discount rate per year and the data thresholds, stated before fitting."""
    th = DEFAULT_THRESHOLDS
    return translate(
        "Discount ≈ {annual} a year. The models need at least {c} customers, {r} repeat buyers "
        "and {d} days of history.",
        lang,
    ).format(
        annual=f"{annual_rate(rate, period):.1%}",
        c=th["min_customers"],
        r=th["min_repeat_customers"],
        d=th["min_history_days"],
    )


def error_text(err: Exception, lang: str = "en") -> str:
    """A NotEnoughData from this module in the user's language."""
    template = getattr(err, "template", None)
    if template is None:
        return translate(str(err), lang)
    values = {k: translate(v, lang) if isinstance(v, str) else v for k, v in err.values.items()}
    return translate(template, lang).format(**values)


# Column headers for people, with units ({units} periods, {currency} money, {h} horizon).
_HEADERS = {
    "channel": "Acquisition channel",
    "customers": "Customers",
    "past_margin": "Margin so far per customer ({currency})",
    "future_clv": "Expected future value per customer ({currency})",
    "cac": "CAC ({currency})",
    "ltv": "LTV ({currency})",
    "ltv_cac": "LTV / CAC",
    "payback_periods": "Payback ({units})",
    "label": "Model",
    "log_likelihood": "Log-likelihood",
    "aic": "AIC",
    "bic": "BIC",
    "holdout_mae": "Holdout MAE (purchases per customer)",
    "aggregate_error": "Aggregate holdout error",
    "predicted": "Predicted holdout purchases",
    "actual": "Actual holdout purchases",
    "fit_seconds": "Fit time (s)",
    "best": "Best",
    "cohort": "Cohort",
    "repeat_buyers": "Repeat buyers",
    "status": "Status",
    "reason": "Reason",
    "model": "Model",
    "ll_pooled": "Log-likelihood, pooled model",
    "ll_cohort": "Log-likelihood, own model",
    "p_alive_pooled": "Mean P(alive), pooled model",
    "p_alive_cohort": "Mean P(alive), own model",
    "clv_pooled": "Mean CLV, pooled model ({currency})",
    "clv_cohort": "Mean CLV, own model ({currency})",
    "alpha": "alpha (per {unit})",
    "beta": "beta (per {unit})",
    "parameter": "Parameter",
    "published": "Published",
    "fitted": "Fitted here",
    "tolerance": "Tolerance",
    "passed": "Passed",
}


_DECIMALS = {
    **dict.fromkeys(("log_likelihood", "aic", "bic", "ll_pooled", "ll_cohort"), 1),
    **dict.fromkeys(("predicted", "actual", "payback_periods"), 0),
    **dict.fromkeys(("past_margin", "future_clv", "cac", "ltv", "clv_pooled", "clv_cohort"), 2),
    **dict.fromkeys(("holdout_mae", "p_alive_pooled", "p_alive_cohort"), 3),
    **dict.fromkeys(("r", "alpha", "a", "b", "s", "beta", "fitted"), 4),
    "ltv_cac": 1,
    "fit_seconds": 2,
}


def display_table(
    df: pd.DataFrame, *, period: str = "W", currency: str = "", lang: str = "en"
) -> pd.DataFrame:
    """A result table with translated headers that carry their units; text values translated."""
    values = {
        "units": translate(PERIOD_UNITS[period], lang),
        "unit": translate(PERIOD_UNIT[period], lang),
        "currency": currency,
    }
    out = df.copy()
    for col in out.columns:
        if col == "aggregate_error":
            out[col] = out[col].map(lambda v: f"{v:+.1%}")
        elif col in _DECIMALS and pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(_DECIMALS[col])
    for col in ("status", "label", "model"):
        if col in out.columns and out[col].dtype == object:
            out[col] = out[col].map(lambda v: translate(v, lang) if isinstance(v, str) else v)
    if "reason" in out.columns:
        out["reason"] = out["reason"].map(lambda n: n.text(lang) if isinstance(n, Note) else "")
    names = {c: translate(_HEADERS[c], lang).format(**values) for c in out.columns if c in _HEADERS}
    return out.rename(columns=names)


def display_customers(
    customers: pd.DataFrame, *, period: str, horizon: int, currency: str, lang: str = "en"
) -> pd.DataFrame:
    """The CLV table for people: most valuable first, units in every column name; the columns
    ``customers`` lacks are left out (money, for data without amounts)."""
    units = translate(PERIOD_UNITS[period], lang)
    names = {
        "customer_id": translate("Customer", lang),
        "clv_rank": translate("Rank", lang),
        "clv_decile": translate("Decile (1 = top 10%)", lang),
        "clv": translate("CLV ({currency})", lang).format(currency=currency),
        "p_alive": translate("P(alive)", lang),
        "expected_purchases": translate("Expected purchases (next {h} {units})", lang).format(
            h=horizon, units=units
        ),
        "expected_avg_value": translate("Expected order value ({currency})", lang).format(
            currency=currency
        ),
        "expected_next_order": translate("Next order expected by (if alive)", lang),
        "frequency": translate("Repeat purchases", lang),
        "recency": translate("Recency ({units})", lang).format(units=units),
        "T": translate("Age T ({units})", lang).format(units=units),
        "monetary_value": translate("Average repeat order ({currency})", lang).format(
            currency=currency
        ),
        "revenue": translate("Net revenue so far ({currency})", lang).format(currency=currency),
    }
    keep = [c for c in names if c in customers.columns]  # data without amounts: no money
    out = customers.sort_values("clv_rank")[keep].rename(columns=names)
    return out.reset_index(drop=True)


def clv_summary(customers: pd.DataFrame) -> dict[str, float]:
    """Headline numbers: total, mean and median CLV, mean P(alive), expected purchases."""
    clv = customers["clv"]
    return {
        "customers": float(len(customers)),
        "total": float(clv.sum()),
        "mean": float(clv.mean()),
        "median": float(clv.median()),
        "p_alive_mean": float(customers["p_alive"].mean()),
        "expected_purchases": float(customers["expected_purchases"].sum()),
        "likely_alive_share": float((customers["p_alive"] >= 0.5).mean()),
    }


def value_concentration(
    customers: pd.DataFrame, *, tops: Sequence[float] = (1, 5, 10, 20)
) -> pd.DataFrame:
    """Share of total CLV held by the top ``tops`` percent of customers."""
    values = np.sort(customers["clv"].to_numpy(float))[::-1]
    total = values.sum()
    rows = []
    for pct in tops:
        n = max(1, math.ceil(len(values) * pct / 100))
        rows.append(
            {
                "top_pct": float(pct),
                "customers": n,
                "clv": float(values[:n].sum()),
                "share": float(values[:n].sum() / total) if total > 0 else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def lorenz_curve(customers: pd.DataFrame, *, points: int = 201) -> pd.DataFrame:
    """Cumulative share of CLV against share of customers, most valuable first."""
    values = np.sort(customers["clv"].to_numpy(float))[::-1]
    cum = np.concatenate([[0.0], np.cumsum(values)])
    share = np.linspace(0, 1, points)
    idx = np.round(share * len(values)).astype(int)
    total = cum[-1] if cum[-1] > 0 else 1.0
    return pd.DataFrame({"customer_share": share, "value_share": cum[idx] / total})


def value_by_group(customers: pd.DataFrame, groups: pd.DataFrame, by: str) -> pd.DataFrame:
    """CLV per group (``groups`` has customer_id and ``by``), largest total first."""
    df = customers.merge(groups[["customer_id", by]], on="customer_id", how="left")
    df[by] = df[by].fillna("unknown").astype(str)
    g = df.groupby(by, sort=False).agg(
        customers=("customer_id", "size"),
        clv_total=("clv", "sum"),
        clv_mean=("clv", "mean"),
        p_alive_mean=("p_alive", "mean"),
        expected_purchases_mean=("expected_purchases", "mean"),
    )
    g["customer_share"] = g["customers"] / g["customers"].sum()
    total = g["clv_total"].sum()
    g["clv_share"] = g["clv_total"] / total if total > 0 else np.nan
    g = g.reset_index().rename(columns={by: "group"})
    return g.sort_values("clv_total", ascending=False, ignore_index=True)


def group_takeaway(table: pd.DataFrame) -> dict | None:
    """The group whose share of value most exceeds its share of customers."""
    if table.empty:
        return None
    gap = table["clv_share"] - table["customer_share"]
    row = table.loc[gap.idxmax()]
    return {
        "group": row["group"],
        "clv_share": float(row["clv_share"]),
        "customer_share": float(row["customer_share"]),
        "clv_mean": float(row["clv_mean"]),
    }


def _silence(customers: pd.DataFrame) -> pd.Series:
    return customers["T"] - customers["recency"]


def alive_matrix(
    customers: pd.DataFrame, *, value: str = "p_alive", max_frequency: int = 10, bins: int = 10
) -> pd.DataFrame:
    """Mean ``value`` of real customers by repeat purchases x periods since the last purchase.

    Long format: ``frequency`` (0..max-1 and "max+"), ``silence`` (bin label, periods since the
    last purchase), ``silence_order``, ``value``, ``customers``. Empty cells are absent.
    """
    silence = _silence(customers)
    top = max(float(silence.max()), 1.0)
    edges = np.unique(np.ceil(np.linspace(0, top, bins + 1)))
    if len(edges) < 2:
        edges = np.array([0.0, top])
    edges[-1] = max(edges[-1], top) + 1e-9
    order = np.clip(np.searchsorted(edges, silence.to_numpy(), side="right") - 1, 0, len(edges) - 2)
    labels = [f"{edges[i]:.0f}-{edges[i + 1]:.0f}" for i in range(len(edges) - 1)]
    freq = customers["frequency"].clip(upper=max_frequency).astype(int)
    df = pd.DataFrame(
        {
            "frequency": np.where(freq >= max_frequency, f"{max_frequency}+", freq.astype(str)),
            "frequency_order": freq.to_numpy(),
            "silence_order": order,
            "value": customers[value].to_numpy(float),
        }
    )
    g = (
        df.groupby(["frequency_order", "frequency", "silence_order"])
        .agg(value=("value", "mean"), customers=("value", "size"))
        .reset_index()
    )
    g["silence"] = [labels[i] for i in g["silence_order"]]
    return g[["frequency", "frequency_order", "silence", "silence_order", "value", "customers"]]


def silence_threshold(customers: pd.DataFrame, *, level: float = 0.5) -> float | None:
    """Periods of silence after which repeat buyers are, on average, more likely gone than alive.

    Repeat buyers are grouped by whole periods since their last purchase; returns the first
    group (with at least 10 customers) whose mean P(alive) is below ``level``, or None.
    """
    rep = customers[customers["frequency"] > 0]
    if rep.empty:
        return None
    g = rep.groupby(np.floor(_silence(rep)))["p_alive"].agg(["mean", "size"])
    g = g[g["size"] >= 10]
    below = g.index[g["mean"] < level]
    return float(below.min()) if len(below) else None


def stage_alive(customers: pd.DataFrame, stages: pd.DataFrame) -> pd.DataFrame:
    """Customers per lifecycle ``stage`` x P(alive) band (:data:`ALIVE_BANDS`), with shares."""
    df = customers[["customer_id", "p_alive"]].merge(
        stages[["customer_id", "stage"]], on="customer_id", how="inner"
    )
    edges = [b[0] for b in ALIVE_BANDS] + [ALIVE_BANDS[-1][1]]
    labels = [b[2] for b in ALIVE_BANDS]
    df["band"] = pd.cut(df["p_alive"], edges, labels=labels, right=False).astype(str)
    g = df.groupby(["stage", "band"]).size().reset_index(name="customers")
    g["share_of_stage"] = g["customers"] / g.groupby("stage")["customers"].transform("sum")
    g["band_order"] = g["band"].map({b: i for i, b in enumerate(labels)})
    return g.sort_values(["stage", "band_order"], ignore_index=True)


# --------------------------------------------------------------------- customer attributes

_FIRSTS_SQL = """
select customer_id,
       min(cast(order_ts as date)) as first_d,
       arg_min(channel, order_ts) as first_channel
from transactions
where cast(order_ts as date) <= $as_of and customer_id is not null and amount >= 0
group by customer_id
"""

_ATTRIBUTES_SQL = """
with firsts as ({firsts}){customers}
select f.customer_id,
       coalesce({channel}f.first_channel, 'unknown') as channel,
       cast(year(f.first_d) as varchar) || '-Q' || cast(quarter(f.first_d) as varchar) as cohort,
       {cost} as acquisition_cost,
       f.first_d as first_purchase
from firsts f{join}
"""


def _attributes_sql(con: duckdb.DuckDBPyConnection) -> str:
    cols = column_names(con, "customers")
    parts = {"channel": "", "cost": "cast(null as double)", "customers": "", "join": ""}
    pick = []
    if "acquisition_channel" in cols:
        pick.append("any_value(acquisition_channel) as acquisition_channel")
        parts["channel"] = "c.acquisition_channel, "
    if "acquisition_cost" in cols:
        pick.append("avg(acquisition_cost) as acquisition_cost")
        parts["cost"] = "c.acquisition_cost"
    if pick:
        parts["customers"] = (
            f", c as (select customer_id, {', '.join(pick)} from customers group by 1)"
        )
        parts["join"] = " left join c using (customer_id)"
    return _ATTRIBUTES_SQL.format(firsts=_FIRSTS_SQL, **parts)


def customer_attributes(
    con: duckdb.DuckDBPyConnection, *, as_of: dt.date | str | None = None
) -> pd.DataFrame:
    """``customer_id, channel, cohort, acquisition_cost, first_purchase`` of every buyer by as_of.

    ``channel``: the customers table's acquisition_channel, else the channel of the first order;
    ``cohort``: first-purchase quarter ("2024-Q1"); ``acquisition_cost`` from the customers
    table (NaN without it).
    """
    require_table(con, "transactions", "customer value")
    as_of = _as_of(con, as_of)
    sql = _attributes_sql(con) + " order by customer_id"
    return query_df(con, sql, {"as_of": as_of})


# --------------------------------------------------------------------------------- LTV/CAC

# Net revenue per channel by whole periods since each customer's first purchase, and how many
# customers were observed for that whole period (so late joiners do not dilute the curve).
_PAYBACK_SQL = """
with attrs as (select customer_id, first_purchase, channel from ({attributes})),
rev as (
    select a.channel,
           cast(floor(date_diff('day', a.first_purchase, cast(t.order_ts as date)) / $k)
                as integer) as p,
           sum(t.amount) as revenue
    from transactions t join attrs a using (customer_id)
    where cast(t.order_ts as date) <= $as_of and t.amount is not null
    group by 1, 2
),
exposure as (
    select channel,
           cast(floor(date_diff('day', first_purchase, $as_of) / $k) as integer) as full_periods,
           count(*) as customers
    from attrs group by 1, 2
)
select r.channel, r.p, r.revenue,
       (select sum(e.customers) from exposure e
        where e.channel = r.channel and e.full_periods >= r.p + 1) as exposed
from rev r
order by r.channel, r.p
"""


def channel_margin_curve(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: dt.date | str | None = None,
    period: str = "W",
    margin: float = 1.0,
) -> pd.DataFrame:
    """Average cumulative margin per acquired customer by periods since the first purchase.

    Columns ``channel, periods, cum_margin``: after ``periods`` whole periods, the mean margin
    (``margin`` x net revenue, returns included) of the channel's customers, counting each
    period only over customers observed for all of it (so late joiners do not dilute it).
    """
    _check_options(period=period, margin=margin)
    as_of = _as_of(con, as_of)
    curve = query_df(
        con,
        _PAYBACK_SQL.format(attributes=_attributes_sql(con)),
        {"as_of": as_of, "k": period_days(period)},
    )
    curve = curve[(curve["p"] >= 0) & (curve["exposed"].fillna(0) > 0)].copy()
    curve["step"] = margin * curve["revenue"] / curve["exposed"]
    curve["cum_margin"] = curve.groupby("channel")["step"].cumsum()
    curve["periods"] = curve["p"] + 1
    return curve[["channel", "periods", "cum_margin"]].reset_index(drop=True)


def channel_costs(attributes: pd.DataFrame) -> pd.DataFrame:
    """``channel, customers, cac``: mean acquisition_cost per channel from the customers table."""
    g = attributes.assign(channel=attributes["channel"].fillna("unknown")).groupby("channel")
    out = g.agg(customers=("customer_id", "size"), cac=("acquisition_cost", "mean"))
    return out.reset_index().sort_values("customers", ascending=False, ignore_index=True)


def ltv_cac(
    customers: pd.DataFrame,
    attributes: pd.DataFrame,
    curve: pd.DataFrame,
    *,
    margin: float = 1.0,
    costs: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """LTV/CAC and payback by acquisition channel.

    ``ltv`` per customer = margin on net revenue so far + predicted future CLV (``customers``
    from :func:`fit_clv`, over its horizon); ``cac`` from ``costs`` (channel -> cost per acquired
    customer) where given, else the mean acquisition_cost of the customers table (NaN without
    it). ``payback_periods``: periods after the first purchase until the average customer's
    actual cumulative margin (:func:`channel_margin_curve`) covers the CAC; NaN when that is not
    reached within the observed history.
    """
    df = customers[["customer_id", "clv", "revenue"]].merge(
        attributes[["customer_id", "channel", "acquisition_cost"]], on="customer_id", how="left"
    )
    df["channel"] = df["channel"].fillna("unknown")
    df["past_margin"] = margin * df["revenue"]
    g = df.groupby("channel").agg(
        customers=("customer_id", "size"),
        past_margin=("past_margin", "mean"),
        future_clv=("clv", "mean"),
        data_cac=("acquisition_cost", "mean"),
    )
    given = pd.Series(dict(costs or {}), dtype=float)
    g["cac"] = given.reindex(g.index).fillna(g["data_cac"])
    g["ltv"] = g["past_margin"] + g["future_clv"]
    g["ltv_cac"] = np.where(g["cac"] > 0, g["ltv"] / g["cac"].where(g["cac"] > 0), np.nan)
    payback = {}
    for channel, part in curve.groupby("channel"):
        cac = g["cac"].get(channel, np.nan)
        hit = part.loc[part["cum_margin"] >= cac, "periods"] if np.isfinite(cac) else []
        payback[channel] = float(min(hit)) if len(hit) else np.nan
    g["payback_periods"] = pd.Series(payback, dtype=float).reindex(g.index)
    g = g.reset_index().drop(columns="data_cac")
    return g.sort_values("ltv_cac", ascending=False, na_position="last", ignore_index=True)


# ------------------------------------------------------------------------------ takeaways


def _money(value: float, currency: str, lang: str) -> str:
    from clm_core.formatting import fmt_money

    return fmt_money(value, currency, lang)


def takeaway_distribution(
    customers: pd.DataFrame, *, currency: str = "USD", lang: str = "en"
) -> str:
    s = clv_summary(customers)
    ratio = s["mean"] / s["median"] if s["median"] > 0 else float("inf")
    return translate(
        "Half of the customers are expected to be worth less than {median}; the mean is "
        "{mean}, {ratio} the median, because a minority carries most of the value.",
        lang,
    ).format(
        median=_money(s["median"], currency, lang),
        mean=_money(s["mean"], currency, lang),
        ratio=f"{ratio:.1f}x" if np.isfinite(ratio) else "∞",
    )


def takeaway_concentration(concentration: pd.DataFrame, *, lang: str = "en") -> str:
    share = dict(zip(concentration["top_pct"], concentration["share"], strict=True))
    return translate(
        "The top 20% of customers hold {s20} of the expected future value; the top 1% alone "
        "hold {s1}.",
        lang,
    ).format(s20=f"{share.get(20.0, np.nan):.0%}", s1=f"{share.get(1.0, np.nan):.0%}")


def takeaway_groups(table: pd.DataFrame, *, currency: str = "USD", lang: str = "en") -> str:
    top = group_takeaway(table)
    if top is None:
        return translate("No groups to compare.", lang)
    return translate(
        "{group} holds {value} of future value with {customers} of the customers "
        "(mean CLV {mean}).",
        lang,
    ).format(
        group=translate(str(top["group"]), lang),
        value=f"{top['clv_share']:.0%}",
        customers=f"{top['customer_share']:.0%}",
        mean=_money(top["clv_mean"], currency, lang),
    )


def takeaway_alive(customers: pd.DataFrame, *, period: str, lang: str = "en") -> str:
    limit = silence_threshold(customers)
    units = translate(PERIOD_UNITS[period], lang)
    if limit is None:
        return translate(
            "Repeat buyers stay more likely alive than gone however long they have been silent.",
            lang,
        )
    return translate(
        "Repeat buyers silent for {n} {units} or more are, on average, more likely gone than "
        "alive (P(alive) below 50%).",
        lang,
    ).format(n=f"{limit:.0f}", units=units)


def takeaway_expected(
    customers: pd.DataFrame, *, horizon: int, period: str, lang: str = "en"
) -> str:
    rep = customers["frequency"] > 0
    top = customers.loc[rep, "expected_purchases"].quantile(0.9) if rep.any() else 0.0
    one = customers.loc[~rep, "expected_purchases"].mean() if (~rep).any() else 0.0
    return translate(
        "Over the next {h} {units} the top 10% of repeat buyers are expected to buy {top} times "
        "or more; one-time buyers {one} times on average.",
        lang,
    ).format(
        h=horizon, units=translate(PERIOD_UNITS[period], lang), top=f"{top:.1f}", one=f"{one:.2f}"
    )


def takeaway_stages(table: pd.DataFrame, *, silent=("At risk", "Churned"), lang: str = "en") -> str:
    quiet = table[table["stage"].isin(silent)]
    alive = int(quiet.loc[quiet["band"].isin([b[2] for b in ALIVE_BANDS[2:]]), "customers"].sum())
    gone = int(quiet["customers"].sum()) - alive
    return translate(
        "{alive} customers in silent stages (at risk, churned) are probably still alive "
        "(P(alive) at least 50%): silent but probably alive. {gone} are silent and gone.",
        lang,
    ).format(alive=f"{alive:,}", gone=f"{gone:,}")


def takeaway_cohorts(cc: CohortComparison, *, lang: str = "en") -> str:
    if not np.isfinite(cc.bic_cohorts):
        return translate("No cohort is large enough for its own fit.", lang)
    better = cc.bic_cohorts < cc.bic_pooled
    return translate(
        "One model per cohort: BIC {c} against {p} for one pooled model, so separate models "
        "fit {verdict}.",
        lang,
    ).format(
        c=f"{cc.bic_cohorts:,.0f}",
        p=f"{cc.bic_pooled:,.0f}",
        verdict=translate("better" if better else "no better", lang),
    )


def takeaway_ltv_cac(table: pd.DataFrame, *, lang: str = "en") -> str:
    known = table[np.isfinite(table["ltv_cac"])]
    if known.empty:
        return translate("Enter acquisition costs per channel to see LTV/CAC.", lang)
    best = known.iloc[0]
    below = int((known["ltv_cac"] < 3).sum())
    return translate(
        "{best} returns {ratio}:1; {below} of {n} channels are below the 3:1 rule of thumb.",
        lang,
    ).format(
        best=translate(str(best["channel"]), lang),
        ratio=f"{best['ltv_cac']:.1f}",
        below=below,
        n=len(known),
    )


# --------------------------------------------------------------------------- cohort fits


@dataclass(frozen=True)
class CohortComparison:
    """Per-cohort purchase-model fits next to the pooled fit.

    ``table``: cohort, customers, repeat_buyers, status ("fitted" or why skipped), model,
    parameters, log-likelihood of the cohort's customers under its own and the pooled fit,
    mean P(alive) and mean CLV under both (the spend model is pooled in both). ``bic_pooled`` /
    ``bic_cohorts`` compare one pooled model with one model per fitted cohort on the same
    customers (lower is better).
    """

    by: str
    table: pd.DataFrame
    bic_pooled: float
    bic_cohorts: float
    notes: tuple[Note, ...] = ()


def cohort_fits(
    con: duckdb.DuckDBPyConnection,
    *,
    by: str = "cohort",
    model: str = "bgnbd",
    period: str = "W",
    as_of: dt.date | str | None = None,
    horizon: int = 52,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    penalizer: float = 0.0,
    time_budget: float | None = DEFAULT_TIME_BUDGET,
) -> CohortComparison:
    """One purchase model per acquisition cohort (``by`` = "cohort": first-purchase quarter, or
    "channel"), compared with the pooled model. Cohorts missing :data:`COHORT_THRESHOLDS` are
    listed as skipped with the reason."""
    if by not in ("cohort", "channel"):
        raise UsageError(f"by must be cohort or channel; not {by!r}.")
    _check_options(
        model=model, period=period, horizon=horizon, discount_rate=discount_rate,
        margin=margin, penalizer=penalizer, time_budget=time_budget,
    )  # fmt: skip
    as_of = _as_of(con, as_of)
    summary = customer_summary(con, as_of=as_of, period=period)
    check_enough_data(summary, as_of=as_of)
    summary = summary.merge(
        customer_attributes(con, as_of=as_of)[["customer_id", by]], on="customer_id", how="left"
    )
    summary[by] = summary[by].fillna("unknown")
    pooled, _, _ = select_purchase_model(
        summary, model=model, penalizer=penalizer, time_budget=time_budget
    )
    spend = SpendModel(time_budget=time_budget).fit(summary)
    scoring = {"horizon": horizon, "discount_rate": discount_rate, "margin": margin}
    pooled_sc = score_customers(pooled, spend, summary, **scoring)
    rows, notes = [], []
    ll_pooled_sum = ll_cohort_sum = 0.0
    n_fitted = customers_fitted = 0
    for key, idx in summary.groupby(by).indices.items():
        part = summary.iloc[idx].reset_index(drop=True)
        row = {
            "cohort": key,
            "customers": len(part),
            "repeat_buyers": int((part["frequency"] > 0).sum()),
            "p_alive_pooled": float(pooled_sc["p_alive"].iloc[idx].mean()),
            "clv_pooled": float(pooled_sc["clv"].iloc[idx].mean()),
            "ll_pooled": pooled.log_likelihood(part),
        }
        try:
            check_enough_data(part, as_of=as_of, thresholds=COHORT_THRESHOLDS, what="A cohort fit")
            pm = PurchaseModel(
                pooled.model_name_, penalizer=penalizer, fallback=False, time_budget=time_budget
            )
            pm.fit(part)
        except NotEnoughData as e:
            template = getattr(e, "template", None)
            row["status"] = "skipped"
            row["reason"] = Note(template, tuple(e.values.items())) if template else Note(str(e))
            rows.append(row)
            continue
        sc = score_customers(pm, spend, part, **scoring)
        row.update(
            status="fitted",
            reason=None,
            model=pm.model_name_,
            **pm.params_,
            ll_cohort=pm.log_likelihood_,
            p_alive_cohort=float(sc["p_alive"].mean()),
            clv_cohort=float(sc["clv"].mean()),
        )
        ll_pooled_sum += row["ll_pooled"]
        ll_cohort_sum += pm.log_likelihood_
        n_fitted += 1
        customers_fitted += len(part)
        rows.append(row)
    table = pd.DataFrame(rows)
    first = ["cohort", "customers", "repeat_buyers", "status", "reason", "model"]
    table = table[[c for c in first if c in table] + [c for c in table if c not in first]]
    k = len(pooled.params_)
    if n_fitted:
        bic_pooled = k * math.log(customers_fitted) - 2 * ll_pooled_sum
        bic_cohorts = k * n_fitted * math.log(customers_fitted) - 2 * ll_cohort_sum
    else:
        bic_pooled = bic_cohorts = float("nan")
        notes.append(_note("No cohort is large enough for its own fit."))
    return CohortComparison(by, table, bic_pooled, bic_cohorts, tuple(notes))
