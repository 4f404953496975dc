"""Holdout validation of the CLV models against lifetimes' own utilities, and the CDNow check."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter
from lifetimes.utils import calibration_and_holdout_data, expected_cumulative_transactions

from clm_core import clv_validation as cv
from clm_core import store
from clm_core.errors import NotEnoughData, UsageError
from tests.test_clv import cdnow_transactions

CAL_END = "1997-09-30"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return cdnow_transactions()


@pytest.fixture(scope="module")
def con(raw):
    return store.from_frames(transactions=raw)


@pytest.fixture(scope="module")
def validation(con):
    return cv.validate_models(con, calibration_end=CAL_END, period="W")


def test_calibration_holdout_equals_lifetimes(con, raw):
    ours = cv.calibration_holdout(con, calibration_end=CAL_END, period="W")
    ours = ours.set_index("customer_id").sort_index()
    # monetary_value_col only works around a pandas-3 problem in lifetimes without it
    ref = calibration_and_holdout_data(
        raw, "customer_id", "order_ts", calibration_period_end=CAL_END,
        observation_period_end="1998-06-30", freq="D", freq_multiplier=7,
        monetary_value_col="amount",
    ).sort_index()  # fmt: skip
    assert list(ours.index) == list(ref.index) and len(ours) == 2357
    for col in ("frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"):
        np.testing.assert_allclose(ours[col].to_numpy(), ref[col].to_numpy(), err_msg=col)
    assert ours["frequency_holdout"].sum() == 1882  # repeat purchase days in weeks 40-78


def test_cumulative_transactions_equal_lifetimes(validation, raw):
    cal = cv.calibration_holdout(store.from_frames(transactions=raw), calibration_end=CAL_END)
    bg = BetaGeoFitter().fit(cal["frequency_cal"], cal["recency_cal"], cal["T_cal"])
    ref = expected_cumulative_transactions(
        bg, raw, "order_ts", "customer_id", t=78 * 7, freq="D", freq_multiplier=7
    )
    ours = validation.cumulative
    assert len(ours) == len(ref) == 78
    np.testing.assert_array_equal(ours["actual"].to_numpy(), ref["actual"].to_numpy())
    np.testing.assert_allclose(ours["bgnbd"].to_numpy(), ref["predicted"].to_numpy(), rtol=1e-6)


def test_model_comparison_and_best_model(validation):
    comp = validation.comparison.set_index("model")
    assert set(comp.index) == {"bgnbd", "mbgnbd", "pareto"}
    assert comp.loc["bgnbd", "log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert comp.loc["pareto", "log_likelihood"] == pytest.approx(-9595.0, abs=0.1)
    assert (comp["actual"] == 1882).all()
    assert comp["bic"].tolist() == pytest.approx(
        (4 * np.log(2357) - 2 * comp["log_likelihood"]).tolist()
    )
    assert validation.best_model == comp["holdout_mae"].idxmin()
    assert comp.loc[validation.best_model, "best"]
    assert validation.holdout_periods == pytest.approx(273 / 7)


def test_period_transactions_expected_counts(validation):
    pt = validation.period_transactions
    assert pt["purchases"].tolist() == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert pt["actual"].tolist()[:3] == [1411, 439, 214]  # CDNow calibration frequencies
    for model in ("bgnbd", "mbgnbd", "pareto"):
        assert pt[model].sum() == pytest.approx(2357, rel=1e-6)
        assert pt[model].iloc[0] == pytest.approx(1411, rel=0.03)


def test_pmf_interpolation_is_close_to_exact(con):
    """More distinct ages than the grid: interpolated counts stay within 0.1% of exact."""
    from clm_core.clv import PurchaseModel

    cal = cv.calibration_holdout(con, calibration_end=CAL_END)
    X = cal.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    pm = PurchaseModel("bgnbd").fit(X)
    exact = cv._expected_counts(pm, X["T"].to_numpy(), 7)
    old, cv._PMF_AGES = cv._PMF_AGES, 10
    try:
        rough = cv._expected_counts(pm, X["T"].to_numpy(), 7)
    finally:
        cv._PMF_AGES = old
    np.testing.assert_allclose(rough, exact, rtol=1e-3)


def test_calibration_vs_holdout_table(validation):
    cvh = validation.calibration_vs_holdout
    assert cvh["customers"].sum() == 2357
    assert (cvh["actual"] * cvh["customers"]).sum() == pytest.approx(1882)
    assert cvh["actual"].is_monotonic_increasing  # more past purchases, more future ones


def test_holdout_too_short_and_bad_dates(con):
    with pytest.raises(NotEnoughData, match="validation needs at least 28 days"):
        cv.validate_models(con, calibration_end="1998-06-20")
    with pytest.raises(UsageError, match="must be before the end of the data"):
        cv.calibration_holdout(con, calibration_end="1998-07-30")


def test_default_calibration_end_keeps_a_third_for_the_holdout(con):
    end = cv.default_calibration_end(con)
    history = (dt.date(1998, 6, 30) - dt.date(1997, 1, 1)).days  # 545 days
    assert end == dt.date(1998, 6, 30) - dt.timedelta(days=history // 3) == dt.date(1997, 12, 31)


def test_verify_cdnow_reproduces_every_published_estimate():
    check = cv.verify_cdnow()
    assert len(check) == 13 and check["passed"].all(), check
    assert "13 of 13" in cv.takeaway_cdnow(check)
    assert "13 个文献估计值中的 13 个" in cv.takeaway_cdnow(check, lang="zh")
