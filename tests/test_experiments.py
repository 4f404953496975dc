"""Campaign statistics: hand-checked cases and agreement with scipy/statsmodels on the same numbers."""

from __future__ import annotations

import ast
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from clm_core import experiments as ex
from clm_core import i18n, store
from clm_core.errors import MissingTableError, NotEnoughData, UsageError

ROOT = Path(__file__).resolve().parent.parent
SENT = pd.Timestamp("2025-03-03 10:00")


def campaign_frame(groups: dict[str, dict], *, campaign: str = "winback-test") -> pd.DataFrame:
    """Rows for one campaign from per-variant specs: n, k (conversions), revenue per converter
    (scalar or list of length k), cost per customer, channel."""
    rows = []
    for variant, g in groups.items():
        rev = g.get("revenue", 0.0)
        revs = list(rev) if isinstance(rev, list | tuple | np.ndarray) else [rev] * g["k"]
        for i in range(g["n"]):
            conv = i < g["k"]
            rows.append(
                {
                    "customer_id": f"{campaign}-{variant}-{i}",
                    "campaign": campaign,
                    "variant": variant,
                    "sent_ts": SENT,
                    "channel": g.get("channel"),
                    "cost": g.get("cost", 0.0),
                    "converted": conv,
                    "revenue": float(revs[i]) if conv else 0.0,
                }
            )
    return pd.DataFrame(rows)


def random_campaign(seed: int = 3, rates=(0.08, 0.09, 0.115), n=(1500, 1450, 1520)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    groups = {}
    for name, p, size in zip(("control", "treatment_a", "treatment_b"), rates, n, strict=True):
        k = int(rng.binomial(size, p))
        groups[name] = {
            "n": size,
            "k": k,
            "revenue": rng.gamma(2.0, 40.0, k),
            "cost": 0.0 if name == "control" else 1.2,
            "channel": None if name == "control" else ("sms" if name == "treatment_a" else "phone"),
        }
    return campaign_frame(groups, campaign="winback-2025Q3")


# ------------------------------------------------------------------------- hand-checked


@pytest.fixture()
def small():
    frame = campaign_frame(
        {
            "control": {"n": 100, "k": 10, "revenue": 100.0},
            "treatment": {"n": 100, "k": 20, "revenue": 75.0, "cost": 0.5},
        }
    )
    return store.from_frames(campaigns=frame)


def test_hand_checked_two_variants(small):
    res = ex.analyze_campaign(small, campaign="winback-test", margin=0.4)
    v = res.variants.set_index("variant")
    assert res.control == "control" and res.best == "treatment"
    assert v.loc["control", "rate"] == pytest.approx(0.10)
    # Wilson 95% for 10/100 by hand: centre (10 + z²/2)/(100 + z²), half-width z/(n+z²)·sqrt(k(n-k)/n + z²/4)
    z = stats.norm.ppf(0.975)
    centre = (10 + z**2 / 2) / (100 + z**2)
    half = z / (100 + z**2) * math.sqrt(10 * 90 / 100 + z**2 / 4)
    assert v.loc["control", "ci_low"] == pytest.approx(centre - half, abs=1e-12)
    assert v.loc["control", "ci_high"] == pytest.approx(centre + half, abs=1e-12)
    assert (round(v.loc["control", "ci_low"], 4), round(v.loc["control", "ci_high"], 4)) == (
        0.0552,
        0.1744,
    )
    c = res.comparisons.iloc[0]
    # Pooled two-proportion z by hand: p = 0.15, se = sqrt(.15 * .85 * (1/100 + 1/100)).
    se = math.sqrt(0.15 * 0.85 * 0.02)
    assert c["z_stat"] == pytest.approx(0.10 / se, rel=1e-12)
    assert c["p_value"] == pytest.approx(2 * stats.norm.sf(0.10 / se), rel=1e-12)
    assert round(c["p_value"], 4) == 0.0477
    assert c["uplift_abs"] == pytest.approx(0.10)
    assert c["uplift_rel"] == pytest.approx(1.0)  # 20% vs 10%: +100%
    # Revenue: control 10 x 100 = 1000 -> 10/customer; treatment 20 x 75 = 1500 -> 15/customer.
    assert c["rpc_diff"] == pytest.approx(5.0)
    assert c["incremental_revenue"] == pytest.approx(500.0)
    # ROI = (500 x 0.4 - 50) / 50 = 3.0
    assert c["cost"] == pytest.approx(50.0)
    assert c["roi"] == pytest.approx(3.0)
    assert res.srm_p_value == pytest.approx(1.0)
    assert res.to_json()["roi"] == pytest.approx(3.0)


def test_verdict_sentence_matches_the_numbers(small):
    res = ex.analyze_campaign(small, campaign="winback-test", margin=0.4)
    text = ex.verdict(res)
    assert text == (
        "Treatment lifted win-back from 10.0% to 20.0%, +10.0 pts "
        f"[{res.comparisons.uplift_ci_low[0] * 100:.1f}, {res.comparisons.uplift_ci_high[0] * 100:.1f}], "
        "p=0.048; ROI 300%."
    )
    zh = ex.verdict(res, "zh")
    assert "挽回率" in zh and "提升至 20.0%" in zh and "投资回报率 300%" in zh and zh.endswith("。")


def test_no_cost_means_roi_undefined():
    frame = campaign_frame({"control": {"n": 50, "k": 5}, "offer": {"n": 50, "k": 9}})
    res = ex.analyze_campaign(store.from_frames(campaigns=frame), campaign="winback-test")
    assert math.isnan(res.comparisons["roi"][0])
    assert res.to_json()["roi"] is None
    assert "ROI n/a" in ex.verdict(res)


# ------------------------------------------------------------------------- vs scipy / statsmodels


@pytest.fixture(scope="module")
def three():
    frame = random_campaign()
    con = store.from_frames(campaigns=frame)
    return frame, ex.analyze_campaign(con, campaign="winback-2025Q3", margin=0.35)


def test_rates_and_intervals_match_statsmodels(three):
    frame, res = three
    for v in res.variants.itertuples():
        sub = frame[frame["variant"] == v.variant]
        k, n = int(sub["converted"].sum()), len(sub)
        lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (v.customers, v.conversions) == (n, k)
        assert v.ci_low == pytest.approx(lo, rel=1e-12)
        assert v.ci_high == pytest.approx(hi, rel=1e-12)
        t_ci = stats.ttest_1samp(sub["revenue"], 0).confidence_interval(0.95)
        assert v.revenue_per_customer == pytest.approx(sub["revenue"].mean())
        assert v.rpc_ci_low == pytest.approx(t_ci.low, rel=1e-10)
        assert v.rpc_ci_high == pytest.approx(t_ci.high, rel=1e-10)


def test_pairwise_tests_match_scipy_statsmodels_with_holm(three):
    frame, res = three
    ctrl = frame[frame["variant"] == "control"]
    raw = []
    for c in res.comparisons.itertuples():
        tr = frame[frame["variant"] == c.variant]
        counts = [int(tr["converted"].sum()), int(ctrl["converted"].sum())]
        nobs = [len(tr), len(ctrl)]
        z, p = proportions_ztest(counts, nobs)
        raw.append(p)
        assert c.z_stat == pytest.approx(z, rel=1e-12)
        assert c.p_value_raw == pytest.approx(p, rel=1e-12)
        # two treatments: intervals are Bonferroni-widened to 1 - 0.05 / 2
        lo, hi = confint_proportions_2indep(
            counts[0], nobs[0], counts[1], nobs[1], method="newcomb", compare="diff", alpha=0.025
        )
        assert (c.uplift_ci_low, c.uplift_ci_high) == pytest.approx((lo, hi), rel=1e-12)
        w = stats.ttest_ind(tr["revenue"], ctrl["revenue"], equal_var=False)
        wci = w.confidence_interval(0.975)
        assert c.rpc_p_value == pytest.approx(w.pvalue, rel=1e-10)
        assert (c.rpc_diff_ci_low, c.rpc_diff_ci_high) == pytest.approx(
            (wci.low, wci.high), rel=1e-10
        )
        inc = (tr["revenue"].mean() - ctrl["revenue"].mean()) * len(tr)
        cost = tr["cost"].sum()
        assert c.incremental_revenue == pytest.approx(inc)
        assert c.roi == pytest.approx((inc * 0.35 - cost) / cost)
    holm = multipletests(raw, alpha=0.05, method="holm")[1]
    assert res.comparisons["p_value"].to_numpy() == pytest.approx(holm, rel=1e-12)
    assert res.comparisons["ci_level"].iloc[0] == pytest.approx(0.975)


def test_omnibus_and_srm_match_scipy(three):
    frame, res = three
    table = pd.crosstab(frame["variant"], frame["converted"]).to_numpy()
    assert res.chi2_p_value == pytest.approx(
        stats.chi2_contingency(table, correction=False).pvalue, rel=1e-12
    )
    sizes = frame["variant"].value_counts().sort_index().to_numpy()
    assert res.srm_p_value == pytest.approx(stats.chisquare(sizes).pvalue, rel=1e-12)


def test_two_variant_chi_square_equals_z_test(small):
    res = ex.analyze_campaign(small, campaign="winback-test")
    assert res.chi2_p_value == pytest.approx(res.comparisons["p_value"][0], rel=1e-10)


def test_best_treatment_is_top_level_in_json(three):
    _, res = three
    out = res.to_json()
    best = res.comparisons.sort_values("rate").iloc[-1]
    assert res.best == best["variant"] == "treatment_b"
    assert out["uplift_abs"] == pytest.approx(best["uplift_abs"])
    assert out["uplift_ci"] == pytest.approx([best["uplift_ci_low"], best["uplift_ci_high"]])
    assert out["p_value"] == pytest.approx(best["p_value"])


# ------------------------------------------------------------------------- SRM, control, data


def test_srm_detects_planted_mismatch():
    frame = campaign_frame({"control": {"n": 1000, "k": 80}, "treatment": {"n": 850, "k": 90}})
    res = ex.analyze_campaign(store.from_frames(campaigns=frame), campaign="winback-test")
    assert res.srm_p_value == pytest.approx(stats.chisquare([1000, 850]).pvalue)
    assert res.srm_p_value < 0.001 and res.srm_mismatch
    assert "sample ratio mismatch" in ex.verdict(res)
    assert "Control has 1,000 customers where 925 were intended" in ex.srm_takeaway(res)
    # The same counts are fine when 1000:850 was the plan.
    ok = ex.analyze_campaign(
        store.from_frames(campaigns=frame), campaign="winback-test", split=(1000, 850)
    )
    assert ok.srm_p_value == pytest.approx(1.0) and not ok.srm_mismatch


def test_no_srm_for_a_fair_split():
    frame = campaign_frame({"control": {"n": 1000, "k": 80}, "treatment": {"n": 1030, "k": 90}})
    res = ex.analyze_campaign(store.from_frames(campaigns=frame), campaign="winback-test")
    assert res.srm_p_value > 0.3 and not res.srm_mismatch


@pytest.mark.parametrize(
    ("variants", "given", "expected"),
    [
        (["control", "treatment"], None, "control"),
        (["B", "Control"], None, "Control"),
        (["对照组", "短信"], None, "对照组"),
        (["对照", "实验组"], None, "对照"),
        (["offer", "no-contact control"], None, "no-contact control"),
        (["holdout", "sms"], None, "holdout"),
        (["a", "b"], None, None),
        (["a", "b"], "b", "b"),
    ],
    ids=["control", "capital", "zh-group", "zh", "contains", "holdout", "none", "chosen"],
)
def test_detect_control(variants, given, expected):
    assert ex.detect_control(variants, given) == expected


def test_unknown_control_and_missing_control_are_usage_errors():
    frame = campaign_frame({"a": {"n": 20, "k": 2}, "b": {"n": 20, "k": 4}})
    con = store.from_frames(campaigns=frame)
    with pytest.raises(UsageError, match="No control variant found"):
        ex.analyze_campaign(con, campaign="winback-test")
    with pytest.raises(UsageError, match="'c' is not a variant"):
        ex.analyze_campaign(con, campaign="winback-test", control="c")
    res = ex.analyze_campaign(con, campaign="winback-test", control="b")
    assert res.control == "b" and res.comparisons["variant"].tolist() == ["a"]


def test_unknown_campaign_lists_the_known_ones(small):
    with pytest.raises(UsageError, match="Campaigns in this dataset: winback-test"):
        ex.analyze_campaign(small, campaign="nope")


def test_missing_campaigns_table():
    con = store.from_frames(
        transactions=pd.DataFrame({"customer_id": ["a"], "order_ts": [SENT], "amount": [1.0]})
    )
    with pytest.raises(MissingTableError, match="campaigns"):
        ex.campaign_names(con)


def test_single_variant_is_not_enough():
    frame = campaign_frame({"control": {"n": 20, "k": 2}})
    with pytest.raises(NotEnoughData, match="only the variant"):
        ex.analyze_campaign(store.from_frames(campaigns=frame), campaign="winback-test")


def test_customers_in_two_variants_are_excluded():
    frame = campaign_frame({"control": {"n": 30, "k": 3}, "treatment": {"n": 30, "k": 6}})
    frame.loc[frame.index[-1], "customer_id"] = frame["customer_id"].iloc[0]  # also in control
    res = ex.analyze_campaign(store.from_frames(campaigns=frame), campaign="winback-test")
    assert res.excluded_customers == 1
    assert res.variants["customers"].tolist() == [29, 29]


def test_several_sends_to_one_customer_are_combined():
    frame = campaign_frame(
        {"control": {"n": 10, "k": 1}, "treatment": {"n": 10, "k": 2, "revenue": 75.0, "cost": 0.5}}
    )
    again = (
        frame[frame["variant"] == "treatment"]
        .iloc[[0]]
        .assign(converted=False, revenue=20.0, sent_ts=SENT + pd.Timedelta(days=7))
    )
    res = ex.analyze_campaign(
        store.from_frames(campaigns=pd.concat([frame, again])), campaign="winback-test"
    )
    v = res.variants.set_index("variant")
    assert v.loc["treatment", "customers"] == 10 and v.loc["treatment", "conversions"] == 2
    assert v.loc["treatment", "cost"] == pytest.approx(5.5)
    assert v.loc["treatment", "revenue"] == pytest.approx(170.0)
    assert res.excluded_customers == 0


def test_conversion_and_revenue_attributed_from_transactions_when_missing():
    frame = campaign_frame({"control": {"n": 3, "k": 0}, "treatment": {"n": 3, "k": 0}})
    frame["converted"] = None
    frame["revenue"] = None
    cid = frame["customer_id"]
    tx = pd.DataFrame(
        {
            "customer_id": [cid[0], cid[3], cid[4], cid[4], cid[5]],
            "order_ts": [
                SENT + pd.Timedelta(days=5),  # inside the 30-day window
                SENT + pd.Timedelta(days=1),
                SENT + pd.Timedelta(days=2),
                SENT + pd.Timedelta(days=29),
                SENT + pd.Timedelta(days=31),  # too late
            ],
            "amount": [10.0, 20.0, 5.0, 7.0, 99.0],
        }
    )
    res = ex.analyze_campaign(
        store.from_frames(campaigns=frame, transactions=tx), campaign="winback-test"
    )
    v = res.variants.set_index("variant")
    assert res.conversion_source == res.revenue_source == "transactions"
    assert v["conversions"].tolist() == [1, 2]
    assert v["revenue"].tolist() == [10.0, 32.0]


def test_parse_split():
    assert ex.parse_split("", ["a", "b"]) is None
    assert ex.parse_split("60:40", ["a", "b"]) == (60.0, 40.0)
    with pytest.raises(UsageError, match="one positive number per variant"):
        ex.parse_split("50:50", ["a", "b", "c"])
    with pytest.raises(UsageError, match="must be numbers"):
        ex.parse_split("half:half", ["a", "b"])


def test_verdict_wording_for_no_effect_and_harm():
    flat = campaign_frame(
        {"control": {"n": 400, "k": 40}, "mail": {"n": 400, "k": 42, "cost": 1.0}},
        campaign="spring-promo",
    )
    res = ex.analyze_campaign(store.from_frames(campaigns=flat), campaign="spring-promo")
    assert ex.verdict(res).startswith(
        "No significant difference: Mail converted 10.5% vs 10.0% for Control"
    )
    harm = campaign_frame(
        {"control": {"n": 400, "k": 80}, "mail": {"n": 400, "k": 40, "cost": 1.0}},
        campaign="spring-promo",
    )
    res = ex.analyze_campaign(store.from_frames(campaigns=harm), campaign="spring-promo")
    assert ex.verdict(res).startswith("Mail lowered conversion from 20.0% to 10.0%, -10.0 pts")


# ------------------------------------------------------------------------- sample size


def test_sample_size_matches_the_normal_formula():
    # n per group = 2 ((z_{1-a/2} + z_{power}) / h)^2 with Cohen's h (z = h / sqrt(2/n));
    # statsmodels also counts the far rejection tail, which can only lower n by a hair.
    s = ex.sample_size(0.08, 0.02, alpha=0.05, power=0.8)
    h = 2 * math.asin(math.sqrt(0.10)) - 2 * math.asin(math.sqrt(0.08))
    n = 2 * ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / h) ** 2
    assert math.ceil(n) - 1 <= s.n_control <= math.ceil(n)
    assert s.total == 2 * s.n_control
    assert s.effect_size == pytest.approx(h)
    three = ex.sample_size(0.08, 0.02, treatments=2)
    assert three.n_control > s.n_control and three.total == 3 * three.n_control


def test_mde_is_the_inverse_of_sample_size():
    for base, n in ((0.08, 3000), (0.3, 500), (0.02, 20000)):
        mde = ex.minimum_detectable_effect(base, n)
        assert ex.sample_size(base, mde).n_control == pytest.approx(n, rel=1e-3)  # solver tolerance
    with pytest.raises(UsageError):
        ex.sample_size(0.0, 0.01)


# ------------------------------------------------------------------------- after the campaign


def test_retention_curves_by_hand():
    frame = campaign_frame({"control": {"n": 2, "k": 0}, "treatment": {"n": 2, "k": 2}})
    ids = frame["customer_id"].tolist()
    month = pd.Timedelta(days=365.25 / 12)
    tx = pd.DataFrame(
        {
            "customer_id": [ids[0], ids[2], ids[2], ids[3], ids[3], "other"],
            "order_ts": [
                SENT - pd.Timedelta(days=200),  # before the send: does not count
                SENT + pd.Timedelta(days=3),  # month 0
                SENT + 2 * month + pd.Timedelta(days=1),  # month 2
                SENT + pd.Timedelta(days=10),  # month 0
                SENT + month + pd.Timedelta(days=1),  # month 1
                SENT + 3 * month + pd.Timedelta(days=2),  # data end: months 0..2 fully observed
            ],
            "amount": [10.0, 20.0, 30.0, 40.0, 5.0, 1.0],
        }
    )
    con = store.from_frames(campaigns=frame, transactions=tx)
    cur = ex.retention_curves(con, campaign="winback-test", months=6, min_customers=1)
    assert cur["month"].max() == 2  # month 3 is not over yet: censored
    conv = cur[(cur["kind"] == "conversion") & (cur["group"] == "Converted")]
    assert conv["share"].tolist() == [1.0, 0.5, 0.5]
    assert conv["buying"].tolist() == [2, 1, 1]
    ctrl = cur[(cur["kind"] == "variant") & (cur["group"] == "control")]
    assert ctrl["share"].tolist() == [0.0] * 3 and ctrl["is_control"].all()
    assert ex.retention_takeaway(cur, "conversion") == (
        "In month 2 after the campaign, 50.0% of Converted customers bought vs 0.0% of "
        "Not converted."
    )


def test_value_effect_uses_clv_and_welch(monkeypatch):
    frame = random_campaign(seed=5)
    rng = np.random.default_rng(1)
    metrics = pd.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "p_alive": rng.uniform(0, 1, len(frame)),
            "clv": rng.gamma(2, 50, len(frame)) + (frame["variant"] != "control") * 10,
        }
    )
    monkeypatch.setattr(ex, "_clv_metrics", lambda con, as_of, period: metrics)
    tx = pd.DataFrame({"customer_id": ["x"], "order_ts": [SENT], "amount": [1.0]})
    eff = ex.value_effect(
        store.from_frames(campaigns=frame, transactions=tx), campaign="winback-2025Q3"
    )
    assert eff.source == "clv"
    row = eff.table.set_index(["metric", "variant"]).loc[("Predicted CLV", "treatment_b")]
    merged = frame.merge(metrics, on="customer_id")
    x = merged.loc[merged["variant"] == "treatment_b", "clv"]
    y = merged.loc[merged["variant"] == "control", "clv"]
    w = stats.ttest_ind(x, y, equal_var=False)
    assert row["diff_vs_control"] == pytest.approx(x.mean() - y.mean())
    assert row["p_value"] == pytest.approx(w.pvalue)
    assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx(
        tuple(w.confidence_interval())
    )


def test_value_effect_falls_back_without_clv(monkeypatch):
    def broken(con, as_of, period):
        raise NotEnoughData("too few repeat buyers")

    monkeypatch.setattr(ex, "_clv_metrics", broken)
    frame = campaign_frame(
        {"control": {"n": 2, "k": 0}, "treatment": {"n": 2, "k": 1, "revenue": 50.0}}
    )
    ids = frame["customer_id"].tolist()
    tx = pd.DataFrame(
        {
            "customer_id": [ids[2], ids[2], ids[0]],
            "order_ts": [
                SENT + pd.Timedelta(days=2),
                SENT + pd.Timedelta(days=200),
                SENT - pd.Timedelta(days=5),
            ],
            "amount": [50.0, 30.0, 9.0],
        }
    )
    eff = ex.value_effect(
        store.from_frames(campaigns=frame, transactions=tx), campaign="winback-test"
    )
    assert eff.source == "fallback" and "too few repeat buyers" in eff.note_text()
    t = eff.table.set_index(["metric", "variant"])
    assert t.loc[("Revenue since the send", "treatment"), "mean"] == pytest.approx(40.0)
    assert t.loc[("Revenue since the send", "control"), "mean"] == pytest.approx(0.0)
    assert t.loc[("Active in last 90 days", "treatment"), "mean"] == pytest.approx(0.5)
    assert "不可用" not in eff.note_text("zh") or "客户价值模型不可用" in eff.note_text("zh")


def test_channel_efficacy_by_hand():
    a = campaign_frame(
        {
            "control": {"n": 50, "k": 5},
            "sms": {"n": 100, "k": 10, "revenue": 30.0, "cost": 0.5, "channel": "sms"},
            "call": {"n": 40, "k": 8, "revenue": 50.0, "cost": 5.0, "channel": "phone"},
        },
        campaign="one",
    )
    b = campaign_frame(
        {
            "control": {"n": 20, "k": 1},
            "sms": {"n": 100, "k": 20, "revenue": 10.0, "cost": 0.5, "channel": "sms"},
        },
        campaign="two",
    )
    ch = ex.channel_efficacy(store.from_frames(campaigns=pd.concat([a, b])))
    ch = ch.set_index("channel")
    assert sorted(ch.index) == ["phone", "sms"]  # controls are not contacts
    assert ch.loc["sms", "contacts"] == 200 and ch.loc["sms", "responses"] == 30
    assert ch.loc["sms", "cost_per_response"] == pytest.approx(100.0 / 30)
    assert ch.loc["sms", "revenue_per_contact"] == pytest.approx((300 + 200) / 200)
    assert ch.loc["phone", "response_rate"] == pytest.approx(0.2)
    assert ch.loc["phone", "cost_per_response"] == pytest.approx(200.0 / 8)
    lo, hi = proportion_confint(8, 40, method="wilson")
    assert (ch.loc["phone", "ci_low"], ch.loc["phone", "ci_high"]) == pytest.approx((lo, hi))
    text = ex.channel_takeaway(ch.reset_index().sort_values("response_rate", ascending=False))
    assert (
        text == "phone has the highest response rate (20.0%). Cheapest response: sms at $3.33 each."
    )


# ------------------------------------------------------------------------- Chinese


_MODULES = [
    ROOT / "clm_core" / "experiments.py",
    ROOT / "clm_core" / "interventions.py",
    ROOT / "clm_core" / "charts" / "experiments.py",
    ROOT / "pages" / "campaigns.py",
]


def _english_strings(path: Path) -> set[str]:
    """Literal first arguments of t()/translate()/style(), templates assigned to ``text``/``key``/
    ``note``, and the labels in column / metric / intervention tables."""
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = (
                node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            )
            arg = node.args[1] if name == "style" and len(node.args) > 1 else node.args[0]
            if (
                name in {"t", "translate", "style"}
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
            ):
                found.add(arg.value)
            if name in {"t", "translate"} and isinstance(arg, ast.Dict):
                found.update(v.value for v in arg.values if isinstance(v, ast.Constant))
        if isinstance(node, ast.Assign) and any(
            isinstance(tg, ast.Name) and tg.id in {"text", "key", "note", "title"}
            for tg in node.targets
        ):
            found.update(_template_values(node.value))
    return found


def _template_values(node) -> set[str]:
    """The strings an expression can evaluate to (constants through if/else and +)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _template_values(node.body) | _template_values(node.orelse)
    if isinstance(node, ast.BinOp):
        return _template_values(node.left) | _template_values(node.right)
    return set()


@pytest.mark.parametrize(
    "path",
    _MODULES,
    ids=[p.name if p.parent.name != "charts" else "charts/" + p.name for p in _MODULES],
)
def test_every_label_has_chinese(path):
    missing = sorted(s for s in _english_strings(path) if s not in i18n.ZH)
    assert not missing, missing


def test_table_labels_and_defaults_have_chinese():
    from clm_core.interventions import DEFAULT_INTERVENTIONS

    labels = [*ex.VARIANT_COLUMNS.values(), *ex.COMPARISON_COLUMNS.values(), *ex.CHANNEL_COLUMNS.values(),
              *ex.PLAN_COLUMNS.values(), *(d["intervention"] for d in DEFAULT_INTERVENTIONS),
              "Converted", "Not converted", "P(alive)", "Predicted CLV", "Active in last 90 days",
              "Revenue since the send", "win-back", "conversion"]  # fmt: skip
    assert [s for s in labels if s not in i18n.ZH] == []


def test_chinese_templates_keep_their_placeholders():
    from clm_core.locales.experiments import ZH

    for en, zh in ZH.items():
        assert set(re.findall(r"\{\w+\}", en)) == set(re.findall(r"\{\w+\}", zh)), en


def test_takeaways_in_chinese(three):
    _, res = three
    for text in (ex.verdict(res, "zh"), *ex.verdicts(res, "zh"), ex.conversion_takeaway(res, "zh"),
                 ex.revenue_takeaway(res, "CNY", "zh"), ex.srm_takeaway(res, "zh"),
                 ex.sample_size_takeaway(ex.sample_size(0.08, 0.02), "zh")):  # fmt: skip
        assert re.search(r"[\u4e00-\u9fff]", text), text
        assert not re.search(r"\b(lifted|converted|brought|split|detect|customers)\b", text), text


# ------------------------------------------------------------------------- CLI


@pytest.fixture()
def ab_db(tmp_path):
    path = tmp_path / "ab.duckdb"
    with store.write_dataset(path, fresh=True) as con:
        con.register("_c", random_campaign())
        con.execute("create table campaigns as select * from _c")
    return path


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "clm_core", "ab", *args], capture_output=True, text=True, cwd=ROOT
    )


def test_cli_json_contract(ab_db):
    out = _cli("--db", str(ab_db), "--campaign", "winback-2025Q3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert list(data) == [
        "campaign",
        "variants",
        "control",
        "uplift_abs",
        "uplift_ci",
        "p_value",
        "roi",
        "srm_p_value",
    ]
    assert [list(v) for v in data["variants"]] == [
        ["variant", "customers", "conversions", "rate", "ci_low", "ci_high", "revenue_per_customer"]
    ] * 3
    con = store.connect(ab_db)
    res = ex.analyze_campaign(con, campaign="winback-2025Q3")
    assert data == json.loads(json.dumps(res.to_json()))
    assert data["control"] == "control" and data["variants"][0]["variant"] == "control"
    frame = random_campaign()
    sub = frame[frame["variant"] == "treatment_b"]
    assert data["variants"][2]["conversions"] == int(sub["converted"].sum())


def test_cli_table_and_errors(ab_db, tmp_path):
    out = _cli("--db", str(ab_db), "--campaign", "winback-2025Q3")
    assert out.returncode == 0, out.stderr
    assert (
        "Treatment B" in out.stdout and "95% CI" in out.stdout and "lifted win-back" in out.stdout
    )
    bad = _cli("--db", str(ab_db), "--campaign", "nope")
    assert bad.returncode == 2 and "winback-2025Q3" in bad.stderr
    assert _cli("--db", str(ab_db)).returncode == 2
    empty = tmp_path / "empty.duckdb"
    with store.write_dataset(empty, fresh=True) as con:
        con.execute(
            "create table transactions (customer_id varchar, order_ts timestamp, amount double)"
        )
    missing = _cli("--db", str(empty), "--campaign", "x")
    assert missing.returncode == 1 and "campaigns" in missing.stderr
