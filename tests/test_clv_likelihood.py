"""The fast likelihoods are lifetimes' own: same values, same gradients, same optimum."""

from __future__ import annotations

import time

import numpy as np
import pytest
from autograd import grad
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

from clm_core import clv_likelihood as lk

LIFETIMES = {"bgnbd": BetaGeoFitter, "mbgnbd": ModifiedBetaGeoFitter}


@pytest.fixture(scope="module")
def cdnow_scaled():
    df = load_cdnow_summary_data_with_monetary_value()
    f = df["frequency"].to_numpy(float)
    scale = 1.0 / df["T"].max()
    r, T = df["recency"].to_numpy() * scale, df["T"].to_numpy() * scale
    w = np.random.default_rng(1).integers(1, 5, len(f)).astype(float)  # uneven weights
    return f, r, T, w, df


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd"])
@pytest.mark.parametrize("penalizer", [0.0, 0.1])
def test_purchase_value_and_gradient_equal_lifetimes(cdnow_scaled, name, penalizer):
    f, r, T, w, _ = cdnow_scaled
    data = lk.PurchaseData.of(f, r, T, w)
    nll = LIFETIMES[name]._negative_log_likelihood
    for log_params in np.random.default_rng(0).normal(0, 1, (4, 4)):
        value, gradient = lk._SMOOTH[name](log_params, data, penalizer)
        assert value == pytest.approx(nll(log_params, f, r, T, w, penalizer), rel=1e-12)
        want = grad(nll)(log_params, f, r, T, w, penalizer)
        np.testing.assert_allclose(gradient, want, rtol=1e-9, atol=1e-12)


def test_spend_value_and_gradient_equal_lifetimes(cdnow_scaled):
    df = cdnow_scaled[4]
    rep = df[df["frequency"] > 0]
    x, m = rep["frequency"].to_numpy(float), rep["monetary_value"].to_numpy(float)
    w = np.ones(len(x))
    data = lk.SpendData.of(x, m, w)
    nll = GammaGammaFitter._negative_log_likelihood
    for log_params in np.random.default_rng(0).normal(0, 1, (4, 3)):
        value, gradient = lk._gamma_gamma(log_params, data, 0.01)
        assert value == pytest.approx(nll(log_params, x, m, w, 0.01), rel=1e-12)
        np.testing.assert_allclose(
            gradient, grad(nll)(log_params, x, m, w, 0.01), rtol=1e-9, atol=1e-12
        )


@pytest.mark.parametrize(
    "params",
    [[0.553, 0.14, 0.606, 0.15], [0.5, 0.2, 1.5, 0.1], [1.2, 0.05, 0.4, 0.5]],
    ids=["cdnow-optimum", "alpha>beta", "alpha<beta"],
)
def test_pareto_value_equals_lifetimes(cdnow_scaled, params):
    f, r, T, w, _ = cdnow_scaled
    want = ParetoNBDFitter._negative_log_likelihood(np.array(params), f, r, T, w, 0.01)
    got = lk.negative_log_likelihood("pareto", params, lk.PurchaseData.of(f, r, T, w), 0.01)
    assert got == pytest.approx(want, rel=1e-12)


def _bgnbd_patterns(n: int, seed: int = 0) -> lk.PurchaseData:
    """A BG/NBD population (CDNow parameters) at day resolution, as weighted patterns."""
    rng = np.random.default_rng(seed)
    age = rng.integers(1, 730, n).astype(float)
    lam = rng.gamma(0.243, 1 / 4.414, n) / 7.0
    p = rng.beta(0.793, 2.426, n)
    alive_for = rng.geometric(p).astype(float)  # purchases until drop-out (incl. the first)
    t = np.cumsum(rng.exponential(1.0, (n, 30)), axis=1) / np.maximum(lam, 1e-12)[:, None]
    made = (t <= age[:, None]) & (np.arange(1, 31) < alive_for[:, None])
    x = made.sum(axis=1).astype(float)
    last = np.where(x > 0, np.floor(np.max(np.where(made, t, 0.0), axis=1)), 0.0)
    key = np.stack([x, last, age], axis=1)
    uniq, w = np.unique(key, axis=0, return_counts=True)
    return lk.PurchaseData.of(uniq[:, 0], uniq[:, 1] / 729, uniq[:, 2] / 729, w)


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd"])
def test_warm_start_reaches_the_cold_optimum_in_fewer_evaluations(name):
    data = _bgnbd_patterns(200_000)
    assert len(data.w) > lk.WARM_START_PATTERNS  # the warm start is used
    warm = lk.fit_purchase(name, data)
    cold_limit = lk.WARM_START_PATTERNS
    try:
        lk.WARM_START_PATTERNS = 10**9
        cold = lk.fit_purchase(name, data)
    finally:
        lk.WARM_START_PATTERNS = cold_limit
    np.testing.assert_allclose(warm.params, cold.params, rtol=1e-4)
    assert warm.fun == pytest.approx(cold.fun, rel=1e-9)
    assert warm.iterations < cold.iterations / 2  # BFGS steps on the full data


def test_fit_reproduces_published_cdnow_parameters(cdnow_scaled):
    f, r, T, _, df = cdnow_scaled
    out = lk.fit_purchase("bgnbd", lk.PurchaseData.of(f, r, T, np.ones(len(f))))
    scale = 1.0 / df["T"].max()
    got = out.params / [1, scale, 1, 1]
    np.testing.assert_almost_equal(got, [0.243, 4.414, 0.793, 2.426], decimal=3)


def _heavy_buyer() -> lk.PurchaseData:
    """A one-time buyer, a light buyer and one who bought 150 times, lately (scaled unit)."""
    return lk.PurchaseData.of(
        np.array([0.0, 3.0, 150.0]), np.array([0.0, 0.5, 1.0]), np.ones(3), np.ones(3)
    )


def test_a_pareto_start_without_a_finite_likelihood_is_refused_at_once(monkeypatch):
    """Far from alpha, beta makes the hypergeometric terms overflow: lifetimes' Nelder-Mead
    would spend its 2,000 iterations on NaN; the fit says so after one evaluation."""
    calls = []
    pareto = lk._pareto
    monkeypatch.setattr(lk, "_pareto", lambda *a: calls.append(1) or pareto(*a))
    start = np.array([0.8, 0.2, 1.0, 1e3])
    assert np.isnan(lk.negative_log_likelihood("pareto", start, _heavy_buyer()))
    calls.clear()
    with pytest.raises(lk.FitError, match="not finite at the starting values"):
        lk.fit_purchase("pareto", _heavy_buyer(), initial_params=start)
    assert len(calls) == 1


@pytest.mark.parametrize("name", ["bgnbd", "mbgnbd", "pareto"])
def test_a_fit_past_its_deadline_stops(cdnow_scaled, name):
    f, r, T, w, _ = cdnow_scaled
    data = lk.PurchaseData.of(f, r, T, w)
    with pytest.raises(lk.FitTimeout, match="ran out of its time budget"):
        lk.fit_purchase(name, data, initial_params=np.ones(4), deadline=time.perf_counter() - 1)
    assert issubclass(lk.FitTimeout, lk.FitError)  # callers that catch FitError catch it too
