"""Data quality of a loaded dataset: completeness, duplicates, date range, returns, channels,
and customers that are probably the same person under several ids.

Every function takes a cursor on the dataset and returns a DataFrame (the Data page caches them
through ``ui.cache.compute``).

Likely duplicate customers: two ids whose name, email and phone are each at least 90% similar
(rapidfuzz ratios on normalised text: token-sorted name, email local part, phone digits) over
the fields both records have, at least two of them; or, when only email or only phone can be
compared, whose normalised values are identical. Candidate pairs
come from blocking (same normalised email or phone, same last four phone digits, same first
characters of email, first or last digits of phone), so 20,000 customers cost a few
block-sized comparisons, not 20,000^2.
"""

from __future__ import annotations

import re
import unicodedata

import duckdb
import numpy as np
import pandas as pd

from clm_core.config import REQUIRED_COLUMNS, SCHEMAS
from clm_core.ingest.load import DUPLICATES_KEY, HISTORY_KEY, TS_COLUMN
from clm_core.store import column_names, get_setting, query_df, quote_ident, table_names

__all__ = [
    "COMPLETENESS_FLAG",
    "DUPLICATE_THRESHOLD",
    "completeness",
    "customers_per_channel",
    "duplicate_customers",
    "load_history",
    "table_overview",
]

COMPLETENESS_FLAG = 0.85  # columns filled in fewer rows than this are flagged
DUPLICATE_THRESHOLD = 90.0
# Customers up to which the Data page matches duplicates on every visit; above, on request
# (about 8 minutes for 1M demo customers on 2 cores).
DUPLICATES_AUTO_MAX = 200_000
_MAX_BLOCK = 400  # larger blocks are split by a finer key (they say little anyway)


def completeness(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per table and canonical column: filled rows, share filled, and a flag below 85%."""
    present = table_names(con)
    rows = []
    for table, schema in SCHEMAS.items():
        if table not in present:
            continue
        have = column_names(con, table)
        cols = [c for c in schema if c in have]
        counts = ", ".join(f"count({quote_ident(c)})" for c in cols)
        res = con.execute(f"select count(*), {counts} from {quote_ident(table)}").fetchone()
        total = res[0]
        for c, filled in zip(cols, res[1:], strict=True):
            share = filled / total if total else 0.0
            rows.append({"table": table, "column": c, "filled": filled, "rows": total,
                         "completeness": share, "required": c in REQUIRED_COLUMNS[table],
                         "flag": share < COMPLETENESS_FLAG})  # fmt: skip
    return pd.DataFrame(rows, columns=["table", "column", "filled", "rows", "completeness",
                                       "required", "flag"])  # fmt: skip


def table_overview(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per table: rows, exact duplicate rows, customers, first and last date, returns.

    Exact duplicates are rows identical in every column of the loaded file, as the load counted
    them (the ``file_duplicates`` setting); a table not loaded from files counts its own rows.
    """
    present = table_names(con)
    rows = []
    for table, schema in SCHEMAS.items():
        if table not in present:
            continue
        have = column_names(con, table)
        cols = ", ".join(quote_ident(c) for c in schema if c in have)
        q = quote_ident(table)
        ts = quote_ident(TS_COLUMN[table]) if TS_COLUMN[table] in have else "null"
        neg = "count(*) filter (where amount < 0)" if table == "transactions" else "0"
        negsum = "coalesce(-sum(amount) filter (where amount < 0), 0)" if table == (
            "transactions") else "0"  # fmt: skip
        n, customers, dmin, dmax, returns, returned = con.execute(
            f"select count(*), count(distinct customer_id), min({ts}), max({ts}), {neg}, "
            f"{negsum} from {q}"
        ).fetchone()
        dups = (get_setting(con, DUPLICATES_KEY, {}) or {}).get(table)
        if dups is None:  # not loaded from files (demo, tests): rows equal in every column
            distinct = con.execute(f"select count(*) from (select distinct {cols} from {q})")
            dups = n - distinct.fetchone()[0]
        rows.append({"table": table, "rows": n, "duplicates": dups,
                     "customers": customers, "date_min": dmin, "date_max": dmax,
                     "returns": returns, "returned_amount": float(returned)})  # fmt: skip
    return pd.DataFrame(rows, columns=["table", "rows", "duplicates", "customers", "date_min",
                                       "date_max", "returns", "returned_amount"])  # fmt: skip


def customers_per_channel(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Distinct customers per purchase channel (transactions) and per acquisition channel."""
    present = table_names(con)
    parts = []
    if "transactions" in present and "channel" in column_names(con, "transactions"):
        parts.append(query_df(con, (
            "select 'purchase' as source, coalesce(channel, '(none)') as channel, "
            "count(distinct customer_id) as customers, count(*) as rows "
            "from transactions group by all order by customers desc")))  # fmt: skip
    if "customers" in present and "acquisition_channel" in column_names(con, "customers"):
        parts.append(query_df(con, (
            "select 'acquisition' as source, coalesce(acquisition_channel, '(none)') as channel, "
            "count(distinct customer_id) as customers, count(*) as rows "
            "from customers group by all order by customers desc")))  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=["source", "channel", "customers", "rows"])
    return pd.concat(parts, ignore_index=True)


def load_history(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The dataset's recent loads, newest first."""
    history = get_setting(con, HISTORY_KEY, []) or []
    frame = pd.DataFrame(history)
    return frame.iloc[::-1].reset_index(drop=True) if len(frame) else frame


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _norm_name(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    text = unicodedata.normalize("NFKC", str(v)).lower()
    return " ".join(sorted(_NON_WORD.sub(" ", text).split()))


def _norm_email(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    text = unicodedata.normalize("NFKC", str(v)).strip().lower()
    local, at, domain = text.partition("@")
    if not at:
        return text
    local = local.split("+", 1)[0]
    if domain in ("gmail.com", "googlemail.com"):
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def _norm_phone(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    digits = re.sub(r"\D", "", str(v))
    # Compare national numbers: drop country codes (+86 13800138000 == 138-0013-8000).
    return digits[-11:] if len(digits) > 11 else digits


_PAIR_COLUMNS = ["customer_id", "duplicate_of", "score", "matched_on", "name", "other_name",
                 "email", "other_email", "phone", "other_phone", "suggestion"]  # fmt: skip


def duplicate_customers(
    con: duckdb.DuckDBPyConnection, threshold: float = DUPLICATE_THRESHOLD, limit: int = 1000
) -> pd.DataFrame:
    """Pairs of customer ids that are probably one person, best first, with a merge suggestion.

    ``score`` (0-100) is the mean rapidfuzz similarity over the fields both records have (name:
    token-sorted ratio; email: ratio of the local part, Gmail dots and +tags removed; phone:
    ratio of the national digits). ``matched_on`` lists the fields at or above ``threshold``.
    The suggestion keeps the id with more orders (then the earlier signup, then the smaller
    id) and merges the other into it.
    """
    have = table_names(con)
    if "customers" not in have:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    cols = column_names(con, "customers")
    pii = [c for c in ("name", "email", "phone") if c in cols]
    if not pii:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    select = ", ".join(quote_ident(c) for c in pii)
    signup = "signup_ts" if "signup_ts" in cols else "null"
    orders = (
        "left join (select customer_id, count(*) as orders from transactions group by 1) o "
        "using (customer_id)"
        if "transactions" in have
        else ""
    )
    orders_col = "coalesce(o.orders, 0)" if orders else "0"
    frame = query_df(con, (
        f"select c.customer_id, {select}, {signup} as signup_ts, {orders_col} as orders "
        f"from (select * from customers qualify row_number() over (partition by customer_id) = 1) c "
        f"{orders} where c.customer_id is not null"))  # fmt: skip
    for c in ("name", "email", "phone"):
        if c not in frame:
            frame[c] = None
    frame = frame.reset_index(drop=True)
    pairs = _candidate_pairs(frame)
    if not len(pairs):
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    return _score_pairs(frame, pairs, threshold).head(limit)


def _blocks(keys) -> list[np.ndarray]:
    """Row positions sharing a non-empty key, for every key held by two rows or more."""
    keys = np.asarray(keys, dtype=object)
    codes, _ = pd.factorize(keys)
    counts = np.bincount(codes[codes >= 0]) if len(codes) else np.array([], dtype=int)
    idx = np.flatnonzero((codes >= 0) & (keys != ""))
    idx = idx[counts[codes[idx]] > 1]
    if not len(idx):
        return []
    idx = idx[np.argsort(codes[idx], kind="stable")]
    return np.split(idx, np.flatnonzero(np.diff(codes[idx])) + 1)


_PAIR_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _pairs_within(block: np.ndarray) -> np.ndarray:
    n = len(block)
    if n not in _PAIR_CACHE:
        _PAIR_CACHE[n] = np.triu_indices(n, k=1)
    a, b = _PAIR_CACHE[n]
    return np.column_stack([block[a], block[b]])


def _refined_blocks(texts: np.ndarray, keyfn, sizes=(2, 4, 6)) -> list[np.ndarray]:
    """Blocks by keyfn(text, k); a block larger than _MAX_BLOCK is re-split with the next k."""
    out: list[np.ndarray] = []
    todo = [np.arange(len(texts))]
    for i, k in enumerate(sizes):
        nxt = []
        for members in todo:
            keys = [keyfn(t, k) for t in texts[members]]
            for block in _blocks(keys):
                block = members[block]
                if len(block) > _MAX_BLOCK and i + 1 < len(sizes):
                    nxt.append(block)
                else:
                    out.append(block)
        todo = nxt
    return out


def _candidate_pairs(frame: pd.DataFrame) -> np.ndarray:
    """Distinct (i, j), i < j, row positions worth scoring; an (n, 2) int array."""
    from rapidfuzz import fuzz, process

    names = frame["name"].map(_norm_name).to_numpy(dtype=object)
    emails = frame["email"].map(_norm_email).to_numpy(dtype=object)
    phones = frame["phone"].map(_norm_phone).to_numpy(dtype=object)
    frame["_n"], frame["_e"], frame["_p"] = names, emails, phones
    found: list[np.ndarray] = []
    # Identical email, phone or name: every pair is scored (capped: a shared office number or
    # a common name in a block of hundreds says little).
    for key in (emails, phones, names):
        found += [_pairs_within(b) for b in _blocks(key) if len(b) <= 50]
    # Near-identical emails and phones inside blocks, compared in C++ by rapidfuzz. A pair
    # needs two fields averaging >= 90, so one of its email/phone is close whenever it counts;
    # names alone are too common to block on.
    fuzzy = [
        (emails, lambda t, k: t[: k + 1] + "@" + t.rpartition("@")[2], fuzz.ratio),
        (emails, lambda t, k: t.partition("@")[0][-(k + 1) :], fuzz.ratio),
        (phones, lambda t, k: t[-(k + 2) :], fuzz.ratio),
        (phones, lambda t, k: t[: k + 3], fuzz.ratio),
    ]
    for texts, keyfn, scorer in fuzzy:
        small: list[np.ndarray] = []
        for block in _refined_blocks(texts, keyfn):
            if len(block) <= 30:  # all pairs of small blocks are scored in one cpdist call
                small.append(_pairs_within(block))
                continue
            for part in _split(block):
                sub = texts[part].tolist()
                sim = process.cdist(sub, sub, scorer=scorer, score_cutoff=85, workers=1)
                a, b = np.nonzero(np.triu(sim, k=1))
                if len(a):
                    found.append(np.column_stack([part[a], part[b]]))
        if small:
            cand = np.vstack(small)
            sim = process.cpdist(texts[cand[:, 0]].tolist(), texts[cand[:, 1]].tolist(),
                                 scorer=scorer, score_cutoff=85, workers=1)  # fmt: skip
            found.append(cand[sim >= 85])
    found = [f for f in found if len(f)]
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.sort(np.vstack(found).astype(np.int64), axis=1)
    return np.unique(pairs, axis=0)


def _split(block: np.ndarray) -> list[np.ndarray]:
    return [block[i : i + _MAX_BLOCK] for i in range(0, len(block), _MAX_BLOCK)]


def _field_scores(values: pd.Series, a: np.ndarray, b: np.ndarray, scorer, min_len: int = 1):
    """Element-wise similarity of values[a] and values[b]; NaN where either side is empty."""
    from rapidfuzz import process

    left = np.asarray(values, dtype=object)[a]
    right = np.asarray(values, dtype=object)[b]
    scores = process.cpdist(left.tolist(), right.tolist(), scorer=scorer, workers=1)
    scores = scores.astype(float)
    usable = (pd.Series(left).str.len().to_numpy() >= min_len) & (
        pd.Series(right).str.len().to_numpy() >= min_len
    )
    scores[~usable] = np.nan
    return scores, usable & (left == right)


def _score_pairs(frame: pd.DataFrame, pairs: np.ndarray, threshold: float) -> pd.DataFrame:
    from rapidfuzz import fuzz

    a, b = pairs[:, 0], pairs[:, 1]
    local = frame["_e"].map(lambda e: e.partition("@")[0] if e else "")
    name, _ = _field_scores(frame["_n"], a, b, fuzz.token_sort_ratio)
    email, _ = _field_scores(local, a, b, fuzz.ratio)
    _, same_email = _field_scores(frame["_e"], a, b, fuzz.ratio)
    phone, same_phone = _field_scores(frame["_p"], a, b, fuzz.ratio, min_len=6)
    stack = np.vstack([name, email, phone])
    compared = ~np.isnan(stack)
    fields = compared.sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(fields > 0, np.nansum(stack, axis=0) / np.maximum(fields, 1), np.nan)
        lowest = np.where(compared, stack, 100.0).min(axis=0)
    exact_only = (same_email | same_phone) & (fields == 1)
    keep = ((fields >= 2) & (lowest >= threshold)) | exact_only
    if not keep.any():
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    score = mean
    rows = []
    labels = ("name", "email", "phone")
    for k in np.flatnonzero(keep):
        matched = ", ".join(
            lab for lab, s in zip(labels, stack[:, k], strict=True) if s >= threshold
        )
        kept, drop = _keeper(frame, int(a[k]), int(b[k]))
        rows.append({
            "customer_id": frame.at[drop, "customer_id"], "duplicate_of": frame.at[kept, "customer_id"],
            "score": round(float(score[k]), 1), "matched_on": matched,
            "name": frame.at[drop, "name"], "other_name": frame.at[kept, "name"],
            "email": frame.at[drop, "email"], "other_email": frame.at[kept, "email"],
            "phone": frame.at[drop, "phone"], "other_phone": frame.at[kept, "phone"],
            "suggestion": (f"merge {frame.at[drop, 'customer_id']} into "
                           f"{frame.at[kept, 'customer_id']}"),
        })  # fmt: skip
    result = pd.DataFrame(rows, columns=_PAIR_COLUMNS)
    return result.sort_values(["score", "duplicate_of", "customer_id"],
                              ascending=[False, True, True]).reset_index(drop=True)  # fmt: skip


def _keeper(frame: pd.DataFrame, a: int, b: int) -> tuple[int, int]:
    """(kept, merged): more orders, then earlier signup, then the smaller id is kept."""

    def key(i):
        signup = frame.at[i, "signup_ts"]
        signup = pd.Timestamp.max if signup is None or pd.isna(signup) else pd.Timestamp(signup)
        return (-int(frame.at[i, "orders"]), signup, str(frame.at[i, "customer_id"]))

    return (a, b) if key(a) <= key(b) else (b, a)
