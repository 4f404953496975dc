"""Customer lifetime value: published CDNow estimates, agreement with lifetimes, robustness."""

from __future__ import annotations

import ast
import importlib.resources
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value
from lifetimes.utils import ConvergenceError
from pandas.testing import assert_frame_equal
from sklearn.exceptions import NotFittedError

from clm_core import clv, i18n, store
from clm_core.errors import NotEnoughData, UsageError

ROOT = Path(__file__).resolve().parent.parent
LIFETIMES = {"bgnbd": BetaGeoFitter, "mbgnbd": ModifiedBetaGeoFitter, "pareto": ParetoNBDFitter}


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """lifetimes' CDNow summary: 2,357 customers, 39 calibration weeks, with monetary value."""
    return load_cdnow_summary_data_with_monetary_value()


def cdnow_transactions() -> pd.DataFrame:
    path = importlib.resources.files("lifetimes") / "datasets" / "CDNOW_sample.txt"
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "quantity", "amount"],
        dtype={"customer_id": str, "date": str},
    )
    raw["order_ts"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw[["customer_id", "order_ts", "amount"]]


def synthetic_transactions(
    n: int = 900, *, days: int = 540, seed: int = 1, rate: float = 1.0, repeat: bool = True
) -> pd.DataFrame:
    """Buy-till-you-die purchases: gamma purchase rates (per week), beta drop-out after each
    purchase, first purchases spread over the history, gamma order values."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    first = rng.integers(0, days, n)
    lam = rng.gamma(0.8, 1 / 2.5, n) * rate / 7  # per day
    p = rng.beta(1.0, 6.0, n)
    spend = rng.gamma(4.0, 15.0, n)
    rows = []
    for i in range(n):
        t = float(first[i])
        rows.append((i, t))
        while repeat:
            t += rng.exponential(1 / max(lam[i], 1e-9))
            if t >= days:
                break
            rows.append((i, t))
            if rng.random() < p[i]:
                break
    idx = np.array([r[0] for r in rows])
    day = np.floor([r[1] for r in rows]).astype(int)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in idx],
            "order_ts": start + pd.to_timedelta(day, unit="D"),
            "amount": np.round(rng.gamma(6.0, spend[idx] / 6.0), 2) + 1.0,
            "channel": np.where(idx % 3 == 0, "web", np.where(idx % 3 == 1, "store", "app")),
        }
    )


@pytest.fixture(scope="module")
def synth_con():
    return store.from_frames(transactions=synthetic_transactions())


# ------------------------------------------------------------------ published CDNow estimates


def test_bgnbd_reproduces_published_cdnow(cdnow):
    """Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4."""
    pm = clv.PurchaseModel("bgnbd").fit(cdnow)
    got = [pm.params_[k] for k in ("r", "alpha", "a", "b")]
    np.testing.assert_almost_equal(got, [0.243, 4.414, 0.793, 2.426], decimal=3)
    np.testing.assert_almost_equal(pm.log_likelihood_, -9582.4, decimal=1)
    assert pm.n_customers_ == 2357 and pm.n_patterns_ < 2357
    assert pm.degenerate_ == () and pm.engine_ == "clm_core"


def test_pareto_reproduces_published_cdnow(cdnow):
    """Fader, Hardie & Lee (2005): r=0.553, alpha=10.578, s=0.606, beta=11.669, LL=-9595.0."""
    pm = clv.PurchaseModel("pareto").fit(cdnow)
    got = [pm.params_[k] for k in ("r", "alpha", "s", "beta")]
    np.testing.assert_almost_equal(got, [0.553, 10.578, 0.606, 11.669], decimal=3)
    np.testing.assert_almost_equal(pm.log_likelihood_, -9595.0, decimal=1)
    assert pm.degenerate_ == ()  # s = 0.606 is far from its bound


def test_gamma_gamma_reproduces_published_cdnow(cdnow):
    sm = clv.SpendModel().fit(cdnow)
    got = [sm.params_[k] for k in ("p", "q", "v")]
    np.testing.assert_almost_equal(got, [6.25, 3.74, 15.45], decimal=2)
    assert sm.n_customers_ == 946
    assert sm.correlation_ == pytest.approx(0.1139, abs=1e-3)  # the independence check
    assert not sm.notes_


def test_cdnow_from_raw_transactions_through_the_whole_pipeline():
    """CDNOW_sample.txt -> DuckDB -> summary at 1997-09-30 in weeks -> fit: published values."""
    con = store.from_frames(transactions=cdnow_transactions())
    res = clv.fit_clv(con, model="bgnbd", period="W", as_of="1997-09-30")
    assert res.n_customers == 2357 and res.n_repeat == 946
    got = [res.params[k] for k in ("r", "alpha", "a", "b")]
    np.testing.assert_almost_equal(got, [0.243, 4.414, 0.793, 2.426], decimal=3)
    np.testing.assert_almost_equal(
        [res.spend_params[k] for k in ("p", "q", "v")], [6.25, 3.74, 15.45], decimal=2
    )


# ------------------------------------------------------------ agreement with plain lifetimes


@pytest.mark.parametrize(
    "name,penalizer",
    [("bgnbd", 0.0), ("mbgnbd", 0.0), ("bgnbd", 0.01), ("pareto", 0.0), ("pareto", 0.01)],
    ids=["bgnbd", "mbgnbd", "bgnbd-penalized", "pareto", "pareto-penalized"],
)
def test_weighted_fit_equals_plain_per_customer_fit(cdnow, name, penalizer):
    pm = clv.PurchaseModel(name, penalizer=penalizer, fallback=False).fit(cdnow)
    kwargs = {"initial_params": np.ones(4), "tol": 1e-6} if name == "pareto" else {}
    plain = LIFETIMES[name](penalizer_coef=penalizer).fit(
        cdnow["frequency"], cdnow["recency"], cdnow["T"], **kwargs
    )
    assert pm.n_patterns_ == 1016  # 2,357 customers, 1,016 distinct (x, t_x, T)
    ours = np.array(list(pm.params_.values()))
    np.testing.assert_allclose(ours, plain.params_.to_numpy(), rtol=2e-4)


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd", "pareto"])
@pytest.mark.parametrize("horizon,rate", [(52, 0.01), (13, 0.0)], ids=["52w", "13w-undiscounted"])
def test_predictions_agree_with_lifetimes_per_customer(cdnow, name, horizon, rate):
    """Pattern scoring + join back == lifetimes' per-customer functions, to 1e-6 relative."""
    pm = clv.PurchaseModel(name, fallback=False).fit(cdnow)
    sm = clv.SpendModel().fit(cdnow)
    sc = pm.score(cdnow, horizon=horizon, discount_rate=rate)
    f, r, T, m = (cdnow[c] for c in ("frequency", "recency", "T", "monetary_value"))
    lt = pm.model_  # the lifetimes fitter, in period units
    with np.errstate(all="ignore"):  # lifetimes' Pareto/NBD takes log(0) on the way
        p_alive = lt.conditional_probability_alive(f, r, T)
        expected = lt.conditional_expected_number_of_purchases_up_to_time(horizon, f, r, T)
    np.testing.assert_allclose(sc["p_alive"], p_alive, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(sc["expected_purchases"], expected, rtol=1e-6)
    clv_ours = sm.expected_avg_value(cdnow) * sc["discounted_purchases"].to_numpy()
    with np.errstate(all="ignore"):
        clv_lifetimes = sm.model_.customer_lifetime_value(
            lt,
            f,
            r,
            T,
            m,
            time=horizon,
            discount_rate=rate,
            freq="M",  # "M": a step per period
        )
    np.testing.assert_allclose(clv_ours, clv_lifetimes, rtol=1e-6)
    assert pm.p_alive(cdnow) == pytest.approx(sc["p_alive"].to_numpy())


def test_full_pipeline_matches_plain_lifetimes_pipeline(cdnow):
    """Weighted fit + pattern scoring vs lifetimes fitted and scored customer by customer."""
    con = store.from_frames(transactions=cdnow_transactions())
    res = clv.fit_clv(con, model="bgnbd", as_of="1997-09-30", horizon=39, discount_rate=0.005)
    df = res.customers.set_index("customer_id").sort_index()
    bg = BetaGeoFitter().fit(df["frequency"], df["recency"], df["T"])
    rep = df[df["frequency"] > 0]
    gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
    want = gg.customer_lifetime_value(
        bg, df["frequency"], df["recency"], df["T"], df["monetary_value"],
        time=39, discount_rate=0.005, freq="M",
    )  # fmt: skip
    np.testing.assert_allclose(df["clv"], want, rtol=1e-4)
    np.testing.assert_allclose(
        df["p_alive"],
        bg.conditional_probability_alive(df["frequency"], df["recency"], df["T"]),
        rtol=1e-5,
    )


# ---------------------------------------------------------------------------- properties

_HISTORY = st.tuples(
    st.integers(0, 120), st.floats(0, 1), st.floats(0.01, 200, allow_nan=False)
).map(lambda h: (h[0], 0.0 if h[0] == 0 else h[1] * h[2], h[2]))


@pytest.fixture(scope="module")
def cdnow_models(cdnow):
    return {n: clv.PurchaseModel(n, fallback=False).fit(cdnow) for n in LIFETIMES}


@settings(max_examples=60, deadline=None)
@given(histories=st.lists(_HISTORY, min_size=1, max_size=30))
def test_p_alive_is_a_probability_and_expectations_are_finite(cdnow_models, histories):
    X = pd.DataFrame(histories, columns=["frequency", "recency", "T"])
    for pm in cdnow_models.values():
        sc = pm.score(X, horizon=26, discount_rate=0.01)
        assert ((sc["p_alive"] >= 0) & (sc["p_alive"] <= 1)).all()
        assert np.isfinite(sc["expected_purchases"]).all()
        assert (sc["expected_purchases"] >= -1e-12).all()
        assert (sc["discounted_purchases"] <= sc["expected_purchases"] + 1e-9).all()


def test_one_period_setting_drives_everything(synth_con):
    """Days, weeks and months give the same P(alive) and 52-week expectations (the models are
    time-unit equivariant), because summary, fit and horizon all follow ``period``."""
    week = clv.fit_clv(synth_con, model="bgnbd", period="W", horizon=52).customers
    day = clv.fit_clv(synth_con, model="bgnbd", period="D", horizon=364).customers
    month = clv.fit_clv(synth_con, model="bgnbd", period="M", horizon=12).customers
    np.testing.assert_allclose(day["p_alive"], week["p_alive"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(month["p_alive"], week["p_alive"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(
        day["expected_purchases"], week["expected_purchases"], rtol=1e-3, atol=1e-6
    )
    assert month["T"].max() == pytest.approx(week["T"].max() * 7 / (365.25 / 12))


# -------------------------------------------------------------------- thresholds, recovery


@pytest.mark.parametrize(
    "frames,match",
    [
        (lambda: synthetic_transactions(120), "at least 500 customers.*there are 120"),
        (
            lambda: synthetic_transactions(600, repeat=False),
            "at least 100 repeat buyers.*there are 0",
        ),
        (lambda: synthetic_transactions(900, days=90), "at least 180 days of purchase history"),
    ],
    ids=["few-customers", "no-repeat-buyers", "short-history"],
)
def test_not_enough_data_is_said_in_plain_words(frames, match):
    con = store.from_frames(transactions=frames())
    with pytest.raises(NotEnoughData, match=match) as err:
        clv.predict_clv(con)
    assert err.value.template  # translatable
    assert "Customer value needs" in clv.error_text(err.value, "en")
    assert "需要" in clv.error_text(err.value, "zh")


def test_bad_options_are_usage_errors(synth_con):
    for kwargs in ({"model": "nope"}, {"period": "Y"}, {"horizon": 0}, {"margin": 2.0},
                   {"discount_rate": -0.1}, {"as_of": "not a date"}):  # fmt: skip
        with pytest.raises(UsageError):
            clv.predict_clv(synth_con, **kwargs)


def _failing_fit(fail):
    """A _lifetimes_fit that raises lifetimes' ConvergenceError while ``fail(name, pen)``."""
    original = clv.PurchaseModel._lifetimes_fit

    def fit(self, name, pat, pen, tol_factor, rng, **kwargs):
        if fail(name, pen, tol_factor):
            raise ConvergenceError("The model did not converge.")
        return original(self, name, pat, pen, tol_factor, rng, **kwargs)

    return fit


def test_failed_fit_retries_with_a_looser_tolerance_and_says_so(cdnow, monkeypatch):
    monkeypatch.setattr(clv.PurchaseModel, "_lifetimes_fit", _failing_fit(lambda n, p, t: t == 1.0))
    pm = clv.PurchaseModel("bgnbd").fit(cdnow)
    assert pm.model_name_ == "bgnbd" and pm.penalizer_ == 0.0
    text = [str(n) for n in pm.notes_]
    assert text[0].startswith("BG/NBD (penalizer 0.0, tolerance x1) did not fit")
    assert text[-1] == (
        "BG/NBD fitted with penalizer 0.0 and tolerance x100 after 1 failed attempt(s)."
    )
    assert pm.params_["r"] == pytest.approx(0.243, abs=2e-3)  # unbiased: no penalizer


def test_then_with_a_small_penalizer(cdnow, monkeypatch):
    monkeypatch.setattr(clv.PurchaseModel, "_lifetimes_fit", _failing_fit(lambda n, p, t: p == 0))
    pm = clv.PurchaseModel("bgnbd").fit(cdnow)
    assert pm.model_name_ == "bgnbd" and pm.penalizer_ == clv.RETRY_PENALIZER
    assert "penalizer 0.001 and tolerance x1 after 2 failed attempt(s)" in str(pm.notes_[-1])


def test_failed_model_falls_back_to_another_model(cdnow, monkeypatch):
    monkeypatch.setattr(
        clv.PurchaseModel, "_lifetimes_fit", _failing_fit(lambda n, p, t: n == "bgnbd")
    )
    pm = clv.PurchaseModel("bgnbd").fit(cdnow)
    assert pm.model_name_ == "mbgnbd"
    # as is, looser tolerance, penalizer, lifetimes' own fitter
    assert len([n for n in pm.notes_ if "did not fit" in str(n)]) == 4
    assert str(pm.notes_[-1]) == (
        "Used Modified BG/NBD (penalizer 0.0) instead of the requested BG/NBD, which could not "
        "be fitted."
    )


def test_spend_model_recovers_from_bfgs_precision_loss(monkeypatch, cdnow):
    """lifetimes' BFGS reports 'precision loss' at the optimum on large data (1M customers in
    bench/bench_clv.py): the looser tolerance keeps the unpenalized estimate."""
    original = clv.lk.fit_spend

    def flaky(*args, tol=1e-7, **kwargs):
        if tol < 1e-6:
            raise clv.lk.FitError("The model did not converge.")
        return original(*args, tol=tol, **kwargs)

    monkeypatch.setattr(clv.lk, "fit_spend", flaky)
    sm = clv.SpendModel().fit(cdnow)
    assert sm.penalizer_ == 0.0 and not sm.fallback_
    got = [sm.params_[k] for k in "pqv"]
    np.testing.assert_almost_equal(got, [6.25, 3.74, 15.45], decimal=1)
    assert "Gamma-Gamma (penalizer 0.0, tolerance x1) did not fit" in str(sm.notes_[0])
    assert str(sm.notes_[1]) == "Gamma-Gamma fitted with penalizer 0.0 and tolerance x100."


def test_when_nothing_fits_the_error_lists_every_attempt(cdnow, monkeypatch):
    monkeypatch.setattr(clv.PurchaseModel, "_lifetimes_fit", _failing_fit(lambda n, p, t: True))
    with pytest.raises(NotEnoughData, match="No purchase model could be fitted.*Pareto/NBD"):
        clv.PurchaseModel("bgnbd").fit(cdnow)


def _slow_pareto(monkeypatch, seconds: float) -> None:
    """Each Pareto/NBD likelihood evaluation 'takes' ``seconds``: the clock that deadlines are
    set and checked by jumps (no sleeping: the test does not depend on the machine's speed)."""
    real = clv.time.perf_counter
    jump = {"s": 0.0}
    clock = SimpleNamespace(perf_counter=lambda: real() + jump["s"])
    monkeypatch.setattr(clv, "time", clock)
    monkeypatch.setattr(clv.lk, "time", clock)
    pareto = clv.lk._pareto

    def slow(*args):
        jump["s"] += seconds
        return pareto(*args)

    monkeypatch.setattr(clv.lk, "_pareto", slow)


# Pareto/NBD out of time: its fast likelihood stalls past its share of the budget, then
# lifetimes' own fitter (whose likelihood is timed by the same clock) runs out of the rest.
PARETO_OUT_OF_TIME = [
    "Pareto/NBD (penalizer 0.0, tolerance x1) did not fit: it took more than 3 s of its 5 s time "
    "budget.",
    "Pareto/NBD (penalizer 0.0, tolerance x1) did not fit: it ran out of its time budget of 5 s.",
]


def test_a_model_out_of_its_time_budget_gives_up_and_auto_picks_another(cdnow, monkeypatch):
    _slow_pareto(monkeypatch, 100.0)
    pm, table, notes = clv.select_purchase_model(cdnow, model="auto", time_budget=5.0)
    assert set(table["model"]) == {"bgnbd", "mbgnbd"}
    assert pm.model_name_ == "mbgnbd"  # the lowest BIC of the two on CDNow
    assert str(notes[0]).startswith("Auto chose Modified BG/NBD: lowest BIC")
    assert [str(n) for n in notes if "time budget" in str(n)] == PARETO_OUT_OF_TIME


def test_out_of_time_a_model_is_not_retried_and_the_next_model_fits(cdnow, monkeypatch):
    _slow_pareto(monkeypatch, 100.0)
    pm = clv.PurchaseModel("pareto", time_budget=5.0).fit(cdnow)
    assert pm.model_name_ == "bgnbd"  # the next model in the plan
    assert [str(n) for n in pm.notes_ if "time budget" in str(n)] == PARETO_OUT_OF_TIME


def test_a_tiny_time_budget_gives_up_with_the_reason(cdnow):
    with pytest.raises(NotEnoughData, match="ran out of its time budget of 1e-09 s") as err:
        clv.PurchaseModel("bgnbd", time_budget=1e-9).fit(cdnow)
    # each model: its fast likelihood once (no retry without time), then lifetimes' fitter
    assert len(err.value.attempts) == 6
    with pytest.raises(UsageError, match="time budget must be a positive number"):
        clv.fit_clv(store.from_frames(transactions=cdnow_transactions()), time_budget=0)


@pytest.mark.parametrize("name", ["bgnbd", "pareto"])
def test_when_the_fast_likelihood_fails_lifetimes_own_fitter_takes_over(cdnow, monkeypatch, name):
    ours = clv.PurchaseModel(name, fallback=False).fit(cdnow)

    def broken(*args, **kwargs):
        raise clv.lk.FitError("The model did not converge.")

    monkeypatch.setattr(clv.lk, "fit_purchase", broken)
    pm = clv.PurchaseModel(name, fallback=False, retries=False).fit(cdnow)
    assert pm.engine_ == "lifetimes" and pm.model_name_ == name
    label = clv.MODEL_LABELS[name]
    assert [str(n) for n in pm.notes_] == [
        f"{label} (penalizer 0.0, tolerance x1) did not fit: The model did not converge.",
        f"{label} fitted with penalizer 0.0 and tolerance x1 after 1 failed attempt(s).",
    ]
    got, want = np.array(list(pm.params_.values())), np.array(list(ours.params_.values()))
    np.testing.assert_allclose(got, want, rtol=1e-3)  # same objective, same optimum


def _nbd_summary(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Customers who never drop out: Poisson purchases at gamma-distributed weekly rates (an
    NBD), observed 20 to 104 weeks; BG/NBD and Pareto/NBD should put drop-out at its bound."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(20, 104, n)
    x = rng.poisson(rng.gamma(0.8, 1 / 5.0, n) * T)
    recency = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1.0), 0.0)  # last of x uniforms
    return pd.DataFrame({"frequency": x.astype(float), "recency": recency, "T": T})


def test_degenerate_fits_are_flagged():
    X = _nbd_summary()
    bg = clv.PurchaseModel("bgnbd", fallback=False).fit(X)
    assert bg.degenerate_ == ("a",) and bg.params_["a"] < 1e-3
    assert str(bg.notes_[-1]).startswith(f"BG/NBD is degenerate: a = {bg.params_['a']:.3g} is at")
    assert "退化" in bg.notes_[-1].text("zh")
    pareto = clv.PurchaseModel("pareto", fallback=False, time_budget=None).fit(X)
    assert pareto.degenerate_ == ("s",)
    _, table, notes = clv.select_purchase_model(X, model="auto", time_budget=None)
    assert {m: d for m, d in zip(table["model"], table["degenerate"], strict=True)} == {
        "bgnbd": ("a",), "mbgnbd": ("a",), "pareto": ("s",)
    }  # fmt: skip
    # the chosen model's notes travel with it; the other two candidates' are in the choice notes
    assert sum("is degenerate" in str(n) for n in notes) == 2


def test_pareto_above_the_pattern_limit_is_replaced_with_a_note(cdnow):
    pm = clv.PurchaseModel("pareto", max_pareto_patterns=500).fit(cdnow)
    assert pm.model_name_ == "bgnbd"
    assert "Pareto/NBD skipped: 1,016 distinct purchase patterns is more than 500" in str(
        pm.notes_[0]
    )


def test_spend_correlation_is_reported(cdnow):
    X = cdnow[cdnow["frequency"] > 0].copy()
    X["monetary_value"] = 10.0 * X["frequency"] + np.arange(len(X)) % 7 + 1
    sm = clv.SpendModel().fit(X)
    assert sm.correlation_ > 0.9
    assert "correlated (r = " in str(sm.notes_[0])


# ------------------------------------------------------------------ estimator contract


def test_estimator_contract(cdnow):
    pm = clv.PurchaseModel("bgnbd", penalizer=0.0, random_state=3)
    assert pm.get_params()["random_state"] == 3 and not hasattr(pm, "params_")
    with pytest.raises(NotFittedError):
        pm.p_alive(cdnow)
    with pytest.raises(NotFittedError):
        clv.SpendModel().expected_avg_value(cdnow)
    assert pm.fit(cdnow) is pm
    fitted = [a for a in vars(pm) if a.endswith("_") and not a.startswith("_")]
    assert {"model_", "params_", "log_likelihood_", "notes_", "scale_"} <= set(fitted)


def test_random_state_makes_pareto_reproducible(cdnow):
    a = clv.PurchaseModel("pareto", random_state=5).fit(cdnow).params_
    b = clv.PurchaseModel("pareto", random_state=5).fit(cdnow).params_
    c = clv.PurchaseModel("pareto", random_state=6).fit(cdnow).params_
    assert a == b
    assert a != c and a == pytest.approx(c, rel=1e-3)  # another start, same optimum


# ---------------------------------------------------------------------- public API


def test_predict_clv_contract(synth_con):
    df = clv.predict_clv(synth_con)
    need = ["customer_id", "frequency", "recency", "T", "monetary_value", "p_alive",
            "expected_purchases", "expected_avg_value", "clv", "expected_next_order",
            "clv_decile"]  # fmt: skip
    assert set(need) <= set(df.columns)
    assert df["customer_id"].is_unique and len(df) == 900
    assert df["clv"].ge(0).all() and df["p_alive"].between(0, 1).all()
    assert sorted(df["clv_decile"].unique()) == list(range(1, 11))
    top = df.loc[df["clv_decile"] == 1, "clv"].min()
    assert top >= df.loc[df["clv_decile"] == 2, "clv"].max()
    as_of = pd.Timestamp(
        store.query_df(synth_con, "select max(order_ts) m from transactions")["m"][0]
    )
    nxt = df["expected_next_order"].dropna()
    assert len(nxt) and (nxt > as_of).all() and (nxt <= as_of + pd.Timedelta(weeks=52)).all()


def test_for_customers_keeps_the_fit_and_shows_only_those_customers(synth_con):
    res = clv.fit_clv(synth_con, model="bgnbd")
    ids = pd.Series(res.customers["customer_id"].iloc[::3].astype(str).tolist()[::-1])
    shown = clv.for_customers(res, ids)
    assert sorted(shown.customers["customer_id"]) == sorted(ids)
    assert shown.params == res.params and shown.n_customers == res.n_customers == 900
    # ranks stay those among every customer
    kept = res.customers.set_index("customer_id").loc[shown.customers["customer_id"], "clv_rank"]
    assert shown.customers["clv_rank"].tolist() == kept.tolist()
    assert clv.for_customers(res, None) is res


def test_p_alive_contract(synth_con):
    df = clv.p_alive(synth_con, period="W")
    assert list(df.columns) == ["customer_id", "p_alive"]
    full = clv.predict_clv(synth_con)
    np.testing.assert_allclose(df["p_alive"], full["p_alive"])


def test_auto_picks_the_lowest_bic(cdnow):
    pm, table, notes = clv.select_purchase_model(cdnow, model="auto")
    assert set(table["model"]) == {"bgnbd", "mbgnbd", "pareto"}
    assert table.loc[table["bic"].idxmin(), "model"] == pm.model_name_ == "mbgnbd"
    assert str(notes[0]).startswith("Auto chose Modified BG/NBD: lowest BIC")


def test_margin_and_horizon_scale_clv(synth_con):
    base = clv.predict_clv(synth_con, model="bgnbd")
    half = clv.predict_clv(synth_con, model="bgnbd", margin=0.5)
    # Each call refits: DuckDB's parallel sums make monetary_value differ in the last bits
    # between summaries, which can tip Gamma-Gamma's BFGS into its looser-tolerance retry
    # (about 3e-6 relative on this data); the margin itself scales exactly.
    np.testing.assert_allclose(half["clv"], base["clv"] / 2, rtol=1e-5)
    longer = clv.predict_clv(synth_con, model="bgnbd", horizon=104)
    assert (longer["clv"] >= base["clv"] - 1e-9).all()
    assert longer["clv"].sum() > base["clv"].sum()


# --------------------------------------------------------------------- analysis tables


def _customers(clv_values, **extra) -> pd.DataFrame:
    n = len(clv_values)
    base = {
        "customer_id": [f"c{i}" for i in range(n)],
        "clv": clv_values,
        "p_alive": np.linspace(0.1, 0.9, n),
        "expected_purchases": np.ones(n),
        "frequency": np.arange(n) % 3,
        "recency": np.zeros(n),
        "T": np.arange(n, dtype=float),
        "revenue": np.full(n, 100.0),
    }
    return pd.DataFrame({**base, **extra})


def test_value_concentration_and_lorenz_by_hand():
    cust = _customers([50.0, 30.0, 10.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    conc = clv.value_concentration(cust, tops=(10, 20, 50))
    assert conc["customers"].tolist() == [1, 2, 5]
    assert conc["share"].tolist() == pytest.approx([0.5, 0.8, 1.0])
    curve = clv.lorenz_curve(cust, points=11)
    assert curve["value_share"].tolist() == pytest.approx(
        [0, 0.5, 0.8, 0.9, 0.95, 1, 1, 1, 1, 1, 1]
    )


def test_value_by_group_by_hand():
    cust = _customers([60.0, 20.0, 10.0, 10.0])
    groups = pd.DataFrame({"customer_id": ["c0", "c1", "c2", "c3"], "tier": ["A", "B", "B", "B"]})
    got = clv.value_by_group(cust, groups, "tier")
    want = pd.DataFrame(
        {
            "group": ["A", "B"],
            "customers": [1, 3],
            "clv_total": [60.0, 40.0],
            "clv_mean": [60.0, 40.0 / 3],
            "customer_share": [0.25, 0.75],
            "clv_share": [0.6, 0.4],
        }
    )
    assert_frame_equal(got[list(want.columns)], want, check_dtype=False)
    assert clv.group_takeaway(got)["group"] == "A"


def test_stage_alive_bands_by_hand():
    cust = _customers([1.0] * 4, p_alive=[0.1, 0.3, 0.6, 0.9])
    stages = pd.DataFrame({"customer_id": ["c0", "c1", "c2", "c3"],
                           "stage": ["Churned", "Churned", "At risk", "Active"]})  # fmt: skip
    got = clv.stage_alive(cust, stages)
    churned = got[got["stage"] == "Churned"]
    assert churned["band"].tolist() == ["P(alive) < 25%", "25-50%"]
    assert churned["share_of_stage"].tolist() == [0.5, 0.5]
    assert "1 customers in silent stages" in clv.takeaway_stages(got)


def test_alive_matrix_and_silence_threshold():
    n = 40
    cust = _customers(
        [1.0] * n,
        frequency=np.full(n, 2),
        T=np.full(n, 30.0),
        recency=np.repeat([28.0, 10.0], n // 2),  # silent 2 periods vs 20 periods
        p_alive=np.repeat([0.9, 0.2], n // 2),
    )
    assert clv.silence_threshold(cust) == 20.0
    m = clv.alive_matrix(cust, value="p_alive", bins=4)
    assert m["customers"].sum() == n
    assert m.sort_values("silence_order")["value"].tolist() == pytest.approx([0.9, 0.2])


def test_ltv_cac_and_payback_by_hand():
    """Two web customers paying 30 then 30 per week; CAC 50: payback in the 2nd week."""
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "b", "c"],
            "order_ts": pd.to_datetime(
                ["2024-01-01", "2024-01-08", "2024-01-01", "2024-01-08", "2024-01-01"]
            ),
            "amount": [30.0, 30.0, 30.0, 30.0, 10.0],
            "channel": ["web", "web", "web", "web", "store"],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "acquisition_channel": ["web", "web", "store"],
            "acquisition_cost": [50.0, 50.0, 40.0],
        }
    )
    con = store.from_frames(transactions=tx, customers=customers)
    attrs = clv.customer_attributes(con, as_of="2024-01-31")
    assert attrs.set_index("customer_id")["cohort"].tolist() == ["2024-Q1"] * 3
    curve = clv.channel_margin_curve(con, as_of="2024-01-31", period="W")
    web = curve[curve["channel"] == "web"]
    assert web["cum_margin"].tolist() == pytest.approx([30.0, 60.0])
    scored = pd.DataFrame({"customer_id": ["a", "b", "c"], "clv": [40.0, 20.0, 5.0],
                           "revenue": [60.0, 60.0, 10.0]})  # fmt: skip
    table = clv.ltv_cac(scored, attrs, curve).set_index("channel")
    assert table.loc["web", "ltv"] == pytest.approx(60.0 + 30.0)
    assert table.loc["web", "ltv_cac"] == pytest.approx(90.0 / 50.0)
    assert table.loc["web", "payback_periods"] == 2.0
    assert np.isnan(table.loc["store", "payback_periods"])  # 10 never covers 40
    edited = clv.ltv_cac(scored, attrs, curve, costs={"web": 20.0}).set_index("channel")
    assert edited.loc["web", "payback_periods"] == 1.0 and edited.loc["web", "cac"] == 20.0


def test_cohort_fits_compare_with_pooled(synth_con):
    cc = clv.cohort_fits(synth_con, by="channel", model="bgnbd")
    assert set(cc.table["cohort"]) == {"web", "store", "app"}
    fitted = cc.table[cc.table["status"] == "fitted"]
    assert len(fitted) == 3 and np.isfinite(cc.bic_pooled) and np.isfinite(cc.bic_cohorts)
    # each own fit is at least as likely for its cohort as the pooled fit
    assert (fitted["ll_cohort"] >= fitted["ll_pooled"] - 1e-6).all()
    quarters = clv.cohort_fits(synth_con, by="cohort", model="bgnbd")
    skipped = quarters.table[quarters.table["status"] == "skipped"]
    assert len(skipped) and all("A cohort fit needs" in str(n) for n in skipped["reason"])


# ------------------------------------------------------------------------------ i18n

_SOURCES = [ROOT / "clm_core" / "clv.py", ROOT / "clm_core" / "clv_validation.py"]


def _literal_labels(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            arg = node.args[0]
            if name in {"translate", "_note", "_not_enough", "Note"} and isinstance(
                arg, ast.Constant
            ):
                out.add(arg.value)
    return out


def test_every_clv_label_has_chinese():
    labels = set().union(*(_literal_labels(p) for p in _SOURCES))
    labels |= set(clv.PERIOD_UNITS.values()) | set(clv.PERIOD_UNIT.values())
    labels |= {b[2] for b in clv.ALIVE_BANDS} | set(clv._HEADERS.values())
    labels |= {"CLV distribution (log scale)", "CLV distribution (top 1% capped)", "Value",
               "Alive or gone", "Validation", "Cohort fits", "Engine check", "Customers", "Customer list",
               "Segment", "Tier", "First-purchase quarter", "A cohort fit", "P(alive)",
               "Validation (calibration period)", "Expected purchases", "better", "no better",
               "P(alive) by repeat purchases and silence", "fitted", "skipped"}  # fmt: skip
    missing = sorted(x for x in labels if x not in i18n.ZH)
    assert not missing, missing


def test_results_do_not_depend_on_the_clock():
    """CLV follows the data's as-of date; nothing reads today's date."""
    text = "".join(p.read_text() for p in _SOURCES)
    assert "date.today" not in text and "datetime.now" not in text
