"""Built-in demo datasets: shape, determinism and the behaviour planted in the synthetic data."""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings

import pandas as pd
import pytest

from clm_core import demo, store
from clm_core.__main__ import main
from clm_core.config import SCHEMAS
from clm_core.summary import customer_summary

TABLES = list(SCHEMAS)


def _tables(path) -> dict[str, pd.DataFrame]:
    con = store.connect(path)
    try:
        return {t: con.execute(f"select * from {t} order by all").df() for t in TABLES}
    finally:
        con.close()


def _q(path, sql: str, params: dict | None = None):
    con = store.connect(path)
    try:
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def _two_proportion_z(x1: int, n1: int, x0: int, n0: int) -> float:
    p = (x1 + x0) / (n1 + n0)
    return (x1 / n1 - x0 / n0) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))


@pytest.fixture(scope="module")
def demo20k(tmp_path_factory):
    """The default-size demo (20k customers): big enough for the planted effects to be clear."""
    path = tmp_path_factory.mktemp("demo20k") / "demo-retail.duckdb"
    counts = demo.build_demo(path, customers=20_000, seed=42)
    return path, counts


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory):
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.duckdb"
    counts = demo.build_cdnow(path)
    return path, counts


# ---- shape --------------------------------------------------------------------------------


def test_schema_equals_canonical_schemas(demo_template):
    con = store.connect(demo_template)
    try:
        for table, schema in SCHEMAS.items():
            rows = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_name = $t and table_catalog = current_database() "
                "order by ordinal_position",
                {"t": table},
            ).fetchall()
            assert rows == list(schema.items()), table
    finally:
        con.close()


def test_settings_currency_and_kind(demo_template):
    con = store.connect(demo_template)
    try:
        assert store.get_setting(con, "currency") == "CNY"
        assert store.get_setting(con, "dataset_kind") == "demo"
    finally:
        con.close()


def test_sizes_in_range(demo20k):
    path, counts = demo20k
    assert counts["customers"] == 20_000
    assert 200_000 <= counts["transactions"] <= 300_000
    assert 300_000 <= counts["events"] <= 2_000_000
    assert 3_000 <= counts["campaigns"] <= 20_000
    assert 1_000 <= counts["feedback"] <= 20_000
    buyers, returns, share_returns = _q(
        path,
        "select count(distinct customer_id), count(*) filter (where amount < 0), "
        "avg(cast(amount < 0 as int)) from transactions",
    )[0]
    assert 14_000 <= buyers <= 19_000  # the rest are prospects (signed up, never bought)
    assert 0.02 <= share_returns <= 0.045, returns


def test_small_template_has_every_table_filled(demo_template):
    counts = dict((t, _q(demo_template, f"select count(*) from {t}")[0][0]) for t in TABLES)
    assert counts["customers"] == 2000
    assert all(counts[t] > 0 for t in TABLES), counts


def test_values_are_sane(demo_template):
    (lo, hi, neg_qty_pos_amount, null_ids, bad_ids) = _q(
        demo_template,
        "select min(order_ts), max(order_ts), "
        "count(*) filter (where amount > 0 and quantity <= 0), "
        "count(*) filter (where customer_id is null or order_id is null), "
        "count(*) filter (where not regexp_full_match(customer_id, 'C[0-9]{6}')) from transactions",
    )[0]
    assert lo >= dt.datetime(2023, 1, 1) and hi < dt.datetime(2026, 1, 1)
    assert neg_qty_pos_amount == 0 and null_ids == 0 and bad_ids == 0
    # every purchaser is a known customer; nobody buys before signing up
    (orphans, before_signup) = _q(
        demo_template,
        "select count(*) filter (where c.customer_id is null), "
        "count(*) filter (where t.order_ts < c.signup_ts) "
        "from transactions t left join customers c using (customer_id)",
    )[0]
    assert orphans == 0 and before_signup == 0
    # a return refers to an earlier purchase of the same order and is never larger than it
    (bad_returns,) = _q(
        demo_template,
        "select count(*) from transactions r join transactions p "
        "on r.order_id = p.order_id and p.amount > 0 "
        "where r.amount < 0 and (r.order_ts <= p.order_ts or -r.amount > p.amount + 0.01)",
    )[0]
    assert bad_returns == 0
    (unmatched_returns,) = _q(
        demo_template,
        "select count(*) from transactions r where r.amount < 0 and not exists "
        "(select 1 from transactions p where p.order_id = r.order_id and p.amount > 0)",
    )[0]
    assert unmatched_returns == 0


def test_customer_fields(demo_template):
    con = store.connect(demo_template)
    try:
        c = con.execute("select * from customers").df()
    finally:
        con.close()
    assert c["customer_id"].is_unique
    assert set(c["acquisition_channel"]) == set(demo.CHANNELS)
    assert set(c["region"]) <= set(demo.REGIONS)
    assert c["name"].str.fullmatch(r"[\u4e00-\u9fff]{2,4} ?").all()
    assert c["email"].str.contains("@").all()
    assert c["phone"].str.replace(r"\D", "", regex=True).str[-11:].str.fullmatch(r"1\d{10}").all()
    assert c["owner"].notna().all()
    cac = c.groupby("acquisition_channel")["acquisition_cost"].mean()
    assert cac["paid_search"] > cac["organic"] * 5


def test_deterministic_for_a_seed(tmp_path):
    a, b, c = tmp_path / "a.duckdb", tmp_path / "b.duckdb", tmp_path / "c.duckdb"
    demo.build_demo(a, customers=400, seed=11)
    demo.build_demo(b, customers=400, seed=11)
    demo.build_demo(c, customers=400, seed=12)
    ta, tb, tc = _tables(a), _tables(b), _tables(c)
    for t in TABLES:
        pd.testing.assert_frame_equal(ta[t], tb[t], obj=t)
    assert not ta["transactions"].equals(tc["transactions"])


def test_too_few_customers_is_a_usage_error(tmp_path):
    from clm_core.errors import UsageError

    with pytest.raises(UsageError, match="at least 10"):
        demo.build_demo(tmp_path / "x.duckdb", customers=3)
    assert not (tmp_path / "x.duckdb").exists()


# ---- planted behaviour --------------------------------------------------------------------


def test_winback_campaign_has_real_uplift(demo20k):
    path, _ = demo20k
    rows = _q(
        path,
        "select variant, count(*), sum(cast(converted as int)), count(distinct customer_id) "
        "from campaigns where campaign = 'winback-2025Q3' group by 1 order by 1",
    )
    by = {v: (n, x) for v, n, x, _ in rows}
    assert set(by) == {"control", "treatment_a", "treatment_b"}
    sizes = [n for n, _ in by.values()]
    assert max(sizes) / min(sizes) < 1.2  # random assignment, roughly equal arms
    n0, x0 = by["control"]
    for arm in ("treatment_a", "treatment_b"):
        n1, x1 = by[arm]
        assert x1 / n1 > x0 / n0
        assert _two_proportion_z(x1, n1, x0, n0) > 2.0, arm
    assert 0.05 < x0 / n0 < 0.11


def test_converted_means_a_purchase_in_the_window(demo_template):
    """converted <=> the customer has a purchase within 30 days after sent_ts; revenue is its sum."""
    rows = _q(
        demo_template,
        """
        select c.customer_id, c.campaign, c.converted, c.revenue,
               coalesce(sum(t.amount) filter (where t.amount > 0), 0) as spent,
               count(t.amount) filter (where t.amount > 0) as purchases
        from campaigns c left join transactions t
          on t.customer_id = c.customer_id and t.order_ts >= c.sent_ts
         and t.order_ts < c.sent_ts + interval 30 day
        group by all
        """,
    )
    assert len(rows) > 100
    for cid, camp, converted, revenue, spent, purchases in rows:
        assert converted == (purchases > 0), (cid, camp)
        assert revenue == pytest.approx(spent if converted else 0.0, abs=0.011), (cid, camp)


def test_campaign_rows_are_consistent(demo_template):
    con = store.connect(demo_template)
    try:
        c = con.execute("select * from campaigns").df()
    finally:
        con.close()
    control = c[c["variant"] == "control"]
    assert (control["cost"] == 0).all() and control["channel"].isna().all()
    treated = c[c["variant"] != "control"]
    assert (treated["cost"] > 0).all()
    assert set(treated["channel"]) <= {"sms", "email", "phone", "app_push"}
    assert not c.duplicated(["customer_id", "campaign"]).any()
    # a targeted customer had bought before and was lapsed when the campaign went out
    (not_lapsed,) = _q(
        demo_template,
        "select count(*) from campaigns c where campaign = 'winback-2025Q3' and exists ("
        "select 1 from transactions t where t.customer_id = c.customer_id and t.amount > 0 "
        "and t.order_ts < timestamp '2025-07-07' and t.order_ts > timestamp '2025-07-07' - interval 119 day)",
    )[0]
    assert not_lapsed == 0


def test_complaints_concentrate_among_churners(demo20k):
    path, _ = demo20k
    rows = _q(
        path,
        """
        with last as (select customer_id, max(order_ts) as last_ts from transactions
                      where amount > 0 group by 1),
        flag as (select l.customer_id, l.last_ts < timestamp '2025-06-01' as churned,
                        exists (select 1 from feedback f where f.customer_id = l.customer_id
                                and f.kind = 'complaint') as complained
                 from last l)
        select churned, avg(cast(complained as int)) from flag group by 1
        """,
    )
    rate = dict(rows)
    assert rate[True] > 2 * rate[False]


def test_logins_fade_before_customers_stop_buying(demo20k):
    """Churn signal: logins in the 90 days before the last purchase fall vs. the 90 days before."""
    path, _ = demo20k
    (recent, earlier) = _q(
        path,
        """
        with last as (select customer_id, max(order_ts) as last_ts, min(order_ts) as first_ts
                      from transactions where amount > 0 group by 1
                      having max(order_ts) < timestamp '2025-03-01'
                         and max(order_ts) - min(order_ts) > interval 240 day)
        select count(*) filter (where e.event_ts > l.last_ts - interval 90 day
                                  and e.event_ts <= l.last_ts),
               count(*) filter (where e.event_ts > l.last_ts - interval 180 day
                                  and e.event_ts <= l.last_ts - interval 90 day)
        from last l join events e on e.customer_id = l.customer_id and e.event_name = 'login'
        """,
    )[0]
    assert recent < 0.8 * earlier


def test_acquisition_channels_differ_in_quality(demo20k):
    path, _ = demo20k
    rows = _q(
        path,
        "select acquisition_channel, avg(coalesce(n, 0)) from customers c left join "
        "(select customer_id, count(*) as n from transactions where amount > 0 group by 1) t "
        "using (customer_id) group by 1",
    )
    orders = dict(rows)
    assert orders["referral"] > 1.5 * orders["social"]
    assert orders["organic"] > orders["affiliate"]


def test_lifecycles_are_mixed(demo20k):
    path, _ = demo20k
    con = store.connect(path)
    try:
        s = customer_summary(con)
    finally:
        con.close()
    one_off = (s["frequency"] == 0).mean()
    active = (s["days_since_last"] <= 90).mean()
    lapsed = (s["days_since_last"] > 365).mean()
    heavy = (s["frequency"] >= 20).mean()
    assert 0.08 < one_off < 0.4 and 0.25 < active < 0.7 and 0.1 < lapsed < 0.5 and heavy > 0.05
    # won back: a silence of 180+ days, then buying again
    (won_back,) = _q(
        path,
        "with d as (select distinct customer_id, cast(order_ts as date) as d from transactions "
        "where amount > 0), g as (select customer_id, d - lag(d) over "
        "(partition by customer_id order by d) as gap from d) "
        "select count(distinct customer_id) from g where gap >= 180",
    )[0]
    assert won_back > 500


def test_bgnbd_fits_sensibly(demo_template):
    from lifetimes import BetaGeoFitter

    con = store.connect(demo_template)
    try:
        s = customer_summary(con, period="W")
    finally:
        con.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])
    r, alpha, a, b = (bg.params_[k] for k in ("r", "alpha", "a", "b"))
    # purchase rate ~ Gamma(r, alpha): mean a few purchases a month; dropout ~ Beta(a, b): ~5-15%
    assert 0.1 < r / alpha < 1.0
    assert 0.03 < a / (a + b) < 0.2


def test_funnel_steps_are_ordered_and_drop_off(demo_template):
    rows = dict(_q(demo_template, "select event_name, count(*) from events group by 1"))
    assert rows["visit"] > rows["add_to_cart"] > rows["purchase"] > 0
    assert rows["signup"] == 2000 and rows["login"] > 0
    (bad,) = _q(
        demo_template,
        "select count(*) from customers c join events v on v.customer_id = c.customer_id "
        "and v.event_name = 'signup' where v.event_ts <> c.signup_ts",
    )[0]
    assert bad == 0
    (anonymous,) = _q(
        demo_template, "select count(distinct customer_id) from events where customer_id like 'V%'"
    )[0]
    assert anonymous > 1000  # visitors who never signed up


def test_planted_duplicates_look_alike(demo_template):
    con = store.connect(demo_template)
    try:
        pairs = store.get_setting(con, "demo_planted_duplicates")
        c = con.execute("select * from customers").df().set_index("customer_id")
    finally:
        con.close()
    assert pairs and len(pairs) >= 2
    digits = c["phone"].str.replace(r"\D", "", regex=True).str[-11:]
    for a, b in pairs:
        assert c.at[a, "name"].strip() == c.at[b, "name"].strip()
        same_phone = digits[a] == digits[b]
        same_mail_user = (
            c.at[a, "email"].split("@")[0].lower() == c.at[b, "email"].split("@")[0].lower()
        )
        similar_mail = re.sub(r"\d", "", c.at[a, "email"].lower()) == re.sub(
            r"\d", "", c.at[b, "email"].lower()
        )
        assert same_phone or same_mail_user or similar_mail, (a, b)
        assert c.at[a, "email"] != c.at[b, "email"] or c.at[a, "name"] != c.at[b, "name"]


# ---- CDNow --------------------------------------------------------------------------------


def test_cdnow_matches_the_published_dataset(cdnow):
    path, counts = cdnow
    assert counts["customers"] == 23_570
    assert counts["transactions"] == 69_659
    lo, hi = _q(path, "select min(order_ts), max(order_ts) from transactions")[0]
    assert lo == dt.datetime(1997, 1, 1) and hi == dt.datetime(1998, 6, 30)
    # customer 00003, straight from lines 5-10 of CDNOW_master.txt
    rows = _q(
        path,
        "select cast(order_ts as date), quantity, amount from transactions "
        "where customer_id = $c order by order_ts",
        {"c": "00003"},
    )
    assert rows == [
        (dt.date(1997, 1, 2), 2.0, 20.76),
        (dt.date(1997, 3, 30), 2.0, 20.76),
        (dt.date(1997, 4, 2), 2.0, 19.54),
        (dt.date(1997, 11, 15), 5.0, 57.45),
        (dt.date(1997, 11, 25), 4.0, 20.96),
        (dt.date(1998, 5, 28), 1.0, 16.99),
    ]
    con = store.connect(path)
    try:
        assert store.get_setting(con, "currency") == "USD"
        assert store.get_setting(con, "dataset_kind") == "cdnow"
        assert store.table_names(con) - {"_clm_meta"} == {"transactions"}
        s = customer_summary(con).set_index("customer_id")
    finally:
        con.close()
    assert s.at["00003", "frequency"] == 5


# ---- CLI ----------------------------------------------------------------------------------


def test_cli_builds_retail(tmp_path, capsys):
    db = tmp_path / "d.duckdb"
    assert main(["demo", "--db", str(db), "--customers", "300", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "300 customers" in out and str(db) in out
    assert _q(db, "select count(*) from customers")[0][0] == 300


def test_cli_all_builds_both_next_to_each_other(tmp_path, capsys):
    db = tmp_path / "demo-retail.duckdb"
    assert main(["demo", "--db", str(db), "--customers", "200", "--kind", "all"]) == 0
    assert _q(db, "select count(*) from customers")[0][0] == 200
    assert (
        _q(tmp_path / "cdnow.duckdb", "select count(distinct customer_id) from transactions")[0][0]
        == 23_570
    )


def test_cli_default_paths_follow_the_data_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLM_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CLM_DB", raising=False)
    assert main(["demo", "--kind", "cdnow"]) == 0
    assert (tmp_path / "cdnow.duckdb").exists()
    assert main(["demo", "--customers", "100"]) == 0
    assert (tmp_path / "demo-retail.duckdb").exists()


@pytest.mark.parametrize(
    "argv", [["demo", "--customers", "5"], ["demo", "--kind", "nope"]], ids=["too-few", "bad-kind"]
)
def test_cli_usage_errors_exit_2(tmp_path, argv, capsys):
    try:
        code = main([*argv, "--db", str(tmp_path / "x.duckdb")])
    except SystemExit as e:
        code = e.code
    assert code == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "x.duckdb").exists()
