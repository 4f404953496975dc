"""Benchmark: churn features and scoring for 1M customers.

    .venv/bin/python -m bench.bench_churn                   # 1M customers
    .venv/bin/python -m bench.bench_churn --customers 200K  # quicker
    .venv/bin/python -m bench.bench_churn --train           # also fit_churn end to end

One synthetic dataset is generated inside DuckDB (vectorised SQL over ``range``): customers with
a first purchase day, a purchase rate and a drop-out day; about 7 purchases, 10 visits/logins and
0.3 feedback rows per customer over two years. Each step then runs in a fresh Python subprocess,
so time and peak RSS (``ru_maxrss``) belong to that step alone:

- ``features``: ``store.connect`` + ``point_in_time_features`` at the last day (every SQL feature
  and P(alive) from the BG/NBD purchase model);
- ``score``: a model trained on 50,000 customers (features 60 days earlier, churn = no purchase
  in the next 60 days; not timed) scores all of them:
  ``predict_proba`` and the per-customer reasons (one extra prediction per feature, then the
  top-3 sentences), timed separately;
- ``train`` (``--train``): ``fit_churn`` end to end (features at three cutoffs, labels, both
  models, permutation importance, refit), what the page's progress bar covers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_GENERATE = """
create table c as
select i as n,
       'C' || i as customer_id,
       cast(floor(random() * 600) as integer) as first_day,
       0.004 + random() * 0.03 as rate,                     -- purchases per day
       cast(floor(-ln(1 - random()) * 500) as integer) as life  -- days until drop-out
from range($n) t(i);

create table transactions as
select c.customer_id,
       c.customer_id || '-' || k as order_id,
       timestamp '2023-01-01' + to_days(d) + to_seconds(cast(floor(random() * 86400) as bigint))
           as order_ts,
       round(exp(3.5 + 0.8 * sqrt(-2 * ln(1 - random())) * cos(6.283185 * random())), 2)
           * case when random() < 0.02 then -1 else 1 end as amount,
       1.0 as quantity, null::varchar as product,
       ['shoes', 'bags', 'tops', 'home'][1 + cast(floor(random() * 4) as integer)] as category,
       ['web', 'app', 'store'][1 + cast(floor(random() * 3) as integer)] as channel,
       case when random() < 0.2 then 5.0 else 0.0 end as discount
from (
    select c.*, k,
           c.first_day + cast(floor(random() * least(730 - c.first_day, c.life + 1)) as integer) as d
    from c, range(cast(1 + floor(c.rate * least(730 - c.first_day, c.life + 1)) as bigint)) r(k)
) c;

create table events as
select c.customer_id,
       case when random() < 0.5 then 'visit' else 'login' end as event_name,
       timestamp '2023-01-01'
           + to_days(c.first_day + cast(floor(random() * least(730 - c.first_day, c.life + 30)) as integer))
           as event_ts,
       'app' as channel
from c, range(cast(1 + floor(random() * 20) as bigint)) r(k);

create table feedback as
select customer_id,
       timestamp '2023-01-01' + to_days(first_day + cast(floor(random() * (730 - first_day)) as integer))
           as created_ts,
       case when random() < 0.4 then 'complaint' else 'survey' end as kind,
       floor(random() * 11) as score,
       null::varchar as text
from c where random() < 0.3;

create table customers as
select customer_id, timestamp '2023-01-01' + to_days(first_day) as signup_ts,
       'ads' as acquisition_channel, 10.0 as acquisition_cost, 'north' as region,
       null::varchar as name, null::varchar as email, null::varchar as phone,
       'owner-' || (n % 20) as owner
from c;
drop table c;
"""


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def generate(path: Path, customers: int, seed: float = 0.42) -> dict:
    import duckdb

    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    con.execute("select setseed($s)", {"s": seed})
    for statement in _GENERATE.split(";"):
        if statement.strip():
            con.execute(statement, {"n": customers} if "$n" in statement else {})
    counts = {
        t: con.execute(f"select count(*) from {t}").fetchone()[0]
        for t in ("transactions", "events", "feedback", "customers")
    }
    con.close()
    return counts


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu() -> float:
    """CPU seconds of this process, all threads (fairer than wall time on a shared host)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _Timer:
    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), _cpu()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, _cpu() - self.cpu


def _child(step: str, db: str, work: str) -> dict:
    import datetime as dt

    import pandas as pd

    from clm_core import churn, store
    from clm_core.churn_features import churn_labels, point_in_time_features
    from clm_core.summary import as_of_default

    out: dict = {}
    con = store.connect(db)
    cutoff = as_of_default(con) + dt.timedelta(days=1)
    features = Path(work) / "features.parquet"
    if step == "features":
        with _Timer() as tm:
            fs = point_in_time_features(con, cutoff)
        out["seconds"], out["cpu"] = tm.wall, tm.cpu
        out["active_customers"] = len(fs.frame)
        out["n_features"] = len(fs.features)
        out["omitted"] = [o.feature for o in fs.omitted]
        fs.frame.to_parquet(features)
    elif step == "score":
        frame = pd.read_parquet(features)
        names = [c for c in frame.columns if c not in ("customer_id", "main_channel")]
        X = frame[names]
        # a real model: features 60 days earlier, churn = no purchase in the 60 days after
        early = cutoff - dt.timedelta(days=60)
        train = point_in_time_features(con, early).frame.sample(50_000, random_state=0)
        y = churn_labels(con, train["customer_id"], early, 60)
        model = churn.ChurnModel().fit(train[names], y)
        with _Timer() as tm:
            proba = model.predict_proba(X)[:, 1]
        out["predict_seconds"], out["predict_cpu"] = tm.wall, tm.cpu
        with _Timer() as tm:
            reasons = churn._reasons(model, X, "en")
        out["reasons_seconds"], out["reasons_cpu"] = tm.wall, tm.cpu
        out["rows"] = len(proba)
        out["example"] = reasons[int(proba.argmax())]
    else:
        with _Timer() as tm:
            fit = churn.fit_churn(con)
        out["seconds"], out["cpu"] = tm.wall, tm.cpu
        out["n_train"], out["n_test"] = fit.n_train, fit.n_test
        out["roc_auc"] = float(churn.metrics_table(fit).set_index("method").loc[
            "gradient_boosting", "roc_auc"])  # fmt: skip
    con.close()
    out["rss_mib"] = _rss_mib()
    return out


def _measure(step: str, db: Path, work: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_churn", "--child", step, "--db", str(db),
         "--work", str(work)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{step} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", default="1M")
    parser.add_argument("--train", action="store_true", help="also time fit_churn end to end")
    parser.add_argument("--workdir", default=None, help="folder for the temporary dataset")
    parser.add_argument("--child", choices=["features", "score", "train"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.db, args.work)))
        return 0
    n = parse_size(args.customers)
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        db = work / "bench-churn.duckdb"
        t0 = time.perf_counter()
        counts = generate(db, n)
        print(f"generated {counts} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        feats = _measure("features", db, work)
        print(f"  features {feats}", file=sys.stderr)
        score = _measure("score", db, work)
        print(f"  score {score}", file=sys.stderr)
        train = _measure("train", db, work) if args.train else None
        if train:
            print(f"  train {train}", file=sys.stderr)
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}, "
          f"Python {sys.version.split()[0]}")  # fmt: skip
    print(f"data: {n:,} customers, {counts['transactions']:,} transactions, "
          f"{counts['events']:,} events, {counts['feedback']:,} feedback rows")  # fmt: skip
    print("| step | rows | wall s | CPU s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|")
    print(f"| features ({feats['n_features']}, SQL + P(alive)) | {feats['active_customers']:,} "
          f"| {feats['seconds']:.1f} | {feats['cpu']:.1f} | {feats['rss_mib']:.0f} |")  # fmt: skip
    print(f"| predict_proba | {score['rows']:,} | {score['predict_seconds']:.1f} "
          f"| {score['predict_cpu']:.1f} | {score['rss_mib']:.0f} |")  # fmt: skip
    print(f"| reasons (top 3, English) | {score['rows']:,} | {score['reasons_seconds']:.1f} "
          f"| {score['reasons_cpu']:.1f} | (same process) |")  # fmt: skip
    if train:
        print(f"| fit_churn end to end | {train['n_train']:,} train / {train['n_test']:,} test "
              f"| {train['seconds']:.1f} | {train['cpu']:.1f} | {train['rss_mib']:.0f} |")  # fmt: skip
    print(f"example reasons of the riskiest customer: {score['example']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
