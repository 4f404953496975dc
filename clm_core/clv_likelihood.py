"""lifetimes' CLV likelihoods, evaluated per distinct value so fitting stays fast at any size.

The objectives are lifetimes' own, term for term, with the same scaling, penalty and optimiser
(scipy ``minimize``: BFGS, or L-BFGS-B with bounds, on log parameters with an exact gradient
for BG/NBD, Modified BG/NBD and Gamma-Gamma; Nelder-Mead on the parameters for Pareto/NBD).
They differ only in how the sum over purchase patterns is evaluated:

- every term that depends on the frequency x alone (log-gamma, digamma) is computed once per
  distinct x, and log(alpha + T), log(alpha + t_x) once per distinct T and t_x, then gathered;
- the gradient is analytic instead of autograd's reverse pass (lifetimes' ``_fit`` also builds
  an autograd Hessian we never use);
- for Pareto/NBD the two Gauss hypergeometric terms of log A_0 (Fader & Hardie note 009, eq.
  19-20) depend on (x, t_x) and on (x, T) only, so they are evaluated once per distinct pair
  instead of once per pattern.

A pattern then costs a handful of arithmetic operations per evaluation, so a fit of 300,000
distinct patterns takes a fraction of a second. ``tests/test_clv_likelihood.py`` checks values
and gradients against lifetimes' ``_negative_log_likelihood`` and the fitted parameters against
lifetimes' own fit.

**Time budget.** Every fit takes an optional ``deadline`` (a :func:`time.perf_counter` value):
the objective checks it before each evaluation and raises :class:`FitTimeout` past it, so a fit
that wanders (Nelder-Mead in a region where the likelihood is not finite needs its 2,000
iterations to give up) stops on time instead. A Pareto/NBD start where the likelihood is not
finite, and a Nelder-Mead run that ends without converging, raise :class:`FitError` at once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

__all__ = [
    "FitError",
    "FitOutput",
    "FitTimeout",
    "PurchaseData",
    "SpendData",
    "fit_purchase",
    "fit_spend",
    "negative_log_likelihood",
    "one_blas_thread",
    "with_deadline",
]


def one_blas_thread():
    """Run the dot products in this thread only: on a busy 2-core machine OpenBLAS's worker
    threads spin waiting for a core and a likelihood evaluation takes ~7x longer."""
    return threadpool_limits(1, user_api="blas")


def _index(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inv = np.unique(values, return_inverse=True)
    return uniq, inv.reshape(-1)


@dataclass(frozen=True)
class PurchaseData:
    """Patterns (x, t_x, T) in lifetimes' scaled unit with weights, indexed by distinct value.

    One-time buyers (x = 0, t_x = 0) depend on T only and are kept as weights per distinct T
    (``zero_w``); repeat patterns keep their indices into the distinct x, t_x and T.
    """

    x: np.ndarray  # all patterns (for the log-likelihood conversion and Pareto/NBD)
    w: np.ndarray
    xu: np.ndarray  # distinct frequencies
    xi: np.ndarray  # pattern -> distinct frequency
    ru: np.ndarray
    ri: np.ndarray
    tu: np.ndarray
    ti: np.ndarray
    rep: np.ndarray  # indices of the repeat patterns
    wx: np.ndarray  # total weight per distinct frequency
    zero_w: np.ndarray  # weight of one-time buyers per distinct T

    @classmethod
    def of(cls, frequency, recency, T, weights) -> PurchaseData:
        # lifetimes casts the frequency to int before fitting
        x = np.asarray(frequency).astype(int).astype(float)
        w = np.asarray(weights, dtype=float)
        xu, xi = _index(x)
        ru, ri = _index(np.asarray(recency, dtype=float))
        tu, ti = _index(np.asarray(T, dtype=float))
        zero = x == 0
        return cls(
            x, w, xu, xi, ru, ri, tu, ti,
            rep=np.flatnonzero(~zero),
            wx=np.bincount(xi, weights=w, minlength=len(xu)),
            zero_w=np.bincount(ti[zero], weights=w[zero], minlength=len(tu)),
        )  # fmt: skip

    @functools.cached_property
    def repeat(self) -> tuple[np.ndarray, ...]:
        """x, w, xi, ri, ti of the repeat patterns."""
        k = self.rep
        return self.x[k], self.w[k], self.xi[k], self.ri[k], self.ti[k]

    def pairs(self, which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct (x, t_x) or (x, T) pairs: their x, time and each pattern's pair index."""
        other, oi = (self.ru, self.ri) if which == "recency" else (self.tu, self.ti)
        key = self.xi.astype(np.int64) * len(other) + oi
        uniq, inv = _index(key)
        return self.xu[uniq // len(other)], other[uniq % len(other)], inv


@dataclass(frozen=True)
class SpendData:
    """Repeat buyers' (x, m) with weights, indexed by distinct x."""

    x: np.ndarray
    m: np.ndarray
    w: np.ndarray
    xu: np.ndarray
    xi: np.ndarray
    log_m: np.ndarray
    wx: np.ndarray

    @classmethod
    def of(cls, frequency, monetary_value, weights) -> SpendData:
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        w = np.asarray(weights, dtype=float)
        xu, xi = _index(x)
        return cls(x, m, w, xu, xi, np.log(m), np.bincount(xi, weights=w, minlength=len(xu)))


def _log_sum(a3: np.ndarray, a4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(e^a3 + e^a4) and e^a4 / (e^a3 + e^a4), with one exp and one log per element."""
    d = a4 - a3
    e = np.exp(-np.abs(d))
    one_e = 1.0 + e
    lse = np.maximum(a3, a4) + np.log(one_e)
    small = e / one_e  # the smaller term's share
    share4 = small + (d >= 0) * (1.0 - 2.0 * small)
    return lse, share4


# ------------------------------------------------------------------------------ BG/NBD


def _bgnbd(log_params: np.ndarray, d: PurchaseData, pen: float, grad: bool = True):
    """lifetimes ``BetaGeoFitter._negative_log_likelihood`` and its gradient (log params).

    ll = A_1 + A_2 + log(exp(A_3) + [x > 0] exp(A_4)) (Fader, Hardie & Lee 2005, section 7).
    """
    params = np.exp(log_params)
    r, alpha, a, b = params
    xu, sw = d.xu, d.wx.sum()
    LT, LR = np.log(alpha + d.tu), np.log(alpha + d.ru)
    a12 = (
        gammaln(r + xu) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + xu) - gammaln(b) - gammaln(a + b + xu)
    )  # fmt: skip
    bx = b + np.maximum(xu, 1) - 1
    c4 = np.log(a) - np.log(bx)
    x, w, xi, ri, ti = d.repeat
    rx = x + r
    lt, lr = LT.take(ti), LR.take(ri)
    lse, share4 = _log_sum(-rx * lt, c4.take(xi) - rx * lr)
    ll = np.dot(d.wx, a12) - r * np.dot(d.zero_w, LT) + np.dot(w, lse)
    value = -ll / sw + pen * np.sum(params**2)
    if not grad:
        return value
    w4 = w * share4
    w3 = w - w4
    w4x = np.bincount(xi, weights=w4, minlength=len(xu))
    ILT, ILR = 1.0 / (alpha + d.tu), 1.0 / (alpha + d.ru)
    psi_ab = digamma(a + b)
    g_r = (
        np.dot(d.wx, digamma(r + xu) - digamma(r) + np.log(alpha))
        - np.dot(d.zero_w, LT) - np.dot(w3, lt) - np.dot(w4, lr)
    )  # fmt: skip
    g_alpha = (
        r / alpha * sw - r * np.dot(d.zero_w, ILT)
        - np.dot(w3 * rx, ILT.take(ti)) - np.dot(w4 * rx, ILR.take(ri))
    )  # fmt: skip
    g_a = np.dot(d.wx, psi_ab - digamma(a + b + xu)) + w4x.sum() / a
    g_b = np.dot(d.wx, psi_ab + digamma(b + xu) - digamma(b) - digamma(a + b + xu))
    g_b -= np.dot(w4x, 1.0 / bx)
    g = -np.array([g_r, g_alpha, g_a, g_b]) / sw * params + 2 * pen * params**2
    return value, g


def _mbgnbd_block(params, xu, c4, x, w, xi, lt, lr, ilt, ilr):
    """Modified BG/NBD terms that vary by pattern: value and gradient sums of one block."""
    r = params[0]
    rx = x + r
    a4 = c4.take(xi) + rx * (lt - lr)
    lse, sig = _log_sum(np.zeros_like(a4), a4)  # logaddexp(A_4, 0) and sigmoid(A_4)
    ws = w * sig
    value = np.dot(w, lse - rx * lt)
    g_r = -np.dot(w, lt) + np.dot(ws, lt - lr)
    g_alpha = -np.dot(w * rx, ilt) + np.dot(ws * rx, ilt - ilr)
    wsx = np.bincount(xi, weights=ws, minlength=len(xu))
    return value, g_r, g_alpha, wsx


def _mbgnbd(log_params: np.ndarray, d: PurchaseData, pen: float, grad: bool = True):
    """lifetimes ``ModifiedBetaGeoFitter._negative_log_likelihood`` and its gradient.

    ll = A_1 + A_2 + A_3 + log(1 + exp(A_4)) (Batislam, Denizel & Filiztekin 2007).
    """
    params = np.exp(log_params)
    r, alpha, a, b = params
    xu, sw = d.xu, d.wx.sum()
    LT, LR = np.log(alpha + d.tu), np.log(alpha + d.ru)
    ILT, ILR = 1.0 / (alpha + d.tu), 1.0 / (alpha + d.ru)
    a12 = (
        gammaln(r + xu) - gammaln(r) + r * np.log(alpha)
        + gammaln(a + b) + gammaln(b + xu + 1) - gammaln(b) - gammaln(a + b + xu + 1)
    )  # fmt: skip
    c4 = np.log(a) - np.log(b + xu)
    x, w, xi, ri, ti = d.repeat
    rep = _mbgnbd_block(
        params, xu, c4, x, w, xi, LT.take(ti), LR.take(ri), ILT.take(ti), ILR.take(ri)
    )
    # one-time buyers, per distinct T: x = 0, t_x = 0
    zi = np.full(len(d.tu), int(np.searchsorted(xu, 0.0)))
    la, ia = np.full(len(d.tu), np.log(alpha)), np.full(len(d.tu), 1.0 / alpha)
    zero = _mbgnbd_block(params, xu, c4, np.zeros(len(d.tu)), d.zero_w, zi, LT, la, ILT, ia)
    value = -(np.dot(d.wx, a12) + rep[0] + zero[0]) / sw + pen * np.sum(params**2)
    if not grad:
        return value
    wsx = rep[3] + zero[3]
    psi = digamma(a + b + xu + 1)
    g_r = np.dot(d.wx, digamma(r + xu) - digamma(r) + np.log(alpha)) + rep[1] + zero[1]
    g_alpha = r / alpha * sw + rep[2] + zero[2]
    g_a = np.dot(d.wx, digamma(a + b) - psi) + wsx.sum() / a
    g_b = np.dot(d.wx, digamma(a + b) + digamma(b + xu + 1) - digamma(b) - psi)
    g_b -= np.dot(wsx, 1.0 / (b + xu))
    g = -np.array([g_r, g_alpha, g_a, g_b]) / sw * params + 2 * pen * params**2
    return value, g


# --------------------------------------------------------------------------- Pareto/NBD


class _ParetoTerms:
    """Distinct (x, t_x) and (x, T) pairs of a PurchaseData, for lifetimes' log A_0."""

    def __init__(self, d: PurchaseData) -> None:
        self.d = d
        self.rx, self.rt, self.ri = d.pairs("recency")
        self.tx, self.tt, self.ti = d.pairs("T")


def _pareto(params: np.ndarray, terms: _ParetoTerms, pen: float) -> float:
    """lifetimes ``ParetoNBDFitter._negative_log_likelihood`` (natural parameters)."""
    params = np.asarray(params, dtype=float)
    if np.any(params <= 0.0):
        return np.inf
    return _pareto_value(params, terms, pen)


def _pareto_value(params: np.ndarray, terms: _ParetoTerms, pen: float) -> float:
    r, alpha, s, beta = params
    d = terms.d
    x = d.x
    lo, hi = (alpha, beta) if alpha < beta else (beta, alpha)
    diff = hi - lo
    # lifetimes' _log_A_0 (note 009 eq. 19-20): p_1 on (x, t_x), p_2 on (x, T)
    b_r = r + terms.rx if alpha < beta else s + 1.0
    b_t = r + terms.tx if alpha < beta else s + 1.0
    rsf_r, rsf_t = r + s + terms.rx, r + s + terms.tx
    log_p1 = np.log(hyp2f1(rsf_r, b_r, rsf_r + 1.0, diff / (hi + terms.rt))).take(terms.ri)
    log_p2 = np.log(hyp2f1(rsf_t, b_t, rsf_t + 1.0, diff / (hi + terms.tt))).take(terms.ti)
    log_q1 = np.log(hi + d.ru).take(d.ri)
    log_q2 = np.log(hi + d.tu).take(d.ti)
    rsf = r + s + x
    u = log_p1 - rsf * log_q1  # log(p_1 / q_1^rsf)
    v = log_p2 - rsf * log_q2
    with np.errstate(divide="ignore", invalid="ignore"):
        log_a0 = u + np.log(1.0 - np.exp(v - u))  # log(p_1/q_1^rsf - p_2/q_2^rsf)
    xu = d.xu
    a1 = np.dot(d.wx, gammaln(r + xu) - gammaln(r)) + d.wx.sum() * (
        r * np.log(alpha) + s * np.log(beta)
    )
    term1 = -(r + x) * np.log(alpha + d.tu).take(d.ti) - s * np.log(beta + d.tu).take(d.ti)
    term2 = np.log(s) + log_a0 - np.log(r + s + xu).take(d.xi)
    lse, _ = _log_sum(term1, term2)
    ll = a1 + np.dot(d.w, lse)
    return -ll / d.w.mean() + pen * np.sum(params**2)


# ----------------------------------------------------------------------------- Gamma-Gamma


def _gamma_gamma(log_params: np.ndarray, d: SpendData, pen: float, grad: bool = True):
    """lifetimes ``GammaGammaFitter._negative_log_likelihood`` and its gradient (Fader &
    Hardie note 025, eq. 1a)."""
    params = np.exp(log_params)
    p, q, v = params
    xu, sw, w = d.xu, d.wx.sum(), d.w
    px_u = p * xu
    xmv = d.x * d.m + v
    log_xmv = np.log(xmv)
    px = px_u.take(d.xi)
    ll = (
        np.dot(d.wx, gammaln(px_u + q) - gammaln(px_u) - gammaln(q) + px_u * np.log(xu))
        + sw * q * np.log(v)
        + np.dot(w, (px - 1) * d.log_m - (px + q) * log_xmv)
    )
    value = -ll / sw + pen * np.sum(params**2)
    if not grad:
        return value
    psi_pq = digamma(px_u + q)
    g_p = np.dot(d.wx, xu * (psi_pq - digamma(px_u) + np.log(xu))) + np.dot(
        w * d.x, d.log_m - log_xmv
    )
    g_q = np.dot(d.wx, psi_pq) - sw * digamma(q) + sw * np.log(v) - np.dot(w, log_xmv)
    g_v = sw * q / v - np.dot(w * (px + q), 1.0 / xmv)
    g = -np.array([g_p, g_q, g_v]) / sw * params + 2 * pen * params**2
    return value, g


# ------------------------------------------------------------------------------- fitting

_SMOOTH = {"bgnbd": _bgnbd, "mbgnbd": _mbgnbd}


def negative_log_likelihood(name: str, params, data, pen: float = 0.0) -> float:
    """lifetimes' objective of model ``name`` ("bgnbd", "mbgnbd", "pareto", "gamma_gamma"):
    log parameters for the first two and Gamma-Gamma, natural ones for Pareto/NBD."""
    if name == "pareto":
        return _pareto(np.asarray(params, float), _ParetoTerms(data), pen)
    fn = _gamma_gamma if name == "gamma_gamma" else _SMOOTH[name]
    return fn(np.asarray(params, float), data, pen, grad=False)


class FitError(ValueError):
    """The optimiser did not converge (lifetimes raises ConvergenceError in this case)."""


class FitTimeout(FitError):
    """The fit ran past its deadline (see :func:`with_deadline`)."""


def with_deadline(fn: Callable, deadline: float | None) -> Callable:
    """``fn`` raising :class:`FitTimeout` when called after ``deadline`` (a
    :func:`time.perf_counter` value); ``fn`` itself when there is none. An optimiser calls its
    objective once per step, so the check stops a fit within one evaluation of the deadline."""
    if deadline is None:
        return fn

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if time.perf_counter() > deadline:
            raise FitTimeout("it ran out of its time budget.")
        return fn(*args, **kwargs)

    return call


@dataclass(frozen=True)
class FitOutput:
    params: np.ndarray  # natural parameters (time rates in lifetimes' scaled unit)
    fun: float
    evaluations: int
    iterations: int


WARM_START_PATTERNS = 20_000  # above this many patterns, warm-start from a thinned sample
_SAMPLE_CUSTOMERS = 50_000  # customers kept by the thinning


def _thin(d: PurchaseData, seed: int) -> PurchaseData | None:
    """The patterns of a random ~50,000 customers (each kept with the same probability)."""
    total = float(d.w.sum())
    if len(d.w) <= WARM_START_PATTERNS or total <= 2 * _SAMPLE_CUSTOMERS:
        return None
    rng = np.random.default_rng(seed)
    w = rng.binomial(d.w.astype(np.int64), _SAMPLE_CUSTOMERS / total).astype(float)
    keep = w > 0
    ti = d.ti[keep]
    return PurchaseData.of(d.x[keep], d.ru[d.ri[keep]], d.tu[ti], w[keep])


_PARETO_STEP = 0.01  # relative size of the Nelder-Mead simplex around a warm start


def _nelder_mead(terms, x0, penalizer, tol, maxiter, simplex=None, deadline=None):
    # lifetimes' Nelder-Mead runs all its iterations when the start is not finite (every
    # comparison with NaN is false, so the simplex never converges): refuse such a start.
    if not np.isfinite(_pareto(x0, terms, penalizer)):
        raise FitError("the likelihood is not finite at the starting values.")
    options = {"maxiter": maxiter}
    if simplex is not None:
        options["initial_simplex"] = simplex
    return minimize(
        with_deadline(_pareto, deadline), x0=x0, args=(terms, penalizer), method="Nelder-Mead",
        tol=tol, options=options,
    )  # fmt: skip


def _bfgs(fn, x0, args, tol, hess_inv0=None, deadline=None):
    options = {} if hess_inv0 is None else {"hess_inv0": hess_inv0}
    fn = with_deadline(fn, deadline)
    return minimize(fn, x0=x0, args=args, jac=True, tol=tol, method="BFGS", options=options)


def fit_purchase(
    name: str,
    data: PurchaseData,
    *,
    penalizer: float = 0.0,
    tol: float = 1e-7,
    initial_params: np.ndarray | None = None,
    maxiter: int = 2000,
    seed: int = 0,
    deadline: float | None = None,
) -> FitOutput:
    """Minimise lifetimes' objective of ``name`` like lifetimes' ``fit`` does.

    BG/NBD and Modified BG/NBD: BFGS on log parameters from 0.1 (lifetimes' start) or from
    ``log(initial_params)``. Above :data:`WARM_START_PATTERNS` patterns the start and the
    inverse Hessian come from the same fit on a random ~50,000 customers, so the full data
    needs a few BFGS steps instead of ~30 (same optimum, same tolerance).
    Pareto/NBD: Nelder-Mead on the parameters from ``initial_params`` (lifetimes: N(1, 0.05))
    with lifetimes' ``maxiter``. Raises :class:`FitError` when the fit does not converge and
    :class:`FitTimeout` past ``deadline`` (a :func:`time.perf_counter` value; None: no limit).
    """
    with one_blas_thread():
        return _fit_purchase(name, data, penalizer, tol, initial_params, maxiter, seed, deadline)


def _fit_purchase(
    name, data, penalizer, tol, initial_params, maxiter, seed, deadline=None
) -> FitOutput:
    if name == "pareto":
        x0 = np.ones(4) if initial_params is None else np.asarray(initial_params, float)
        simplex, evaluations = None, 0
        sample = _thin(data, seed)
        if sample is not None:  # the sample's optimum, then a simplex 1% around it
            warm = _nelder_mead(_ParetoTerms(sample), x0, penalizer, tol, maxiter, None, deadline)
            evaluations += int(warm.nfev)
            if np.all(np.isfinite(warm.x)) and np.all(warm.x > 0):
                x0 = warm.x
                simplex = np.vstack([x0, x0 * (1.0 + _PARETO_STEP * np.eye(4))])
        out = _nelder_mead(_ParetoTerms(data), x0, penalizer, tol, maxiter, simplex, deadline)
        if not (out.success and np.isfinite(out.fun)):
            raise FitError(f"the model did not converge in {maxiter} iterations.")
        return FitOutput(out.x, float(out.fun), evaluations + int(out.nfev), int(out.nit))
    fn = _SMOOTH[name]
    x0 = np.full(4, 0.1) if initial_params is None else np.log(initial_params)
    hess_inv0, evaluations = None, 0
    sample = _thin(data, seed)
    if sample is not None:
        warm = _bfgs(fn, x0, (sample, penalizer), tol, None, deadline)
        evaluations += int(warm.nfev)
        if warm.success and np.all(np.isfinite(warm.x)):
            h = (warm.hess_inv + warm.hess_inv.T) / 2  # scipy wants it exactly symmetric
            x0 = warm.x
            if np.all(np.isfinite(h)) and np.all(np.linalg.eigvalsh(h) > 0):
                hess_inv0 = h
    out = _bfgs(fn, x0, (data, penalizer), tol, hess_inv0, deadline)
    if not out.success:
        raise FitError("The model did not converge: " + str(out.message))
    return FitOutput(np.exp(out.x), float(out.fun), evaluations + int(out.nfev), int(out.nit))


def fit_spend(
    data: SpendData,
    *,
    penalizer: float = 0.0,
    tol: float = 1e-7,
    q_constraint: bool = False,
    initial_params: np.ndarray | None = None,
    deadline: float | None = None,
) -> FitOutput:
    """Minimise lifetimes' Gamma-Gamma objective as ``GammaGammaFitter.fit`` does (BFGS from
    log parameters 0.1; with ``q_constraint`` L-BFGS-B with log q >= 0); :class:`FitTimeout`
    past ``deadline``."""
    x0 = np.full(3, 0.1) if initial_params is None else np.log(initial_params)
    bounds = ((None, None), (0, None), (None, None)) if q_constraint else None
    with one_blas_thread():
        out = minimize(
            with_deadline(_gamma_gamma, deadline), x0=x0, args=(data, penalizer), jac=True,
            tol=tol, bounds=bounds,
        )  # fmt: skip
    if not out.success:
        raise FitError("The model did not converge: " + str(out.message))
    return FitOutput(np.exp(out.x), float(out.fun), int(out.nfev), int(out.nit))
