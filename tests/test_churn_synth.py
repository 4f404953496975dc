"""A small synthetic dataset with a planted churn signal, shared by the churn tests.

Each customer buys at a personal rhythm (gamma gaps, median about 25 days but 5 to 120). Some
customers churn on a hidden day: in the 120 days before it they buy half as often and spend less,
visit much less, and most lodge a complaint; after it they neither buy nor visit. The rule
baselines only see recency or P(alive); the planted decline is visible to a model that also reads
trends, events and complaints. The tests in this file check the plant itself.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

START = dt.date(2023, 1, 1)
DAYS = 730  # data runs to 2024-12-31
OWNERS = ("Ann", "Bo", "Chen", "Dee")


def synth_frames(n: int = 3000, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    tx, ev, fb, cust = [], [], [], []
    base = np.datetime64(START, "s")
    day = np.timedelta64(86400, "s")
    for i in range(n):
        cid = f"C{i:05d}"
        signup = int(rng.integers(0, 450))
        gap = float(np.clip(rng.lognormal(np.log(25), 0.6), 5, 120))
        churn_day = signup + 30 + rng.exponential(500)
        end = min(churn_day, DAYS)
        spend = float(rng.lognormal(np.log(60), 0.5))
        quiet = signup + rng.uniform(0, 700)  # a 60-day lull that is not churn (holidays)
        cust.append((cid, base + signup * day, OWNERS[i % 4], ("ads", "seo", "referral")[i % 3]))
        # purchases: gamma gaps, thinned to half while declining
        t = signup + np.cumsum(rng.gamma(2.0, gap / 2, size=int(DAYS / gap * 2) + 5))
        t = t[t < end]
        declining = t > churn_day - 120
        t = t[~declining | (rng.random(len(t)) < 0.5)]
        declining = t > churn_day - 120
        amt = np.round(spend * rng.lognormal(0, 0.3, len(t)) * np.where(declining, 0.7, 1.0), 2)
        ts = base + (t * 86400).astype("int64") * np.timedelta64(1, "s")
        chan = np.array(["web", "store", "app"])[
            np.arange(len(t)) % 3 if i % 2 else np.zeros(len(t), int)
        ]
        cat = np.array(["shoes", "bags", "tops"])[rng.integers(0, 3, len(t))]
        disc = np.where(rng.random(len(t)) < 0.2, 5.0, 0.0)
        k = np.arange(len(t))
        tx.append((np.full(len(t), i), k, ts, amt, chan, cat, disc))
        ret = (rng.random(len(t)) < 0.04) & (t + 10 < DAYS)
        if ret.any():
            tx.append(
                (
                    np.full(ret.sum(), i),
                    -1 - k[ret],
                    ts[ret] + 10 * day,
                    -amt[ret],
                    np.full(ret.sum(), "web"),
                    cat[ret],
                    np.zeros(ret.sum()),
                )
            )
        # visits and logins every ~6 days; a third as often while declining or in the lull
        e = signup + np.cumsum(rng.exponential(6.0, size=int(DAYS / 6 * 2) + 10))
        e = e[e < end]
        thin = (e > churn_day - 120) | ((e > quiet) & (e < quiet + 60))
        e = e[~thin | (rng.random(len(e)) < 0.35)]
        ev.append(
            (
                np.full(len(e), i),
                np.where(rng.random(len(e)) < 0.5, "login", "visit"),
                base + (e * 86400).astype("int64") * np.timedelta64(1, "s"),
            )
        )
        if churn_day - 60 < DAYS and rng.random() < 0.5:
            d = churn_day - rng.uniform(5, 60)
            if signup < d < DAYS:
                fb.append(
                    (
                        cid,
                        base + int(d * 86400) * np.timedelta64(1, "s"),
                        "complaint",
                        float(rng.integers(1, 3)),
                    )
                )
        if rng.random() < 0.15:  # complaints from customers who stay
            d = rng.uniform(signup, DAYS)
            fb.append(
                (
                    cid,
                    base + int(d * 86400) * np.timedelta64(1, "s"),
                    "complaint",
                    float(rng.integers(1, 4)),
                )
            )
        if rng.random() < 0.3:
            d = rng.uniform(signup, DAYS)
            fb.append(
                (
                    cid,
                    base + int(d * 86400) * np.timedelta64(1, "s"),
                    "review",
                    float(rng.integers(3, 6)),
                )
            )
    cols = [np.concatenate(c) for c in zip(*tx, strict=True)]
    cid = pd.Series(cols[0]).map("C{:05d}".format)
    order = np.where(
        cols[1] >= 0,
        cid + "-" + pd.Series(cols[1]).astype(str),
        cid + "-" + pd.Series(-1 - cols[1]).astype(str) + "-r",
    )
    transactions = pd.DataFrame(
        {
            "customer_id": cid,
            "order_id": order,
            "order_ts": cols[2],
            "amount": cols[3],
            "channel": cols[4],
            "category": cols[5],
            "discount": cols[6],
        }
    )
    cols = [np.concatenate(c) for c in zip(*ev, strict=True)]
    events = pd.DataFrame(
        {
            "customer_id": pd.Series(cols[0]).map("C{:05d}".format),
            "event_name": cols[1],
            "event_ts": cols[2],
        }
    )
    feedback = pd.DataFrame(fb, columns=["customer_id", "created_ts", "kind", "score"])
    customers = pd.DataFrame(
        cust, columns=["customer_id", "signup_ts", "owner", "acquisition_channel"]
    )
    return {"transactions": transactions, "events": events, "feedback": feedback, "customers": customers}  # fmt: skip


def write_synth(path, n: int = 3000, seed: int = 0) -> None:
    """Write the synthetic tables to a dataset file through the store's atomic writer."""
    from clm_core import store

    frames = synth_frames(n, seed)
    mem = store.from_frames(**frames)
    with store.write_dataset(path, fresh=True) as con:
        for table in frames:
            df = mem.execute(f"select * from {store.quote_ident(table)}").df()
            con.register("_f", df)
            con.execute(f"create table {store.quote_ident(table)} as select * from _f")
            con.unregister("_f")
    mem.close()


def test_synth_has_a_planted_decline_before_churn():
    frames = synth_frames(400, seed=1)
    tx = frames["transactions"]
    assert tx["order_ts"].max() < pd.Timestamp("2025-01-01")
    assert (tx["amount"] < 0).any() and (frames["feedback"]["kind"] == "complaint").any()
    # customers who stop buying during the data had a complaint more often than those who did not
    last = tx.groupby("customer_id")["order_ts"].max()
    stopped = set(last[last < pd.Timestamp("2024-06-01")].index)
    complained = set(frames["feedback"].query("kind == 'complaint'")["customer_id"])
    rate_stopped = len(stopped & complained) / len(stopped)
    rate_kept = len(complained - stopped) / (400 - len(stopped))
    assert rate_stopped > 1.5 * rate_kept
    # and visited less in the 90 days before their last visit than in the 90 before that
    ev = frames["events"]
    last_ev = ev.groupby("customer_id")["event_ts"].transform("max")
    first_ev = ev.groupby("customer_id")["event_ts"].transform("min")
    gone = (last_ev < pd.Timestamp("2024-06-01")) & (last_ev - first_ev > pd.Timedelta(days=200))
    age = (last_ev - ev["event_ts"]).dt.days[gone]
    recent = (age < 90).sum()
    before = ((age >= 90) & (age < 180)).sum()
    assert recent < 0.7 * before


def test_synth_is_reproducible():
    a = synth_frames(50, seed=3)["transactions"]
    b = synth_frames(50, seed=3)["transactions"]
    pd.testing.assert_frame_equal(a, b)
