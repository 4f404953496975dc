"""Customer 360 core: search, profile, timeline, P(alive) history, takeaways, figures."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest

from clm_core import customer360 as c360
from clm_core import store
from clm_core.charts.customer import p_alive_figure, timeline_figure
from clm_core.errors import NotEnoughData, UsageError
from clm_core.summary import customer_summary

BG = (("r", 0.5), ("alpha", 10.0), ("a", 0.8), ("b", 3.0))  # BG/NBD, alpha per week


def _ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s)


CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["C001", "C002", "C010", "C100", "X_1"],
        "signup_ts": [_ts("2024-01-01 09:00")] * 4 + [_ts("2024-05-01")],
        "acquisition_channel": ["organic", "social", "referral", "organic", "email"],
        "region": ["华东", "华南", "华北", "华东", "西南"],
        "name": ["张伟", "Li Na", "王芳", "Zhang Wei", "100% <b>Bob</b>"],
        "email": [
            "zhangwei88@163.com",
            "lina@QQ.com",
            "wf@126.com",
            "zw@gmail.com",
            "bob_x@ex.com",
        ],
        "phone": ["13812345678", "+86 139 0000 1111", "15000002222", "13812349999", None],
        "owner": ["陈思远"] * 5,
    }
)
TRANSACTIONS = pd.DataFrame(
    {
        "customer_id": ["C001", "C001", "C001", "C001", "C002", "C010"],
        "order_id": ["O1", "O2", "O2", "O3", "O4", "O5"],
        "order_ts": [
            _ts("2024-01-01 10:00"),
            _ts("2024-01-15 12:00"),
            _ts("2024-01-20 12:00"),  # return of O2
            _ts("2024-03-01 08:30"),
            _ts("2024-02-01"),
            _ts("2024-06-30"),
        ],
        "amount": [100.0, 50.0, -20.0, 70.0, 30.0, 10.0],
        "quantity": [1.0, 2.0, -1.0, 1.0, 1.0, 1.5],
        "product": ["面霜", "T恤", "T恤", "茶叶", "口红", "牛奶"],
        "category": ["美妆", "服装", "服装", "食品", "美妆", "食品"],
        "channel": ["app", "web", "web", "store", "app", "web"],
    }
)
EVENTS = pd.DataFrame(
    {
        "customer_id": ["C001", "C001", "C100"],
        "event_name": ["visit", "login", "visit"],
        "event_ts": [_ts("2024-01-01 09:55"), _ts("2024-02-10"), _ts("2024-01-02")],
        "channel": ["app", "app", "web"],
    }
)
CAMPAIGNS = pd.DataFrame(
    {
        "customer_id": ["C001", "C002"],
        "campaign": ["winback", "winback"],
        "variant": ["treatment", "control"],
        "sent_ts": [_ts("2024-02-25"), _ts("2024-02-25")],
        "channel": ["sms", None],
        "cost": [0.3, 0.0],
        "converted": [True, False],
        "revenue": [70.0, 0.0],
    }
)
FEEDBACK = pd.DataFrame(
    {
        "customer_id": ["C001", "C001"],
        "created_ts": [_ts("2024-01-21"), _ts("2024-03-05")],
        "kind": ["complaint", "survey"],
        "score": [2.0, 9.0],
        "text": ["快递太慢", "Great, contact me at a@b.com"],
    }
)


@pytest.fixture()
def con():
    c = store.from_frames(
        customers=CUSTOMERS,
        transactions=TRANSACTIONS,
        events=EVENTS,
        campaigns=CAMPAIGNS,
        feedback=FEEDBACK,
    )
    yield c
    c.close()


def _ids(df: pd.DataFrame) -> list[str]:
    return df["customer_id"].tolist()


# ---- search -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, expected",
    [
        ("C001", ["C001"]),  # exact id first, nothing else contains it
        ("c00", ["C001", "C002"]),  # case-insensitive prefix
        ("c0", ["C001", "C002", "C010"]),
        ("张", ["C001"]),
        ("zhang", ["C001", "C100"]),  # e-mail zhangwei88@..., name Zhang Wei
        ("qq.COM", ["C002"]),
        ("139-0000-1111", ["C002"]),  # phone matched on digits only
        ("1381234", ["C001", "C100"]),
        ("  wf@126.com ", ["C010"]),
        ("%", ["X_1"]),  # LIKE wildcards are literal characters
        ("_", ["X_1"]),
        ("<b>", ["X_1"]),
        ("nobody", []),
        ("", []),
        ("'; drop table customers; --", []),
    ],
    ids=[
        "exact-id", "id-prefix", "id-prefix-3", "name-zh", "email-and-name", "email-case",
        "phone-dashes", "phone-partial", "trimmed", "percent", "underscore", "html", "none",
        "empty", "injection",
    ],
)  # fmt: skip
def test_find_customers(con, query, expected):
    df = c360.find_customers(con, query)
    assert sorted(_ids(df)) == sorted(expected)
    assert list(df.columns) == c360.SEARCH_COLUMNS
    assert store.has_table(con, "customers")


def test_exact_id_ranks_first_and_limit_applies(con):
    df = c360.find_customers(con, "c010")
    assert _ids(df)[0] == "C010"
    df = c360.find_customers(con, "C1")
    assert _ids(df) == ["C100"]
    assert len(c360.find_customers(con, "c", limit=2)) == 2


def test_search_result_carries_order_stats(con):
    row = c360.find_customers(con, "C001").iloc[0]
    assert row["orders"] == 3  # O1, O2, O3 (the return shares O2)
    assert row["revenue"] == pytest.approx(200.0)
    assert row["last_purchase"] == _ts("2024-03-01 08:30")
    assert row["matched_on"] == "customer_id"
    assert c360.find_customers(con, "C100").iloc[0]["orders"] == 0  # a prospect


def test_search_without_customers_table():
    con = store.from_frames(transactions=TRANSACTIONS)
    df = c360.find_customers(con, "c0")
    assert _ids(df) == ["C001", "C002", "C010"]
    assert df["name"].isna().all()
    assert c360.find_customers(con, "张").empty


# ---- profile ------------------------------------------------------------------------------


def test_profile_summary_equals_customer_summary(con):
    full = customer_summary(con).set_index("customer_id")
    for cid in full.index:
        p = c360.customer_profile(con, cid)
        assert p.as_of == dt.date(2024, 6, 30)
        for col, value in p.summary.items():
            expected = full.loc[cid, col] if col != "customer_id" else cid
            if expected is None or (not isinstance(expected, str) and pd.isna(expected)):
                assert value is None, (cid, col)
            else:
                assert (
                    value == pytest.approx(expected)
                    if isinstance(value, float)
                    else value == expected
                )


def test_profile_by_hand(con):
    p = c360.customer_profile(con, "C001", period="W")
    s = p.summary
    # purchase days 01-01, 01-15, 03-01 (the return is not a purchase); as of 06-30
    assert s["frequency"] == 2
    assert s["recency"] == pytest.approx(60 / 7)
    assert s["T"] == pytest.approx(181 / 7)
    assert s["revenue"] == pytest.approx(200.0) and s["returns"] == 1
    assert p.record["name"] == "张伟" and p.record["region"] == "华东"


def test_prospect_and_unknown(con):
    p = c360.customer_profile(con, "C100")
    assert p.summary is None and p.record["name"] == "Zhang Wei"
    with pytest.raises(UsageError, match="C999"):
        c360.customer_profile(con, "C999")


def test_record_frame(con):
    p = c360.customer_profile(con, "X_1")
    frame = c360.record_frame(p)
    assert len(frame) == 1 and frame.loc[0, "name"] == "100% <b>Bob</b>"
    empty = c360.record_frame(c360.CustomerProfile("z", None))
    assert empty.empty


# ---- timeline -----------------------------------------------------------------------------


def test_timeline_merges_every_table_in_time_order(con):
    tl = c360.customer_timeline(con, "C001")
    assert list(tl.columns) == c360.TIMELINE_COLUMNS
    assert tl["ts"].is_monotonic_increasing
    assert tl["kind"].tolist() == [
        "event", "order", "order", "return", "complaint", "event", "campaign", "order", "survey",
    ]  # fmt: skip
    ret = tl[tl["kind"] == "return"].iloc[0]
    assert ret["amount"] == -20.0 and ret["ref"] == "O2" and ret["detail"] == "服装 · T恤 · ×1"
    camp = tl[tl["kind"] == "campaign"].iloc[0]
    assert camp["detail"] == "winback · treatment" and camp["ref"] == "converted"
    assert camp["amount"] == 70.0 and camp["channel"] == "sms"
    complaint = tl[tl["kind"] == "complaint"].iloc[0]
    assert complaint["score"] == 2.0 and complaint["detail"] == "快递太慢"
    assert tl[tl["kind"] == "order"]["detail"].iloc[0] == "美妆 · 面霜 · ×1"


def test_timeline_fractional_quantity_and_kind_filter(con):
    tl = c360.customer_timeline(con, "C010")
    assert tl["detail"].tolist() == ["食品 · 牛奶 · ×1.5"]
    only = c360.customer_timeline(con, "C001", kinds=("order", "return"))
    assert set(only["kind"]) == {"order", "return"} and len(only) == 4


def test_timeline_with_only_transactions():
    con = store.from_frames(transactions=TRANSACTIONS[["customer_id", "order_ts", "amount"]])
    tl = c360.customer_timeline(con, "C001")
    assert tl["kind"].tolist() == ["order", "order", "return", "order"]
    assert tl["detail"].tolist() == [""] * 4


def test_timeline_of_unknown_customer_is_empty(con):
    assert c360.customer_timeline(con, "nobody").empty


def test_row_for():
    frame = pd.DataFrame({"customer_id": ["a", "b"], "segment": ["Loyal", None]})
    assert c360.row_for(frame, "a") == {"customer_id": "a", "segment": "Loyal"}
    assert c360.row_for(frame, "b") == {"customer_id": "b", "segment": None}
    assert c360.row_for(frame, "z") is None
    assert c360.row_for(None, "a") is None


def test_localise_columns_translates_constants_not_data(con):
    from clm_core.i18n import translate

    tl = c360.customer_timeline(con, "C001")
    en = c360.localise_columns(tl, "en")
    assert list(en.columns) == [
        "Time", "Type", "Detail", "Amount", "Feedback score", "Channel", "Reference",
    ]  # fmt: skip
    assert en["Type"].tolist() == tl["kind"].tolist()
    assert "Converted" in set(en["Reference"]) and "O2" in set(en["Reference"])
    zh = c360.localise_columns(tl, "zh")
    assert "类型" in zh.columns and "时间" in zh.columns
    assert set(zh["类型"]) == {translate(k, "zh") for k in set(tl["kind"])}
    assert {"订单", "退货", "投诉"} <= set(zh["类型"])
    assert "已转化" in set(zh["参考"]) and "O2" in set(zh["参考"])
    assert "快递太慢" in set(zh["详情"])
    record = c360.localise_columns(c360.record_frame(c360.customer_profile(con, "C001")), "zh")
    assert record.loc[0, "姓名"] == "张伟" and record.loc[0, "客户经理"] == "陈思远"


# ---- P(alive) -----------------------------------------------------------------------------


def test_p_alive_history_matches_lifetimes_at_every_date(con):
    from lifetimes import BetaGeoFitter

    hist = c360.p_alive_history(con, "C001", params=BG, step_days=7)
    assert hist["date"].iloc[0] == _ts("2024-01-01") and hist["date"].iloc[-1] == _ts("2024-06-30")
    assert hist["p_alive"].between(0, 1).all()
    assert hist.loc[hist["purchase"], "date"].dt.strftime("%m-%d").tolist() == [
        "01-01", "01-15", "03-01",
    ]  # fmt: skip
    model = BetaGeoFitter()
    model.params_ = pd.Series(dict(BG))
    buys = [_ts("2024-01-01"), _ts("2024-01-15"), _ts("2024-03-01")]
    for d, p in zip(hist["date"], hist["p_alive"], strict=True):
        seen = [b for b in buys if b <= d]
        f, rec, T = len(seen) - 1, (seen[-1] - buys[0]).days / 7, (d - buys[0]).days / 7
        expected = np.ravel(model.conditional_probability_alive(f, rec, T))[0]
        assert p == pytest.approx(expected), d
    # at the end it agrees with the summary the CLV page would use
    s = customer_summary(con, period="W").set_index("customer_id").loc["C001"]
    end = model.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
    assert hist["p_alive"].iloc[-1] == pytest.approx(np.ravel(end)[0])


def test_p_alive_falls_during_silence(con):
    hist = c360.p_alive_history(con, "C001", params=BG)
    after_last = hist[hist["date"] >= _ts("2024-03-01")]["p_alive"].to_numpy()
    assert np.all(np.diff(after_last) <= 1e-12) and after_last[-1] < after_last[0]


def test_p_alive_history_of_prospect_is_empty(con):
    assert c360.p_alive_history(
        con, "C100", params=(("r", 1), ("alpha", 1), ("a", 1), ("b", 1))
    ).empty


def test_bgnbd_params_need_enough_data(con):
    with pytest.raises(NotEnoughData):
        c360.bgnbd_params(con)


def test_bgnbd_params_on_demo(demo_template):
    con = store.connect(demo_template)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = dict(c360.bgnbd_params(con))
    finally:
        con.close()
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    assert all(v > 0 for v in (r, alpha, a, b))
    assert 0.02 < a / (a + b) < 0.3


# ---- takeaways and figures ----------------------------------------------------------------


def test_timeline_takeaway(con):
    p = c360.customer_profile(con, "C001")
    tl = c360.customer_timeline(con, "C001")
    text = c360.timeline_takeaway(p, tl, currency="CNY")
    assert text == (
        "3 orders worth ¥200 since 01 Jan 2024; last purchase 121 days before 30 Jun 2024. "
        "1 complaint(s). Converted after: winback · treatment."
    )
    zh = c360.timeline_takeaway(p, tl, currency="CNY", lang="zh")
    assert "3 笔订单" in zh and "121 天前" in zh
    prospect = c360.customer_profile(con, "C100")
    assert c360.timeline_takeaway(prospect, tl.iloc[0:0]) == (
        "Signed up on 01 Jan 2024 and has not bought yet."
    )


def test_p_alive_takeaway(con):
    hist = c360.p_alive_history(con, "C001", params=BG)
    then = hist[hist["date"] <= _ts("2024-06-30") - pd.Timedelta(days=90)]["p_alive"].iloc[-1]
    text = c360.p_alive_takeaway(hist)
    assert text == (
        f"P(alive) is now {hist['p_alive'].iloc[-1] * 100:.1f}%, {then * 100:.1f}% 90 days earlier."
    )
    assert c360.p_alive_takeaway(hist.iloc[:3]).startswith("P(alive) is now")


def test_timeline_figure_has_a_lane_per_kind_and_escapes_text(con):
    tl = c360.customer_timeline(con, "C001")
    tl.loc[tl["kind"] == "complaint", "detail"] = "<script>x</script>"
    fig = timeline_figure(tl, lang="en", currency="CNY")
    names = [tr.name for tr in fig.data]
    assert names == [
        "Cumulative net spend", "Order", "Return", "Campaign", "Complaint", "Survey", "Visit", "Login",
    ]  # fmt: skip
    spend = fig.data[0]
    assert list(spend.y) == [100.0, 150.0, 130.0, 200.0]
    complaint = next(tr for tr in fig.data if tr.name == "Complaint")
    assert "&lt;script&gt;" in complaint.text[0] and "<script>" not in complaint.text[0]
    assert fig.layout.title.text == "Customer timeline"
    zh = timeline_figure(tl, lang="zh")
    assert zh.layout.title.text == "客户时间线"
    assert "访问" in [tr.name for tr in zh.data]


def test_p_alive_figure(con):
    hist = c360.p_alive_history(con, "C001", params=BG)
    fig = p_alive_figure(hist, lang="zh")
    assert fig.layout.title.text == "存活概率历史"
    assert len(fig.data[1].x) == 3  # the purchase markers
    assert tuple(fig.layout.yaxis.range) == (0, 1.02)


def test_p_alive_history_unknown_model(con):
    with pytest.raises(UsageError, match="model"):
        c360.p_alive_history(con, "C001", params=BG, model="nope")


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto"])
def test_p_alive_history_ends_at_the_clv_models_p_alive(demo_template, model):
    """The last point of the history is the P(alive) the CLV page shows for the same model."""
    from clm_core.clv import fit_clv

    con = store.connect(demo_template)
    try:
        res = fit_clv(con, model=model)
        rows = res.customers.sort_values("frequency", ascending=False)
        picks = [rows.iloc[0], rows.iloc[len(rows) // 2], rows.iloc[-1]]
        for row in picks:
            hist = c360.p_alive_history(
                con, row["customer_id"], params=tuple(res.params.items()), model=res.model
            )
            assert hist["p_alive"].iloc[-1] == pytest.approx(row["p_alive"], rel=1e-6, abs=1e-9)
            assert hist["p_alive"].between(0, 1).all()
    finally:
        con.close()
