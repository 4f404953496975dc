"""Churn prediction: who is about to leave, why, and how much value is at stake.

Definition. A customer is *active* at a cutoff date when they bought in the ``active_days``
(365) before it; an active customer *churns* when they make no purchase in the
``horizon_days`` after it. The horizon defaults to about three median inter-purchase gaps (the
median over customers of each customer's median gap), clamped to 14-365 days and to what the
data can label.

Out-of-time evaluation. With ``score = as_of + 1 day`` (the first day after the data),
``test = score - horizon`` and ``train = test - horizon``: the model is fitted on features at
``train`` with labels from ``[train, test)`` and evaluated on features at ``test`` with labels
from ``[test, score)``, so no test label window overlaps training. The watchlist is then
scored at ``score`` by the same model refitted at ``test`` (the most recent labelled cutoff).

Models. Gradient boosting (scikit-learn ``HistGradientBoostingClassifier``), a scaled
logistic regression, and two rules that need no model: "no order for more than 30 days" and
"1 - P(alive)" from the CLV model. Each model is fitted on at most ``MAX_TRAIN_ROWS``
(250,000) customers, a sample stratified by the label, so a fit stays bounded at a million
customers; the out-of-time evaluation and the watchlist (probabilities and reasons) still
cover every active customer, and ``ChurnFit.sampled`` / ``n_fit_rows`` say when it happened.

Reasons. Features that one sentence describes form a group (days since the last purchase, the
usual gap and their ratio: "no order for 74 days, usually every 21"; see
``churn_features.REASON_GROUP``). For each customer and group, the change in predicted risk when
the group's features are set to their training medians, all else kept:
``delta_g = p(x) - p(x with x_g = median_g)``. The three largest deltas of at least one point
are the reasons pushing this customer's risk up, in plain words (English or Chinese). This is a
cheap one-at-a-time approximation of a Shapley attribution: moving a whole group at once keeps
features that say the same thing from hiding each other, but other correlated features can
still share credit (a customer explained by two redundant groups may show neither). Computed
without a loop over customers: each tree is evaluated once per block of rows, and again only
for the groups it splits on (see ``ChurnModel.contributions``).

Storage. A fitted model is pickled under ``<data folder>/.models/<dataset>/<version>-<key>.pkl``
with the dataset version it was trained on (``key`` hashes the settings and, when called on a
filtered view, that view); a new upload changes the version and the model is retrained (files
of older versions are removed). The page trains on every customer and uses the global filters
only to choose which customers' rows it shows (``clm_core.filters.keep_customers``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import sklearn
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import calibration_curve
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from clm_core.churn_features import (
    ACTIVE_DAYS,
    FEATURES,
    REASON_GROUP,
    FeatureSet,
    Omitted,
    as_date,
    churn_labels,
    point_in_time_features,
    top_reasons,
)
from clm_core.config import TABLES
from clm_core.errors import ClmError, NotEnoughData, UsageError
from clm_core.i18n import translate
from clm_core.store import (
    dataset_version,
    has_amounts,
    has_table,
    query_df,
    quote_ident,
    require_table,
)
from clm_core.summary import as_of_default

__all__ = [
    "BASELINES",
    "ChurnFit",
    "ChurnModel",
    "TRAINED_ON_ALL",
    "alert_counts",
    "alerts_by_owner",
    "as_of_bounds",
    "calibration",
    "confusion",
    "default_horizon",
    "filter_watchlist",
    "fit_churn",
    "is_trained",
    "metrics_table",
    "risk_by",
    "rule_alerts",
    "score_metrics",
    "translate_values",
    "VALUE_COLUMNS",
    "watchlist",
]

# Said on the page: the model does not change with the sidebar filters ({n}: active customers
# at the cutoff the scoring model was fitted on).
TRAINED_ON_ALL = (
    "Model trained on all customers ({n} active at its latest cutoff); filters only choose "
    "which customers are shown and counted."
)
MODEL_FORMAT = 2  # bump when ChurnFit changes shape, so stored pickles are retrained
MIN_REASON_DELTA = 0.01  # a reason must move the churn probability by at least 1 point
MAX_STORED = 12  # stored models per dataset version (horizons, filters)
MIN_HISTORY_DAYS = 90  # history needed before the training cutoff
RECENCY_RULE_DAYS = 30
# Each model is fitted on at most this many customers (a stratified sample): at 1M customers a
# full fit took 260 s and 3 GB, and the AUC hardly moves past a few hundred thousand rows.
# Evaluation and scoring still cover every active customer.
MAX_TRAIN_ROWS = 250_000
IMPORTANCE_ROWS = 4_000  # test customers per permutation-importance repeat
# column in ChurnFit.test -> label shown in the metrics table
BASELINES = {
    "gradient_boosting": "Gradient boosting",
    "logistic_regression": "Logistic regression (baseline)",
    "recency_rule": "Rule: no order for more than 30 days",
    "p_alive_rule": "Rule: 1 - P(alive)",
}

Progress = Callable[[float, str], None]


class ChurnModel(ClassifierMixin, BaseEstimator):
    """Churn classifier on point-in-time features, with per-customer reasons.

    ``kind="hgb"``: ``HistGradientBoostingClassifier`` (missing values handled natively).
    ``kind="logit"``: median imputation with missing indicators, standard scaling and
    ``LogisticRegression``. After :meth:`fit`: ``model_``, ``classes_``, ``feature_names_in_``,
    ``n_features_in_`` and ``medians_`` (training medians used by :meth:`explain`).

    ``n_threads`` caps OpenMP threads while fitting and predicting (None = library default).
    The default is 1: the app serves several sessions on few shared cores, where OpenMP's
    spin-waiting threads made a 2,500-customer fit 13x slower (68 s vs 5 s on a loaded 2-core
    host).
    """

    def __init__(
        self,
        kind: str = "hgb",
        *,
        max_iter: int = 300,
        learning_rate: float = 0.05,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 40,
        l2_regularization: float = 1.0,
        n_threads: int | None = 1,
        random_state: int | None = 0,
    ) -> None:
        self.kind = kind
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.n_threads = n_threads
        self.random_state = random_state

    def _threads(self):
        if self.n_threads is None:
            return contextlib.nullcontext()
        return threadpool_limits(limits=self.n_threads, user_api="openmp")

    def _estimator(self):
        if self.kind == "hgb":
            return HistGradientBoostingClassifier(
                max_iter=self.max_iter,
                learning_rate=self.learning_rate,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                l2_regularization=self.l2_regularization,
                early_stopping=True,
                random_state=self.random_state,
            )
        if self.kind == "logit":
            return make_pipeline(
                SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                StandardScaler(),
                LogisticRegression(max_iter=2000, random_state=self.random_state),
            )
        raise UsageError(f"kind must be 'hgb' or 'logit', not {self.kind!r}")

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise UsageError(f"Missing feature columns: {', '.join(missing)}")
        return X[list(self.feature_names_in_)].to_numpy(dtype="float64")

    def fit(self, X: pd.DataFrame, y) -> ChurnModel:
        if not isinstance(X, pd.DataFrame):
            raise UsageError("X must be a DataFrame of named features")
        y = np.asarray(y).astype(int)
        if len(X) != len(y):
            raise UsageError(f"X has {len(X)} rows but y has {len(y)}")
        if len(np.unique(y)) < 2:
            raise NotEnoughData(
                "Every customer in the training window has the same outcome; "
                "the model needs both churners and stayers (try another horizon)."
            )
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        arr = self._matrix(X)
        with np.errstate(all="ignore"):
            self.medians_ = np.nanmedian(np.where(np.isfinite(arr), arr, np.nan), axis=0)
        with self._threads():
            self.model_ = self._estimator().fit(arr, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        with self._threads():
            return self.model_.predict_proba(self._matrix(X))

    def predict(self, X: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= threshold).astype(int)

    def contributions(
        self, X: pd.DataFrame, groups: dict[str, list[str]] | None = None, *, floor: float = 0.0
    ) -> np.ndarray:
        """Risk now minus risk with a feature (or a group of features) at the training median.

        ``groups`` maps a name to features that are moved together (default: each feature
        alone); the result has one column per group in that order. Rows whose risk is below
        ``floor`` are left at 0 (no change can lower their risk by more than the risk itself).

        For gradient boosting this walks the trees once per row block: moving a group changes
        only the trees that split on one of its features, so only those are evaluated again
        (on the binned features, as scikit-learn does during fitting). The result equals
        :meth:`_contributions_by_prediction` (one full prediction per group) to rounding, at
        a fraction of the cost: about 7 tree passes instead of 21 for 20 reason groups.
        """
        check_is_fitted(self)
        names = list(self.feature_names_in_)
        groups = groups or {f: [f] for f in names}
        idx = [np.array([names.index(f) for f in members], dtype=np.intp)
               for members in groups.values()]  # fmt: skip
        arr = self._matrix(X)
        with self._threads():
            if _has_binary_trees(self.model_):
                return self._contributions_by_tree(arr, idx, floor)
            return self._contributions_by_prediction(arr, idx, floor)

    def _contributions_by_prediction(
        self, arr: np.ndarray, idx: list[np.ndarray], floor: float
    ) -> np.ndarray:
        """The definition: one prediction per group on the rows it can move (any estimator)."""
        out = np.zeros((len(arr), len(idx)))
        base = self.model_.predict_proba(arr)[:, 1]
        for g, cols in enumerate(idx):
            med = self.medians_[cols]
            # NaN != median too: missingness can explain risk; an all-NaN column cannot move
            rows = (base >= floor) & ~(arr[:, cols] == med).all(axis=1)
            if np.isnan(med).all() or not rows.any():
                continue
            sub = arr[rows]
            sub[:, cols] = np.where(np.isnan(med), sub[:, cols], med)
            out[rows, g] = base[rows] - self.model_.predict_proba(sub)[:, 1]
        return out

    def _contributions_by_tree(
        self, arr: np.ndarray, idx: list[np.ndarray], floor: float, block: int = 1 << 16
    ) -> np.ndarray:
        """Same numbers as :meth:`_contributions_by_prediction`, tree by tree (see contributions).

        Per block of rows: raw score r = baseline + sum of trees; for group g, r_g = r minus
        the change of the trees that use g; delta_g = sigmoid(r) - sigmoid(r_g). Uses
        scikit-learn's fitted predictors and bin mapper (``_predictors``, ``_bin_mapper``),
        which is why :func:`_has_binary_trees` checks for them first.
        """
        est = self.model_
        mapper = est._bin_mapper
        missing_bin = mapper.missing_values_bin_idx_
        med = self.medians_
        movable = [not np.isnan(med[cols]).all() for cols in idx]
        # the median's bin per feature (NaN medians keep the customer's own value)
        med_bin = mapper.transform(np.where(np.isnan(med), 0.0, med)[None, :])[0]
        trees, uses = [], []
        for per_iteration in est._predictors:
            tree = per_iteration[0]
            nodes = tree.nodes
            split_on = set(nodes["feature_idx"][nodes["is_leaf"] == 0].tolist())
            trees.append(tree)
            uses.append([g for g, cols in enumerate(idx)
                         if movable[g] and split_on.intersection(cols.tolist())])  # fmt: skip
        threads = self.n_threads or os.cpu_count() or 1
        binned = mapper.transform(arr)
        start = float(np.ravel(est._baseline_prediction)[0])
        out = np.zeros((len(arr), len(idx)))
        for lo in range(0, len(arr), block):
            xb = np.ascontiguousarray(binned[lo : lo + block])
            moved = []
            for cols in idx:
                xg = xb.copy()
                xg[:, cols] = np.where(np.isnan(med[cols]), xg[:, cols], med_bin[cols])
                moved.append(xg)
            raw = np.full(len(xb), start)
            change = np.zeros((len(xb), len(idx)))
            for tree, groups_used in zip(trees, uses, strict=True):
                value = tree.predict_binned(xb, missing_bin, threads)
                raw += value
                for g in groups_used:
                    change[:, g] += value - tree.predict_binned(moved[g], missing_bin, threads)
            base = expit(raw)
            delta = base[:, None] - expit(raw[:, None] - change)
            delta[base < floor] = 0.0
            out[lo : lo + len(xb)] = delta
        return out

    def explain(self, X: pd.DataFrame, *, top: int = 5, min_delta: float = 0.01) -> list[list[str]]:
        """The features pushing each customer's risk up most (delta >= ``min_delta``), best first."""
        contrib = self.contributions(X)
        order = np.argsort(-contrib, axis=1)[:, :top]
        names = self.feature_names_in_
        return [
            [names[j] for j in row if contrib[i, j] >= min_delta] for i, row in enumerate(order)
        ]


def _has_binary_trees(est) -> bool:
    """A fitted binary HistGradientBoostingClassifier without categorical features, whose
    trees :meth:`ChurnModel._contributions_by_tree` can walk one at a time."""
    return (
        isinstance(est, HistGradientBoostingClassifier)
        and getattr(est, "n_trees_per_iteration_", 0) == 1
        and getattr(est, "is_categorical_", None) is None
        and hasattr(est, "_predictors")
        and hasattr(est, "_bin_mapper")
        and hasattr(est, "_baseline_prediction")
        and all(hasattr(p[0], "predict_binned") for p in est._predictors)
    )


@dataclass(frozen=True)
class ChurnFit:
    """Everything the page, the CLI and the watchlist need from one training run."""

    dataset: str
    dataset_version: str
    trained_at: str
    as_of: dt.date
    horizon_days: int
    horizon_from_data: bool
    train_cutoff: dt.date
    test_cutoff: dt.date
    score_cutoff: dt.date
    features: tuple[str, ...]
    omitted: tuple[Omitted, ...]
    p_alive_source: str
    model: ChurnModel  # fitted at train_cutoff, evaluated at test_cutoff
    baseline: ChurnModel  # logistic regression, same windows
    scorer: ChurnModel  # same settings refitted at test_cutoff, scores the watchlist
    n_train: int  # active customers at the training cutoff
    n_test: int
    train_churn_rate: float
    test_churn_rate: float
    test: pd.DataFrame  # customer_id, y and one score column per BASELINES key
    importance: pd.DataFrame  # feature, importance (ROC AUC drop), std
    score_frame: pd.DataFrame = field(repr=False)  # features at score_cutoff
    n_fit_rows: int = 0  # customers each model was fitted on (< n_train: a stratified sample)
    max_train_rows: int = MAX_TRAIN_ROWS

    @property
    def sampled(self) -> bool:
        """True when the models were fitted on a sample (scoring still covers everyone)."""
        return self.n_fit_rows < max(self.n_train, self.n_test)


# ----------------------------------------------------------------------------------- horizon

_GAP_SQL = """
with days as (
    select distinct customer_id, cast(order_ts as date) as d
    from transactions where amount >= 0 and order_ts < $cutoff and customer_id is not null
),
gaps as (
    select customer_id, date_diff('day', lag(d) over (partition by customer_id order by d), d) as g
    from days
),
per as (select customer_id, median(g) as g from gaps where g is not null group by customer_id)
select median(g) as median_gap, (select min(d) from days) as first_day from per
"""


def _cutoffs(con, as_of) -> tuple[dt.date, dt.date, float | None]:
    require_table(con, "transactions", "churn prediction")
    as_of = as_date(as_of) if as_of is not None else as_of_default(con)
    score = as_of + dt.timedelta(days=1)
    row = query_df(con, _GAP_SQL, {"cutoff": score}).iloc[0]
    if pd.isna(row["first_day"]):
        raise NotEnoughData("No purchases on or before the as-of date.")
    gap = None if pd.isna(row["median_gap"]) else float(row["median_gap"])
    return score, as_date(row["first_day"]), gap


def _max_horizon(score: dt.date, first_day: dt.date) -> int:
    return ((score - first_day).days - MIN_HISTORY_DAYS) // 2


def _suggested(score: dt.date, first_day: dt.date, gap: float | None) -> int:
    if gap is None:
        raise NotEnoughData("No customer has bought twice: a churn horizon cannot be derived.")
    horizon = int(min(max(round(3 * gap), 14), 365))
    return max(min(horizon, _max_horizon(score, first_day)), 1)


def default_horizon(con: duckdb.DuckDBPyConnection, *, as_of=None) -> int:
    """About three median inter-purchase gaps in days (14-365), shortened to fit the data."""
    return _suggested(*_cutoffs(con, as_of))


_SPAN_SQL = """
select cast(min(order_ts) as date) as first_day, cast(max(order_ts) as date) as last_day
from transactions where amount >= 0 and customer_id is not null
"""


def as_of_bounds(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date]:
    """Earliest and latest as-of dates the data supports: the last purchase day, and the first
    one plus the history a 14-day horizon needs (two windows and ``MIN_HISTORY_DAYS``)."""
    require_table(con, "transactions", "churn prediction")
    row = query_df(con, _SPAN_SQL).iloc[0]
    if pd.isna(row["last_day"]):
        raise NotEnoughData("No purchases in the transactions table.")
    first, last = as_date(row["first_day"]), as_date(row["last_day"])
    earliest = first + dt.timedelta(days=MIN_HISTORY_DAYS + 2 * 14 - 1)
    return min(earliest, last), last


# ---------------------------------------------------------------------------------- metrics


def _top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Churn rate among the 10% highest scores / overall rate; ties at the edge count pro rata."""
    y = np.asarray(y, dtype=float)
    score = np.asarray(score, dtype=float)
    n = len(y)
    k = max(int(np.ceil(n / 10)), 1)
    base = y.mean()
    if n == 0 or base == 0:
        return float("nan")
    edge = np.sort(score)[::-1][k - 1]
    above = score > edge
    at = score == edge
    positives = y[above].sum() + (k - above.sum()) * y[at].mean()
    return float(positives / k / base)


def score_metrics(y, score, threshold: float) -> dict[str, float]:
    """ROC AUC, PR AUC, top-decile lift and precision/recall of ``score >= threshold``."""
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    ok = ~np.isnan(score)
    y, score = y[ok], score[ok]
    if len(np.unique(y)) < 2:
        nan = float("nan")
        return dict(roc_auc=nan, pr_auc=nan, top_decile_lift=nan, precision=nan, recall=nan)
    flagged = score >= threshold
    tp = int((flagged & (y == 1)).sum())
    return {
        "roc_auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
        "top_decile_lift": _top_decile_lift(y, score),
        "precision": tp / flagged.sum() if flagged.any() else float("nan"),
        "recall": tp / (y == 1).sum(),
    }


def metrics_table(fit: ChurnFit, threshold: float = 0.5) -> pd.DataFrame:
    """One row per model and rule baseline on the out-of-time test cutoff.

    The recency rule is a yes/no score, so its precision/recall do not depend on the threshold.
    """
    rows = []
    for col, label in BASELINES.items():
        if col not in fit.test.columns:
            continue
        thr = 0.5 if col == "recency_rule" else threshold
        rows.append(
            {"method": col, "label": label, **score_metrics(fit.test["y"], fit.test[col], thr)}
        )
    return pd.DataFrame(rows)


def calibration(fit: ChurnFit, n_bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed churn rate per quantile bin of the model's test predictions."""
    y, p = fit.test["y"].to_numpy(), fit.test["gradient_boosting"].to_numpy()
    observed, predicted = calibration_curve(y, p, n_bins=n_bins, strategy="quantile")
    return pd.DataFrame({"predicted": predicted, "observed": observed})


def confusion(fit: ChurnFit, threshold: float = 0.5) -> pd.DataFrame:
    """2x2 counts at ``threshold``: rows actual (stayed, churned), columns predicted."""
    y = fit.test["y"].to_numpy() == 1
    flag = fit.test["gradient_boosting"].to_numpy() >= threshold
    return pd.DataFrame(
        [[int((~y & ~flag).sum()), int((~y & flag).sum())],
         [int((y & ~flag).sum()), int((y & flag).sum())]],
        index=["stayed", "churned"],
        columns=["predicted to stay", "predicted to churn"],
    )  # fmt: skip


# ---------------------------------------------------------------------------------- storage


def _dataset_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The DuckDB file behind a connection from store.connect (None for in-memory data)."""
    try:
        row = con.execute(
            "select path from duckdb_databases() where database_name = current_database()"
        ).fetchone()
    except duckdb.Error:
        return None
    return Path(row[0]) if row and row[0] else None


def _view_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """Tells a filtered view of the dataset from the whole file.

    Global filters (clm_core.filters) shadow the canonical tables with TEMP views on a cursor; a
    model trained on such a view must not be stored as the model of the file. Shadowed tables
    are fingerprinted by row count and the sum of row hashes; "all" when nothing is shadowed.
    """
    shadowed = sorted(
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'temp' "
            "union all select view_name from duckdb_views() where database_name = 'temp'"
        ).fetchall()
        if r[0] in TABLES
    )
    if not shadowed:
        return "all"
    parts = []
    for table in shadowed:
        n, h = con.execute(
            f"select count(*), cast(sum(hash(t)) as varchar) from {quote_ident(table)} t"
        ).fetchone()
        parts.append(f"{table}:{n}:{h}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:12]


def _model_file(con, key: dict) -> tuple[Path | None, str, str]:
    path = _dataset_file(con)
    if path is None:
        return None, "in-memory", "in-memory"
    version = dataset_version(path)
    digest = hashlib.sha1(
        json.dumps(
            {**key, "view": _view_fingerprint(con), "format": MODEL_FORMAT,
             "sklearn": sklearn.__version__},
            default=str,
        ).encode()
    ).hexdigest()[:12]  # fmt: skip
    return path.parent / ".models" / path.stem / f"{version}-{digest}.pkl", path.stem, version


def _load(file: Path | None) -> ChurnFit | None:
    if file is None or not file.exists():
        return None
    try:
        with open(file, "rb") as fh:
            fit = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
        return None  # unreadable or from older code: retrain
    return fit if isinstance(fit, ChurnFit) else None


def _save(file: Path, version: str, fit: ChurnFit) -> None:
    """Atomic write; drop models of older versions of the dataset. Best effort (read-only
    folders just mean retraining next time)."""
    with contextlib.suppress(OSError):
        file.parent.mkdir(parents=True, exist_ok=True)
        for old in file.parent.glob("*.pkl"):
            if not old.name.startswith(f"{version}-"):
                old.unlink(missing_ok=True)
        same = sorted(file.parent.glob(f"{version}-*.pkl"), key=os.path.getmtime)
        for old in same[: -MAX_STORED + 1]:  # other horizons and filters, oldest first
            old.unlink(missing_ok=True)
        tmp = file.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as fh:
            pickle.dump(fit, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)


def _settings(con, as_of, horizon_days, active_days, random_state, max_train_rows=None) -> dict:
    score, first_day, gap = _cutoffs(con, as_of)
    from_data = horizon_days is None
    horizon = _suggested(score, first_day, gap) if from_data else int(horizon_days)
    longest = _max_horizon(score, first_day)
    if horizon < 1:
        raise UsageError("The horizon must be at least 1 day.")
    if horizon > longest:
        raise NotEnoughData(
            f"A {horizon}-day horizon needs {2 * horizon + MIN_HISTORY_DAYS} days of history "
            f"(two windows plus {MIN_HISTORY_DAYS}); the data has {(score - first_day).days}. "
            f"Choose a horizon of at most {max(longest, 0)} days."
        )
    return {
        "as_of": score - dt.timedelta(days=1),
        "horizon_days": horizon,
        "horizon_from_data": from_data,
        "active_days": int(active_days),
        "random_state": random_state,
        "max_train_rows": int(MAX_TRAIN_ROWS if max_train_rows is None else max_train_rows),
    }


def is_trained(
    con: duckdb.DuckDBPyConnection, *, as_of=None, horizon_days: int | None = None,
    active_days: int = ACTIVE_DAYS, random_state: int = 0,
) -> bool:  # fmt: skip
    """True when a model for these settings and this dataset version is stored."""
    key = _settings(con, as_of, horizon_days, active_days, random_state)
    file, _, _ = _model_file(con, key)
    return file is not None and file.exists()


# ---------------------------------------------------------------------------------- training


def _aligned(fs: FeatureSet, features: tuple[str, ...]) -> pd.DataFrame:
    return fs.frame[list(features)]


def _sample(X: pd.DataFrame, y: np.ndarray, max_rows: int, random_state) -> tuple:
    """At most ``max_rows`` rows, stratified by the label (the churn rate is kept)."""
    if len(y) <= max_rows:
        return X, y
    keep, _ = train_test_split(
        np.arange(len(y)), train_size=max_rows, stratify=y, random_state=random_state
    )
    keep = np.sort(keep)
    return X.iloc[keep], y[keep]


def fit_churn(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of=None,
    horizon_days: int | None = None,
    active_days: int = ACTIVE_DAYS,
    random_state: int = 0,
    max_train_rows: int | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> ChurnFit:
    """Train and evaluate out of time (see the module docstring); stored per dataset version.

    Each model is fitted on at most ``max_train_rows`` customers (default
    :data:`MAX_TRAIN_ROWS`), a sample stratified by the label; the evaluation and the watchlist cover every active customer.
    ``progress(fraction, message)`` is called between steps (the page shows it as a bar).
    """
    key = _settings(con, as_of, horizon_days, active_days, random_state, max_train_rows)
    file, dataset, version = _model_file(con, key)
    if not force and (stored := _load(file)) is not None:
        return stored
    step = progress or (lambda fraction, message: None)
    horizon, max_train_rows = key["horizon_days"], key["max_train_rows"]
    score = key["as_of"] + dt.timedelta(days=1)
    test_cut = score - dt.timedelta(days=horizon)
    train_cut = test_cut - dt.timedelta(days=horizon)

    step(0.05, "Computing features at the training cutoff")
    tr = point_in_time_features(con, train_cut, active_days=active_days)
    step(0.25, "Computing features at the test cutoff")
    te = point_in_time_features(con, test_cut, active_days=active_days)
    step(0.45, "Computing features at the scoring date")
    sc = point_in_time_features(con, score, active_days=active_days)
    omitted = {o.feature: o for fs in (tr, te, sc) for o in fs.omitted}
    features = tuple(f for f in FEATURES if f not in omitted)
    if len(tr.frame) < 50 or len(te.frame) < 50:
        raise NotEnoughData(
            f"Only {len(tr.frame)} active customers at the training cutoff {train_cut} and "
            f"{len(te.frame)} at the test cutoff {test_cut}; at least 50 each are needed "
            "(try a shorter horizon)."
        )
    y_tr = churn_labels(con, tr.frame["customer_id"], train_cut, horizon)
    y_te = churn_labels(con, te.frame["customer_id"], test_cut, horizon)
    X_tr, X_te = _aligned(tr, features), _aligned(te, features)
    X_fit, y_fit = _sample(X_tr, y_tr, max_train_rows, random_state)
    X_refit, y_refit = _sample(X_te, y_te, max_train_rows, random_state)

    step(0.55, "Training gradient boosting")
    model = ChurnModel("hgb", random_state=random_state).fit(X_fit, y_fit)
    step(0.65, "Training the logistic regression baseline")
    baseline = ChurnModel("logit", random_state=random_state).fit(X_fit, y_fit)
    test = pd.DataFrame({"customer_id": te.frame["customer_id"], "y": y_te})
    test["gradient_boosting"] = model.predict_proba(X_te)[:, 1]
    test["logistic_regression"] = baseline.predict_proba(X_te)[:, 1]
    test["recency_rule"] = (te.frame["recency_days"] > RECENCY_RULE_DAYS).astype(float)
    if "p_alive" in features:
        test["p_alive_rule"] = 1.0 - te.frame["p_alive"]

    step(0.75, "Measuring feature importance")
    imp = _importance(model, X_te, y_te, random_state)
    step(0.85, "Refitting on the latest labelled cutoff")
    scorer = ChurnModel("hgb", random_state=random_state).fit(X_refit, y_refit)
    fit = ChurnFit(
        dataset=dataset,
        dataset_version=version,
        trained_at=dt.datetime.now().isoformat(timespec="seconds"),
        as_of=key["as_of"],
        horizon_days=horizon,
        horizon_from_data=key["horizon_from_data"],
        train_cutoff=train_cut,
        test_cutoff=test_cut,
        score_cutoff=score,
        features=features,
        omitted=tuple(omitted.values()),
        p_alive_source=tr.p_alive_source,
        model=model,
        baseline=baseline,
        scorer=scorer,
        n_train=len(y_tr),
        n_test=len(y_te),
        train_churn_rate=float(y_tr.mean()),
        test_churn_rate=float(y_te.mean()),
        test=test,
        importance=imp,
        score_frame=sc.frame[["customer_id", *features, "main_channel"]],
        n_fit_rows=max(len(y_fit), len(y_refit)),
        max_train_rows=max_train_rows,
    )
    if file is not None:
        step(0.95, "Storing the model")
        _save(file, version, fit)
    step(1.0, "Done")
    return fit


def _importance(model: ChurnModel, X: pd.DataFrame, y: np.ndarray, random_state) -> pd.DataFrame:
    """Permutation importance on the out-of-time test set: drop in ROC AUC when a feature is
    shuffled (3 repeats, each on at most ``IMPORTANCE_ROWS`` customers: 30 features x 3
    repeats are 90 predictions of 300 trees, the largest cost of a fit at 20,000 customers;
    the chart shows the spread between repeats)."""
    if len(np.unique(y)) < 2:
        return pd.DataFrame({"feature": list(X.columns), "importance": np.nan, "std": np.nan})
    with model._threads():
        r = permutation_importance(
            model.model_, X.to_numpy(dtype="float64"), y, scoring="roc_auc",
            n_repeats=3, random_state=random_state, max_samples=min(1.0, IMPORTANCE_ROWS / len(y)),
        )  # fmt: skip
    out = pd.DataFrame(
        {"feature": list(X.columns), "importance": r.importances_mean, "std": r.importances_std}
    )
    return out.sort_values("importance", ascending=False, ignore_index=True)


# ---------------------------------------------------------------------------------- watchlist


def _or_none(fn, con, **kwargs) -> pd.DataFrame | None:
    """``fn(con, **kwargs)``, or None when the data is not enough for it (a ClmError): the
    watchlist then goes without that column."""
    try:
        return fn(con, **kwargs)
    except ClmError:
        return None


def _owners(con) -> pd.DataFrame | None:
    if not has_table(con, "customers"):
        return None
    return query_df(
        con,
        "select customer_id, any_value(owner) as owner, "
        "any_value(acquisition_channel) as acquisition_channel "
        "from customers group by customer_id",
    )


def _reasons(model: ChurnModel, X: pd.DataFrame, lang: str, top: int = 3) -> list[str]:
    """Top-3 plain-words reasons per row (see the module docstring for the method)."""
    groups: dict[str, list[str]] = {}
    for f in model.feature_names_in_:
        groups.setdefault(REASON_GROUP[f], []).append(f)
    contrib = model.contributions(X, groups, floor=MIN_REASON_DELTA)
    return top_reasons(
        contrib, list(groups), X, lang=lang, top=top, min_delta=MIN_REASON_DELTA
    ).tolist()


def watchlist(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of=None,
    horizon_days: int | None = None,
    lang: str = "en",
) -> pd.DataFrame:
    """Active customers ranked by value at risk = churn probability x CLV.

    CLV comes from ``clm_core.clv.predict_clv`` (BG/NBD, 52 weeks); while it is unavailable the value is
    the customer's net revenue to date (``value_basis`` says which). Columns: customer_id,
    churn_probability, clv, value_at_risk, value_basis, reasons, recency_days, usual_gap_days,
    revenue, tier, segment, owner, stage, channel, cohort, p_alive.

    Data without amounts (``store.has_amounts`` false) has no value: clv, value_at_risk,
    value_basis, revenue and tier are empty, and customers are ranked by churn probability.
    """
    # Imported here: the CLV, segment and stage modules (scipy, lifetimes) load only when a
    # watchlist is asked for, not with every import of this module.
    from clm_core.clv import predict_clv
    from clm_core.lifecycle import customer_stages
    from clm_core.segments import customer_segments

    fit = fit_churn(con, as_of=as_of, horizon_days=horizon_days)
    sf = fit.score_frame.reset_index(drop=True)
    X = sf[list(fit.features)]
    out = pd.DataFrame({"customer_id": sf["customer_id"]})
    out["churn_probability"] = fit.scorer.predict_proba(X)[:, 1] if len(X) else []
    amounts = has_amounts(con)
    # BG/NBD + Gamma-Gamma: the CLV page's auto choice also fits Pareto/NBD (minutes).
    clv = _or_none(predict_clv, con, model="bgnbd", as_of=fit.as_of) if amounts else None
    if clv is not None and "clv" in clv.columns:
        out = out.merge(clv[["customer_id", "clv"]], on="customer_id", how="left")
        out["value_basis"] = "clv"
    else:
        out["clv"] = np.nan
        out["value_basis"] = "revenue" if amounts else None
    revenue = sf["revenue"] if amounts else pd.Series(np.nan, index=sf.index)
    value = np.where(out["clv"].notna(), out["clv"], revenue.clip(lower=0))
    out["value_at_risk"] = out["churn_probability"] * value
    out["reasons"] = _reasons(fit.scorer, X, lang) if len(X) else []
    out["recency_days"] = sf["recency_days"]
    out["usual_gap_days"] = sf["usual_gap_days"]
    out["revenue"] = revenue
    first = pd.Timestamp(fit.score_cutoff) - pd.to_timedelta(sf["tenure_days"], unit="D")
    out["cohort"] = first.dt.year.astype(str) + "-Q" + first.dt.quarter.astype(str)
    out["p_alive"] = sf["p_alive"] if "p_alive" in sf.columns else np.nan
    seg = _or_none(customer_segments, con, as_of=fit.as_of)
    for col in ("tier", "segment"):
        out[col] = _lookup(out, seg, col)
    out["stage"] = _lookup(out, _or_none(customer_stages, con, as_of=fit.as_of), "stage")
    owners = _owners(con)
    out["owner"] = _lookup(out, owners, "owner")
    acq = _lookup(out, owners, "acquisition_channel")
    out["channel"] = acq.where(acq.notna(), sf["main_channel"])
    rank = "value_at_risk" if amounts else "churn_probability"
    out = out.sort_values([rank, "customer_id"], ascending=[False, True], ignore_index=True)
    cols = ["customer_id", "churn_probability", "clv", "value_at_risk", "value_basis", "reasons",
            "recency_days", "usual_gap_days", "revenue", "tier", "segment", "owner", "stage",
            "channel", "cohort", "p_alive"]  # fmt: skip
    return out[cols]


# Columns whose values come from a fixed vocabulary (segments.TIERS, segments.SEGMENTS,
# lifecycle.STAGES, "(none)"), so they have entries in clm_core/locales.
VALUE_COLUMNS = ("tier", "segment", "stage", "owner")


def translate_values(
    df: pd.DataFrame, lang: str = "en", columns: tuple[str, ...] = VALUE_COLUMNS
) -> pd.DataFrame:
    """A copy with the values of ``columns`` in ``lang`` (tier, segment and stage names);
    text without a translation, such as owner names, is kept as it is."""
    if lang == "en":
        return df
    out = df.copy()
    for col in columns:
        if col in out.columns:
            values = out[col].dropna().unique()
            out[col] = out[col].map({v: translate(str(v), lang) for v in values})
    return out


def _lookup(out: pd.DataFrame, other: pd.DataFrame | None, col: str) -> pd.Series:
    if other is None or col not in other.columns:
        return pd.Series([None] * len(out), index=out.index, dtype=object)
    m = other.drop_duplicates("customer_id").set_index("customer_id")[col]
    return out["customer_id"].map(m).astype(object)


def filter_watchlist(
    wl: pd.DataFrame,
    *,
    min_probability: float = 0.0,
    tiers=(),
    segments=(),
    owners=(),
    stages=(),
    channels=(),
) -> pd.DataFrame:
    """Rows matching every non-empty filter (an empty tuple means no filter)."""
    keep = wl["churn_probability"] >= min_probability
    for col, values in (("tier", tiers), ("segment", segments), ("owner", owners),
                        ("stage", stages), ("channel", channels)):  # fmt: skip
        if values:
            keep &= wl[col].isin(list(values))
    return wl[keep].reset_index(drop=True)


def risk_by(wl: pd.DataFrame, by: str) -> pd.DataFrame:
    """Customers, mean churn probability and value at risk per value of ``by``."""
    if by not in wl.columns or wl[by].isna().all():
        return pd.DataFrame(columns=[by, "customers", "mean_risk", "value_at_risk"])
    g = wl.assign(**{by: wl[by].fillna("(none)")}).groupby(by, sort=False)
    out = g.agg(customers=("customer_id", "size"), mean_risk=("churn_probability", "mean"))
    out["value_at_risk"] = g["value_at_risk"].sum(min_count=1)  # no value: empty, not 0
    out = out.reset_index()
    return out.sort_values("mean_risk", ascending=False, ignore_index=True)


# ---------------------------------------------------------------------------------- rule alerts

ALERTS = {
    "no_purchase": "No purchase for {days}+ days",
    "long_gap": "Gap far above usual ({factor:g}x)",
    "spend_drop": "Spend down {pct}%+ (90 days)",
    "recent_complaint": "Complaint in the last {complaint_days} days",
}


def rule_alerts(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of=None,
    no_purchase_days: int = 30,
    gap_factor: float = 2.0,
    spend_drop: float = 0.5,
    complaint_days: int = 30,
) -> pd.DataFrame:
    """Model-free alerts for every active customer at ``as_of`` (default: last transaction day).

    no_purchase: no order for ``no_purchase_days`` or more; long_gap: days since the last order
    >= ``gap_factor`` x the customer's median gap (repeat customers only); spend_drop: spend in
    the last 90 days <= (1 - ``spend_drop``) x the 90 before (which must be positive);
    recent_complaint: a complaint within ``complaint_days`` (missing when there is no feedback;
    spend_drop is missing when the data has no amounts).
    """
    as_of = as_date(as_of) if as_of is not None else as_of_default(con)
    fs = point_in_time_features(con, as_of + dt.timedelta(days=1), with_p_alive=False)
    f = fs.frame
    out = pd.DataFrame({"customer_id": f["customer_id"]})
    out["owner"] = _lookup(out, _owners(con), "owner").fillna("(none)")
    out["recency_days"] = f["recency_days"]
    out["usual_gap_days"] = f["usual_gap_days"]
    out["no_purchase"] = f["recency_days"] >= no_purchase_days
    out["long_gap"] = (f["gap_ratio"] >= gap_factor).fillna(False).astype(bool)
    if "spend_90d" in f.columns:  # not for data without amounts
        out["spend_drop"] = (f["spend_prev_90d"] > 0) & (
            f["spend_90d"] <= (1 - spend_drop) * f["spend_prev_90d"]
        )
    if "days_since_complaint" in f.columns:
        out["recent_complaint"] = (f["days_since_complaint"] <= complaint_days).fillna(False)
        out["recent_complaint"] = out["recent_complaint"].astype(bool)
    flags = [c for c in ALERTS if c in out.columns]
    out["n_alerts"] = out[flags].sum(axis=1).astype(int)
    return out


def alert_counts(alerts: pd.DataFrame) -> pd.DataFrame:
    """Customers per alert (and with any alert)."""
    flags = [c for c in ALERTS if c in alerts.columns]
    rows = [{"alert": c, "customers": int(alerts[c].sum())} for c in flags]
    rows.append({"alert": "any", "customers": int((alerts["n_alerts"] > 0).sum())})
    return pd.DataFrame(rows)


def alerts_by_owner(alerts: pd.DataFrame) -> pd.DataFrame:
    """Per owner: customers with each alert and with any alert, most alerted owner first."""
    flags = [c for c in ALERTS if c in alerts.columns]
    g = alerts.assign(any=alerts["n_alerts"] > 0).groupby("owner")[[*flags, "any"]].sum()
    return g.astype(int).sort_values("any", ascending=False).reset_index()


def alert_label(alert: str, lang: str = "en", **values) -> str:
    """Alert name in words with its settings, e.g. 'No purchase for 30+ days'."""
    if alert == "any":
        return translate("Any alert", lang)
    return translate(ALERTS[alert], lang).format(**values)
