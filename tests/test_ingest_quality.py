"""Data quality report: completeness, duplicates, returns, channels, likely duplicate customers."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from clm_core import store
from clm_core.ingest.quality import (
    completeness,
    customers_per_channel,
    duplicate_customers,
    load_history,
    table_overview,
)

TX = pd.DataFrame(
    {
        "customer_id": ["A", "A", "B", "C", "C", "C", "D"],
        "order_ts": ["2024-01-05", "2024-01-05", "2024-02-01", "2024-03-01", "2024-03-02",
                     "2024-03-03", "2024-04-30"],
        "amount": [10.0, 10.0, -5.0, 7.0, 8.0, -1.0, 3.0],
        "channel": ["web", "web", "app", "app", None, "web", None],
    }
)  # fmt: skip
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["A", "B", "C", "D", "E", "F", "G", "H"],
        "signup_ts": ["2023-01-01", "2023-02-01", "2023-03-01", "2023-04-01", "2023-05-01",
                      "2023-06-01", "2023-07-01", "2023-08-01"],
        "name": ["Wang Wei", "Anna Smith", "Wei Wang", "Li Na", "Anna Smith", "王伟", "Peter Pan",
                 "Wang Wei"],
        "email": ["wang.wei@gmail.com", "anna@example.com", "wangwei+shop@gmail.com",
                  "lina@example.com", "ANNA@example.com", None, "peter@example.com",
                  "ww1990@163.com"],
        "phone": ["138-0013-8000", "555 0101", "+86 13800138000", None, "555 0101",
                  "13900001111", "13911112222", "13722223333"],
        "acquisition_channel": ["search", "social", "search", None, "social", "store", "store",
                                "search"],
    }
)  # fmt: skip


@pytest.fixture()
def con():
    c = store.from_frames(transactions=TX, customers=CUSTOMERS)
    yield c
    c.close()


def test_completeness_flags_columns_below_85_percent(con):
    df = completeness(con).set_index(["table", "column"])
    assert df.loc[("transactions", "channel"), "filled"] == 5
    assert df.loc[("transactions", "channel"), "completeness"] == pytest.approx(5 / 7)
    assert bool(df.loc[("transactions", "channel"), "flag"]) is True
    assert bool(df.loc[("transactions", "amount"), "flag"]) is False
    assert df.loc[("customers", "acquisition_channel"), "completeness"] == pytest.approx(7 / 8)
    assert bool(df.loc[("customers", "acquisition_channel"), "flag"]) is False
    assert bool(df.loc[("customers", "region"), "flag"]) is True  # absent from the file: all NULL


def test_table_overview(con):
    df = table_overview(con).set_index("table")
    tx = df.loc["transactions"]
    assert (tx["rows"], tx["duplicates"], tx["customers"], tx["returns"]) == (7, 1, 4, 2)
    assert tx["returned_amount"] == pytest.approx(6.0)
    assert (str(tx["date_min"])[:10], str(tx["date_max"])[:10]) == ("2024-01-05", "2024-04-30")
    assert df.loc["customers", "rows"] == 8


def test_customers_per_channel(con):
    df = customers_per_channel(con)
    purchase = df[df["source"] == "purchase"].set_index("channel")["customers"].to_dict()
    assert purchase == {"web": 2, "app": 2, "(none)": 2}
    acq = df[df["source"] == "acquisition"].set_index("channel")["customers"].to_dict()
    assert acq == {"search": 3, "social": 2, "store": 2, "(none)": 1}


def test_likely_duplicate_customers(con):
    df = duplicate_customers(con)
    pairs = {(r.customer_id, r.duplicate_of): r for r in df.itertuples()}
    # C = A: gmail dots and +tag, +86 phone, name order swapped; A kept (2 orders vs 3? C has 3)
    assert set(pairs) == {("A", "C"), ("E", "B")}
    assert pairs[("A", "C")].score == 100.0
    assert pairs[("A", "C")].suggestion == "merge A into C"  # C has more orders
    assert pairs[("E", "B")].suggestion == "merge E into B"  # B has orders, E none
    assert set(pairs[("E", "B")].matched_on.split(", ")) == {"name", "email", "phone"}
    # H shares only a (common) name with A: not flagged; F (王伟) has no comparable field


def test_fuzzy_near_duplicates_and_no_customers_table():
    customers = pd.DataFrame({
        "customer_id": ["1", "2", "3"],
        "name": ["Jonathan Smith", "Jonathon Smith", "Maria Garcia"],
        "email": ["jonathan.smith@example.com", "jonathon.smith@example.com", "mg@example.com"],
        "phone": [None, None, None],
    })  # fmt: skip
    con = store.from_frames(customers=customers)
    df = duplicate_customers(con)
    assert df[["customer_id", "duplicate_of"]].values.tolist() == [["2", "1"]]
    assert 90 <= df["score"].iloc[0] < 100
    con.close()
    con = store.from_frames(transactions=TX)
    assert duplicate_customers(con).empty and load_history(con).empty
    con.close()


def test_duplicates_found_among_20000_customers():
    rng = random.Random(3)
    first = ["Wei", "Na", "Anna", "John", "Maria", "Chen", "Min", "Jun", "Emma", "Lucas"]
    last = ["Wang", "Li", "Zhang", "Smith", "Garcia", "Chen", "Liu", "Brown", "Kim", "Lee"]
    rows = []
    for i in range(20_000):
        f, g = rng.choice(first), rng.choice(last)
        rows.append((f"C{i:05d}", f"{f} {g}", f"{f.lower()}.{g.lower()}{i}@mail.com",
                     f"13{rng.randint(0, 999_999_999):09d}"))  # fmt: skip
    planted = {5: "D1", 777: "D2", 15_000: "D3"}
    for i, new in planted.items():
        _, name, email, phone = rows[i]
        rows.append((new, name.upper(), email.replace("@", "x@"), phone[:-1] + "0"))
    frame = pd.DataFrame(rows, columns=["customer_id", "name", "email", "phone"])
    con = store.from_frames(customers=frame)
    df = duplicate_customers(con)
    con.close()
    found = {tuple(sorted(p)) for p in df[["customer_id", "duplicate_of"]].values.tolist()}
    assert found == {("C00005", "D1"), ("C00777", "D2"), ("C15000", "D3")}
