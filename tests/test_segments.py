"""RFM scores, segments, tiers, clusters, price sensitivity and migration, checked by hand."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from clm_core import segments as seg
from clm_core import store
from clm_core.__main__ import main
from clm_core.errors import NotEnoughData, UsageError
from clm_core.exports import to_csv_bytes, to_xlsx_bytes
from clm_core.filters import Filters, apply_filters
from clm_core.summary import SUMMARY_COLUMNS, as_of_default, customer_summary, summary_sql

AS_OF = dt.date(2024, 12, 31)


def _tx(rows) -> pd.DataFrame:
    """rows: (customer_id, date, amount[, discount[, order_id]])."""
    out = []
    for i, row in enumerate(rows):
        cid, date, amount, *rest = row
        discount = rest[0] if rest else 0.0
        order_id = rest[1] if len(rest) > 1 else f"o{i}"
        out.append((cid, order_id, pd.Timestamp(date), float(amount), float(discount)))
    return pd.DataFrame(out, columns=["customer_id", "order_id", "order_ts", "amount", "discount"])


def _con(rows):
    return store.from_frames(transactions=_tx(rows))


def _customers_with(orders: dict[str, int], last_day: dict[str, int] | None = None, value=10.0):
    """Customers with a given number of orders on distinct days ending ``last_day`` days before
    AS_OF (default 0), each order worth ``value``."""
    rows = []
    for cid, n in orders.items():
        end = AS_OF - dt.timedelta(days=(last_day or {}).get(cid, 0))
        for j in range(n):
            rows.append((cid, end - dt.timedelta(days=j), value))
    return rows


# ---------------------------------------------------------------------------------- RFM scores


def test_distinct_values_fill_quintiles():
    # ten customers, 1..10 orders: two per quintile
    rows = _customers_with({f"c{i:02d}": i for i in range(1, 11)})
    df = seg.customer_segments(_con(rows), as_of=AS_OF).set_index("customer_id")
    assert df["f_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # M = net revenue, here proportional to orders
    assert df["m_score"].tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_ties_get_equal_scores_and_single_purchase_customers_score_1():
    # 5 one-order customers, 3 with two orders, 2 with five: n = 10
    orders = {
        "a1": 1,
        "a2": 1,
        "a3": 1,
        "a4": 1,
        "a5": 1,
        "b1": 2,
        "b2": 2,
        "b3": 2,
        "c1": 5,
        "c2": 5,
    }
    df = seg.customer_segments(_con(_customers_with(orders)), as_of=AS_OF).set_index("customer_id")
    # score = 1 + floor(5 * strictly-lower / n): 0/10 -> 1, 5/10 -> 3, 8/10 -> 5
    assert df.loc[["a1", "a2", "a3", "a4", "a5"], "f_score"].tolist() == [1] * 5
    assert df.loc[["b1", "b2", "b3"], "f_score"].tolist() == [3] * 3
    assert df.loc[["c1", "c2"], "f_score"].tolist() == [5, 5]


def test_all_customers_equal_all_score_1():
    df = seg.customer_segments(_con(_customers_with({"a": 1, "b": 1, "c": 1})), as_of=AS_OF)
    assert set(df["r_score"]) == set(df["f_score"]) == set(df["m_score"]) == {1}
    assert set(df["rfm_score"]) == {"111"}


def test_recency_more_recent_scores_higher():
    # one order each, last purchase 0, 10, 20, 30, 40 days before AS_OF
    days = {f"c{i}": 10 * i for i in range(5)}
    rows = _customers_with({c: 1 for c in days}, last_day=days)
    df = seg.customer_segments(_con(rows), as_of=AS_OF).set_index("customer_id")
    assert df["r_score"].tolist() == [5, 4, 3, 2, 1]
    assert df.loc["c0", "rfm_score"] == "511"


def test_rfm_score_string_and_columns():
    rows = _customers_with({"a": 3, "b": 1}, last_day={"a": 0, "b": 100})
    df = seg.customer_segments(_con(rows), as_of=AS_OF)
    assert list(df.columns) == [
        "customer_id", "r_score", "f_score", "m_score", "rfm_score", "segment", "tier",
    ]  # fmt: skip
    a = df.set_index("customer_id").loc["a"]
    # n = 2: the better customer has 1 strictly worse -> 1 + floor(5 * 1 / 2) = 3
    assert (a["r_score"], a["f_score"], a["m_score"], a["rfm_score"]) == (3, 3, 3, "333")


def test_scored_customers_adds_scores_to_the_summary():
    rows = _customers_with({"a": 2, "b": 1})
    df = seg.scored_customers(_con(rows), as_of=AS_OF, period="W")
    assert list(df.columns[: len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    assert df.set_index("customer_id").loc["a", "T"] == pytest.approx(1 / 7)


def _scores_by_query(cur, as_of) -> pd.DataFrame:
    """The scores as the SQL window query computes them (rank() over the summary)."""
    sql = seg._SCORES_SQL.format(summary=summary_sql())
    return store.query_df(cur, sql, {"as_of": as_of, "k": 1.0})


@pytest.mark.parametrize("date_from", [None, dt.date(2024, 1, 1)], ids=["all", "from-2024"])
def test_scores_equal_the_window_query_on_demo(demo_template, date_from):
    """The scores from the summary (the dataset's rollup) equal rank() in SQL over the
    date-filtered transactions, for every customer."""
    con = store.connect(demo_template)
    try:
        cur = store.cursor(con)
        apply_filters(cur, Filters(date_from=date_from))
        as_of = as_of_default(cur)
        ours = seg.scored_customers(con, as_of=as_of, date_from=date_from)
        ref = _scores_by_query(cur, as_of)
        filtered = seg.scored_customers(cur, as_of=as_of)  # the same through the filter
    finally:
        con.close()
    assert len(ours) > 1000
    assert ours["customer_id"].tolist() == ref["customer_id"].tolist()
    for col in ("r_score", "f_score", "m_score"):
        assert (ours[col].to_numpy() == ref[col].to_numpy()).all(), col
    pd.testing.assert_frame_equal(ours, filtered, rtol=1e-12)


def test_equal_revenue_summed_in_another_order_ties():
    """0.1 + 0.2 + 0.3 and 0.3 + 0.2 + 0.1 differ in the last bit; the customers still tie."""
    rows = [("a", f"2024-01-0{i + 1}", v) for i, v in enumerate((0.1, 0.2, 0.3))]
    rows += [("b", f"2024-01-0{i + 1}", v) for i, v in enumerate((0.3, 0.2, 0.1))]
    rows += [("c", "2024-01-01", 5.0)]
    summary = customer_summary(_con(rows), as_of=AS_OF)
    summary.loc[summary["customer_id"] == "a", "revenue"] = 0.1 + 0.2 + 0.3
    summary.loc[summary["customer_id"] == "b", "revenue"] = 0.3 + 0.2 + 0.1
    assert 0.1 + 0.2 + 0.3 != 0.3 + 0.2 + 0.1
    df = seg.score_summary(summary).set_index("customer_id")
    assert df.loc["a", "m_score"] == df.loc["b", "m_score"] == 1
    assert df.loc["a", "tier"] == df.loc["b", "tier"]


def test_score_summary_scores_a_subset_among_itself():
    rows = _customers_with({f"c{i:02d}": i for i in range(1, 11)})
    summary = customer_summary(_con(rows), as_of=AS_OF)
    top = seg.score_summary(summary[summary["orders"] > 5])
    assert top["f_score"].tolist() == [1, 2, 3, 4, 5]  # five customers, one per quintile


# ---------------------------------------------------------------------------------- Rules


def test_default_rules_cover_every_score_and_name_all_segments():
    assert seg.uncovered_cells() == []
    assert sorted(r["segment"] for r in seg.DEFAULT_SEGMENT_RULES) == sorted(seg.SEGMENTS)


@pytest.mark.parametrize(
    ("r", "f", "m", "expected"),
    [
        (5, 5, 5, "Champions"),
        (4, 5, 1, "Loyal"),
        (5, 2, 3, "Potential Loyalist"),
        (5, 1, 5, "New"),
        (4, 1, 1, "Promising"),
        (3, 3, 3, "Need Attention"),
        (3, 1, 2, "About to Sleep"),
        (1, 5, 5, "Cannot Lose Them"),
        (1, 5, 3, "At Risk"),
        (2, 2, 2, "Hibernating"),
        (1, 1, 1, "Lost"),
    ],
    ids=lambda v: str(v),
)
def test_default_rules_by_hand(r, f, m, expected):
    scores = pd.DataFrame({"r_score": [r], "f_score": [f], "m_score": [m]})
    assert seg._assign_segments(scores, seg.normalise_rules(None)).tolist() == [expected]


def test_rules_override_first_match_wins_and_other():
    rows = _customers_with({f"c{i}": i for i in range(1, 6)})
    rules = [
        ("Top", 1, 5, 5, 5, 1, 5),
        ("Also top", 1, 5, 4, 5, 1, 5),  # F = 5 already taken by "Top"
        ("Bottom", 1, 5, 1, 1, 1, 5),
    ]
    df = seg.customer_segments(_con(rows), as_of=AS_OF, rules=seg.rules_key(rules))
    assert df.set_index("customer_id")["segment"].to_dict() == {
        "c1": "Bottom", "c2": seg.OTHER, "c3": seg.OTHER, "c4": "Also top", "c5": "Top",
    }  # fmt: skip
    assert "123" in seg.uncovered_cells(rules)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"segment": "X", "r_min": 1, "r_max": 5, "f_min": 1, "f_max": 5, "m_min": 1},
            "missing m_max",
        ),
        (("X", 0, 5, 1, 5, 1, 5), "r_min must be a score 1-5"),
        (("X", 1, 5, 1, 6, 1, 5), "f_max must be a score 1-5"),
        (("X", 1, 5, 1, 5, 1, 2.5), "m_max must be a score 1-5"),
        (("X", 4, 2, 1, 5, 1, 5), "r_min is above r_max"),
        (("", 1, 5, 1, 5, 1, 5), "name is empty"),
        (("X", 1, 5), "expected 7 fields"),
    ],
    ids=["missing-key", "below-1", "above-5", "fraction", "min-above-max", "no-name", "short"],
)
def test_bad_rules_are_refused(rule, message):
    with pytest.raises(UsageError, match=message):
        seg.normalise_rules([rule])


def test_blank_editor_rows_are_skipped_but_no_rules_is_an_error():
    rules = seg.normalise_rules(
        [("X", 1, 5, 1, 5, 1, 5), (None, np.nan, None, None, None, None, None)]
    )
    assert rules == [
        {"segment": "X", "r_min": 1, "r_max": 5, "f_min": 1, "f_max": 5, "m_min": 1, "m_max": 5}
    ]
    with pytest.raises(UsageError, match="at least one"):
        seg.normalise_rules([])


def test_rules_stored_with_the_dataset_are_used(tmp_path):
    path = tmp_path / "shop.duckdb"
    with store.write_dataset(path, fresh=True) as con:
        con.register("tx", _tx(_customers_with({"a": 1, "b": 2})))
        con.execute("create table transactions as select * from tx")
    custom = [
        {
            "segment": "Everyone",
            "r_min": 1,
            "r_max": 5,
            "f_min": 1,
            "f_max": 5,
            "m_min": 1,
            "m_max": 5,
        }
    ]
    store.save_setting(path, seg.SEGMENT_RULES_SETTING, custom)
    con = store.connect(path)
    try:
        assert store.get_setting(con, seg.SEGMENT_RULES_SETTING) == custom
        assert seg.stored_rules(con) == custom
        assert set(seg.customer_segments(con)["segment"]) == {"Everyone"}
        # an explicit argument still wins over the stored rules
        assert "Everyone" not in set(
            seg.customer_segments(con, rules=seg.rules_key(None))["segment"]
        )
    finally:
        con.close()


# ---------------------------------------------------------------------------------- Tiers


def test_tier_cutoffs_on_100_distinct_values():
    tiers = seg.tiers(pd.Series(np.arange(100, 0, -1, dtype=float)))
    assert tiers.value_counts()[list(seg.TIERS)].tolist() == [5, 15, 30, 50]
    assert tiers.iloc[0] == "Diamond" and tiers.iloc[5] == "Gold" and tiers.iloc[99] == "Bronze"


def test_tier_ties_share_the_better_tier_and_no_value_is_bronze():
    values = pd.Series([100.0, 100.0, 50, 40, 30, 20, 10, 0, 0, -5])
    tiers = seg.tiers(values, cutoffs=(0.1, 0.3, 0.6))
    # rank/n: 100 -> 0.1 (both), 50 -> 0.3, 40 -> 0.4, 30 -> 0.5, 20 -> 0.6, 10 -> 0.7
    assert tiers.tolist() == [
        "Diamond", "Diamond", "Gold", "Silver", "Silver", "Silver", "Bronze", "Bronze", "Bronze", "Bronze",
    ]  # fmt: skip


def test_tiers_keep_their_index_and_type_on_random_values():
    """Random values with ties, zeros, negatives and NaN: each tier by its rank share, computed
    here one value at a time; the index kept, an ordered Diamond..Bronze categorical."""
    rng = np.random.default_rng(3)
    values = pd.Series(rng.integers(-3, 40, 500).astype(float), index=rng.permutation(500) + 7)
    values[rng.random(500) < 0.05] = np.nan
    cutoffs = (0.05, 0.2, 0.5)
    got = seg.tiers(values, cutoffs)
    assert got.index.equals(values.index)
    assert got.dtype == pd.CategoricalDtype(list(seg.TIERS), ordered=True)
    n = len(values)
    for key, v in values.items():
        share = (values > v).sum() / n + 1 / n  # rank 1 for the highest, ties the best rank
        want = "Bronze"
        if v > 0:
            above = [t for t, c in zip(seg.TIERS[:3], cutoffs, strict=True) if share <= c + 1e-12]
            want = above[0] if above else "Bronze"
        assert got[key] == want, (key, v, share)
    assert seg.tiers(pd.Series([], dtype=float)).dtype == got.dtype


def test_configurable_cutoffs_and_bad_cutoffs():
    values = pd.Series(np.arange(1, 11, dtype=float))
    assert (seg.tiers(values, (0.5, 0.8, 1.0)) == "Diamond").sum() == 5
    for bad in [(0.2, 0.1, 0.5), (0.0, 0.2, 0.5), (0.1, 0.2), (0.1, 0.5, 1.5)]:
        with pytest.raises(UsageError, match="cut-offs"):
            seg.tiers(values, bad)


def test_customer_segments_tier_is_by_revenue():
    rows = _customers_with({f"c{i:02d}": 1 for i in range(20)})
    rows = [(c, d, 100 - int(c[1:])) for c, d, _ in rows]  # c00 spends most
    df = seg.customer_segments(_con(rows), as_of=AS_OF).set_index("customer_id")
    assert df.loc["c00", "tier"] == "Diamond"
    assert (df["tier"] == "Gold").sum() == 3
    assert df.loc["c19", "tier"] == "Bronze"


# ---------------------------------------------------------------------------------- Profiles


def test_segment_profile_shares_add_up(demo_template):
    con = store.connect(demo_template)
    try:
        profile = seg.segment_profile(con)
        customers = seg.customer_segments(con)
        summary = seg.scored_customers(con)
        matrix = seg.rf_matrix(con)
    finally:
        con.close()
    assert profile["customers"].sum() == len(customers)
    assert profile["customer_share"].sum() == pytest.approx(1)
    assert profile["revenue_share"].sum() == pytest.approx(1)
    champions = profile.set_index("segment").loc["Champions"]
    members = summary[summary["segment"] == "Champions"]
    assert champions["customers"] == len(members)
    assert champions["monetary"] == pytest.approx(members["revenue"].mean())
    assert champions["aov"] == pytest.approx(members["revenue"].sum() / members["orders"].sum())
    assert matrix["customers"].sum() == len(customers)
    cell = matrix[(matrix["r_score"] == 5) & (matrix["f_score"] == 5)].iloc[0]
    in_cell = summary[(summary["r_score"] == 5) & (summary["f_score"] == 5)]
    assert cell["mean_revenue"] == pytest.approx(in_cell["revenue"].mean())


def test_segment_customers_drill_down_and_export_neutralises_formulas():
    rows = _customers_with({'=HYPERLINK("http://evil")': 3, "+cmd": 1, "ok": 2})
    con = _con(rows)
    champions = seg.customer_segments(con, as_of=AS_OF).set_index("customer_id")
    name = champions.loc['=HYPERLINK("http://evil")', "segment"]
    members = seg.segment_customers(con, segment=name, as_of=AS_OF)
    assert members["customer_id"].tolist() == ['=HYPERLINK("http://evil")']
    csv = to_csv_bytes(members).decode("utf-8-sig")
    assert "'=HYPERLINK" in csv and "\n=HYPERLINK" not in csv
    xlsx = pd.read_excel(io.BytesIO(to_xlsx_bytes(members)))
    assert xlsx["customer_id"].iloc[0].startswith("'=")


# ---------------------------------------------------------------------------------- Clusters


def _blobs(seed=0, n=300) -> pd.DataFrame:
    """Three clear groups: recent heavy buyers, lapsed one-off buyers, middling customers."""
    rng = np.random.default_rng(seed)
    groups = [
        (rng.integers(1, 20, n), rng.integers(20, 40, n), rng.uniform(2000, 4000, n)),
        (rng.integers(300, 400, n), np.ones(n, dtype=int), rng.uniform(10, 40, n)),
        (rng.integers(100, 160, n), rng.integers(3, 6, n), rng.uniform(200, 400, n)),
    ]
    frames = [pd.DataFrame({"days_since_last": d, "orders": o, "revenue": r}) for d, o, r in groups]
    return pd.concat(frames, ignore_index=True)


def test_clusters_find_the_planted_groups_and_name_them():
    X = _blobs()
    model = seg.CustomerClusters(random_state=7)
    assert model.fit(X) is model
    assert model.best_k_ == model.n_clusters_ == 3
    assert model.silhouette_["k"].tolist() == list(range(2, 9))
    # numbered by mean revenue: 0 = the heavy buyers, 2 = the one-off buyers
    assert (model.labels_[:300] == 0).all() and (model.labels_[300:600] == 2).all()
    assert model.names_[0] == "High-value"
    assert model.names_[2] == "One-off"
    assert (model.predict(X) == model.labels_).all()


def test_clusters_are_reproducible_with_a_seed():
    X = _blobs(seed=3)
    X["revenue"] *= np.random.default_rng(1).uniform(0.5, 1.5, len(X))  # blur the groups
    a = seg.CustomerClusters(5, random_state=11).fit(X)
    b = seg.CustomerClusters(5, random_state=11).fit(X)
    assert (a.labels_ == b.labels_).all()
    assert a.names_ == b.names_
    pd.testing.assert_frame_equal(a.silhouette_, b.silhouette_)
    assert a.n_clusters_ == 5 and a.best_k_ == 3  # set by hand, best by silhouette


def test_cluster_estimator_contract_and_errors():
    model = seg.CustomerClusters(3)
    assert model.get_params()["n_clusters"] == 3  # __init__ only stores arguments
    with pytest.raises(NotFittedError):
        model.predict(_blobs())
    with pytest.raises(UsageError, match="between 2 and 8"):
        seg.CustomerClusters(9).fit(_blobs())
    with pytest.raises(UsageError, match="needs the columns"):
        seg.CustomerClusters(3).fit(_blobs()[["orders", "revenue"]])
    with pytest.raises(NotEnoughData, match="at least 40 customers"):
        seg.CustomerClusters(3).fit(_blobs(n=5))


def test_silhouette_is_sampled_on_large_inputs():
    X = _blobs(n=2000)
    model = seg.CustomerClusters(silhouette_sample=500, fit_sample=1500, k_range=(2, 4)).fit(X)
    assert model.n_clusters_ == 3
    assert len(model.labels_) == len(X)


def test_customer_clusters_on_demo(demo_template):
    con = store.connect(demo_template)
    try:
        result = seg.customer_clusters(con, k=4, extra=("avg_order_value",))
        again = seg.customer_clusters(con, k=4, extra=("avg_order_value",))
        with pytest.raises(UsageError, match="Unknown cluster feature"):
            seg.customer_clusters(con, extra=("email",))
    finally:
        con.close()
    assert result.k == 4
    assert result.profile["customers"].sum() == len(result.customers)
    assert len(set(result.profile["cluster_name"])) == 4
    assert result.profile["monetary"].is_monotonic_decreasing
    pd.testing.assert_frame_equal(result.customers, again.customers)


# ---------------------------------------------------------------------------------- Price sensitivity


def test_price_sensitivity_by_hand():
    rows = [
        # a: 3 orders, 2 discounted (one via a second line of the order)
        ("a", "2024-12-01", 50.0, 5.0, "a1"),
        ("a", "2024-12-02", 30.0, 0.0, "a2"),
        ("a", "2024-12-02", 10.0, 2.0, "a2"),
        ("a", "2024-12-03", 100.0, 0.0, "a3"),
        # b: 1 order at full price, a return is not an order
        ("b", "2024-12-04", 80.0, 0.0, "b1"),
        ("b", "2024-12-05", -20.0, 0.0, "b1r"),
    ]
    con = _con(rows)
    one_segment = [("All", 1, 5, 1, 5, 1, 5)]
    ps = seg.price_sensitivity(con, rules=seg.rules_key(one_segment)).set_index("segment")
    row = ps.loc["All"]
    assert row["orders"] == 4
    assert row["discounted_share"] == pytest.approx(2 / 4)
    assert row["aov_discounted"] == pytest.approx((50 + 40) / 2)
    assert row["aov_full_price"] == pytest.approx((100 + 80) / 2)
    assert row["deal_seeker_share"] == pytest.approx(1 / 2)  # a: 2 of 3 orders
    assert ps.loc["All customers", "customers"] == 2


def test_price_sensitivity_needs_discounts():
    con = _con(_customers_with({"a": 2}))
    assert not seg.discount_available(con)
    with pytest.raises(NotEnoughData, match="no discount"):
        seg.price_sensitivity(con)


# ---------------------------------------------------------------------------------- Migration


def test_migration_by_hand():
    rows = [
        *[("a", f"2024-{m:02d}-15", 100.0) for m in range(1, 13)],  # buys all year
        *[("b", f"2024-{m:02d}-20", 100.0) for m in range(1, 7)],  # stops after June
        ("c", "2024-11-20", 10.0),  # first purchase in November
        ("d", "2024-01-05", 5.0),  # one purchase long ago
    ]
    con = _con(rows)
    rules = seg.rules_key([("Recent", 3, 5, 1, 5, 1, 5), ("Old", 1, 2, 1, 5, 1, 5)])
    flows = seg.segment_migration(con, start="2024-06-30", end="2024-12-31", rules=rules)
    # R = 1 + floor(5 * customers-with-an-older-last-purchase / n)
    # 30 June (n=3): b 10 days -> 4 Recent, a 15 days -> 2 Old, d 177 days -> 1 Old
    # 31 Dec (n=4): a 16 days -> 4 Recent, c 41 days -> 3 Recent, b -> 2 Old, d -> 1 Old
    got = {(r.from_segment, r.to_segment): r.customers for r in flows.itertuples()}
    assert got == {("Recent", "Old"): 1, ("Old", "Recent"): 1, ("Old", "Old"): 1,
                   (seg.NOT_YET, "Recent"): 1}  # fmt: skip
    with pytest.raises(UsageError, match="before the end date"):
        seg.segment_migration(con, start="2024-12-31", end="2024-12-31")


# ---------------------------------------------------------------------------------- CLI


def test_cli_summary_writes_segments_tiers_and_clusters(demo_template, tmp_path, capsys):
    out = tmp_path / "summary.csv"
    code = main(["summary", "--db", str(demo_template), "--period", "W", "--as-of", "2025-06-30",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    df = pd.read_csv(out, encoding="utf-8-sig", dtype={"customer_id": str, "rfm_score": str})
    assert list(df.columns) == [*SUMMARY_COLUMNS, "rfm_score", "segment", "tier", "cluster",
                                "cluster_name"]  # fmt: skip
    con = store.connect(demo_template)
    try:
        expected = seg.customer_segments(con, as_of="2025-06-30")
    finally:
        con.close()
    assert df["customer_id"].tolist() == expected["customer_id"].tolist()
    assert df["rfm_score"].tolist() == expected["rfm_score"].tolist()
    assert df["segment"].tolist() == expected["segment"].tolist()
    assert df["rfm_score"].str.fullmatch(r"[1-5]{3}").all()
    assert set(df["tier"]) == set(seg.TIERS)
    assert df["cluster"].notna().all()


def test_cli_summary_usage_and_data_errors(demo_template, tmp_path, capsys):
    out = str(tmp_path / "x.csv")
    assert main(["summary", "--db", str(demo_template), "--as-of", "2025-02-30", "--out", out]) == 2
    assert "--as-of" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["summary", "--db", str(demo_template), "--period", "Q", "--out", out])
    assert e.value.code == 2
    assert main(["summary", "--db", str(tmp_path / "missing.duckdb"), "--out", out]) == 1
