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
    base = pd.Timestamp(START)
    for i in range(n):
        cid = f"C{i:05d}"
        signup = int(rng.integers(0, 450))
        gap = float(np.clip(rng.lognormal(np.log(25), 0.6), 5, 120))
        churn_day = signup + 30 + int(rng.exponential(500))
        spend = float(rng.lognormal(np.log(60), 0.5))
        cust.append((cid, base + pd.Timedelta(days=signup), OWNERS[i % 4], ["ads", "seo", "referral"][i % 3]))
        t = float(signup)
        k = 0
        while t < min(churn_day, DAYS):
            declining = t > churn_day - 120
            amt = spend * rng.lognormal(0, 0.3) * (0.6 if declining else 1.0)
            ts = base + pd.Timedelta(days=t, hours=int(rng.integers(8, 20)))
            tx.append((cid, f"{cid}-{k}", ts, round(amt, 2), ["web", "store", "app"][k % 3 if i % 2 else 0],
                       ["shoes", "bags", "tops"][int(rng.integers(0, 3))], 5.0 if rng.random() < 0.2 else 0.0))
            if rng.random() < 0.04:
                tx.append((cid, f"{cid}-{k}-r", ts + pd.Timedelta(days=10), -round(amt, 2), "web", "shoes", 0.0))
            k += 1
            t += rng.gamma(2.0, gap / 2) * (2.0 if declining else 1.0)
        # visits and logins: every ~6 days, every ~40 days while declining, none after churning
        t = float(signup)
        while t < min(churn_day, DAYS):
            declining = t > churn_day - 120
            ev.append((cid, "login" if rng.random() < 0.5 else "visit", base + pd.Timedelta(days=t)))
            t += rng.exponential(40.0 if declining else 6.0)
        if churn_day - 60 < DAYS and rng.random() < 0.7:
            day = churn_day - int(rng.integers(5, 60))
            if signup < day < DAYS:
                fb.append((cid, base + pd.Timedelta(days=day), "complaint", float(rng.integers(1, 3))))
        if rng.random() < 0.3:
            day = int(rng.integers(signup, DAYS))
            fb.append((cid, base + pd.Timedelta(days=day), "review", float(rng.integers(3, 6))))
    transactions = pd.DataFrame(tx, columns=["customer_id", "order_id", "order_ts", "amount", "channel", "category", "discount"])
    events = pd.DataFrame(ev, columns=["customer_id", "event_name", "event_ts"])
    feedback = pd.DataFrame(fb, columns=["customer_id", "created_ts", "kind", "score"])
    customers = pd.DataFrame(cust, columns=["customer_id", "signup_ts", "owner", "acquisition_channel"])
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
    assert rate_stopped > 2 * rate_kept


def test_synth_is_reproducible():
    a = synth_frames(50, seed=3)["transactions"]
    b = synth_frames(50, seed=3)["transactions"]
    pd.testing.assert_frame_equal(a, b)
