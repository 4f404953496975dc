"""Benchmark: churn features, training, scoring and reasons at 100K and 1M customers.

    .venv/bin/python -m bench.bench_churn                      # 100K and 1M, one table
    .venv/bin/python -m bench.bench_churn --sizes 20K,100K     # quicker
    .venv/bin/python -m bench.bench_churn --workdir /big/tmp   # where the datasets go

For each size one synthetic dataset is generated inside DuckDB (vectorised SQL over ``range``):
customers with a first purchase day, a purchase rate and a drop-out day; about 6 purchases, 10
visits/logins and 0.3 feedback rows per customer over two years. Each step then runs in a
fresh Python subprocess, so its time and peak RSS (``ru_maxrss``) belong to that step alone:

- ``features``: ``store.connect`` + ``point_in_time_features`` at the scoring date (every SQL
  feature and P(alive) from the BG/NBD purchase model);
- ``fit``: ``fit_churn`` end to end, what the page's progress bar covers: features at three
  cutoffs, labels, gradient boosting and the logistic baseline on a stratified sample of at
  most ``churn.MAX_TRAIN_ROWS`` customers, out-of-time evaluation of every test customer,
  permutation importance, the refit for scoring, and storing the model; the sub-steps are
  timed from its progress callback;
- ``scoring``: the stored model (loading it is not timed) gives every active customer a churn
  probability (``predict_proba``);
- ``reasons``: the top-3 plain-words reasons of every active customer (``churn._reasons``: the
  tree-walk contributions per reason group, then the sentences).

Wall time depends on what else runs on the machine (the load average is printed); CPU seconds
are steadier. The table is markdown, printed to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import cpu_seconds, emit, run_child  # noqa: E402

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


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _rss_mib() -> float:
    """Current resident memory (what the process holds before a step starts)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Timer:
    def __enter__(self):
        self.rss_before = _rss_mib()
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, cpu_seconds() - self.cpu

    def report(self, **extra) -> dict:
        return {"seconds": self.wall, "cpu": self.cpu, "rss_before_mib": self.rss_before,
                "peak_mib": _peak_mib(), **extra}  # fmt: skip


def _child(step: str, db: str) -> dict:
    import datetime as dt

    from clm_core import churn, store
    from clm_core.churn_features import point_in_time_features
    from clm_core.summary import as_of_default

    con = store.connect(db)
    try:
        if step == "features":
            cutoff = as_of_default(con) + dt.timedelta(days=1)
            with _Timer() as tm:
                fs = point_in_time_features(con, cutoff)
            return tm.report(rows=len(fs.frame), n_features=len(fs.features),
                             omitted=[o.feature for o in fs.omitted])  # fmt: skip
        if step == "fit":
            marks: list[tuple[float, str]] = []
            with _Timer() as tm:
                fit = churn.fit_churn(
                    con,
                    force=True,
                    progress=lambda f, msg: marks.append((time.perf_counter(), msg)),
                )
            parts = {msg: round(t1 - t0, 1) for (t0, msg), (t1, _) in pairwise(marks)}
            roc = churn.metrics_table(fit).set_index("method").loc["gradient_boosting", "roc_auc"]
            return tm.report(rows=fit.n_train, n_test=fit.n_test, n_fit_rows=fit.n_fit_rows,
                             roc_auc=float(roc), parts=parts)  # fmt: skip
        fit = churn.fit_churn(con)  # stored by the fit step: loads, not timed
        X = fit.score_frame[list(fit.features)]
        if step == "scoring":
            with _Timer() as tm:
                proba = fit.scorer.predict_proba(X)[:, 1]
            return tm.report(rows=len(proba))
        with _Timer() as tm:
            reasons = churn._reasons(fit.scorer, X, "en")
        riskiest = int(fit.scorer.predict_proba(X.head(20_000))[:, 1].argmax())
        return tm.report(rows=len(reasons), example=reasons[riskiest])
    finally:
        con.close()


def _measure(step: str, db: Path) -> dict:
    return run_child("bench.bench_churn", ["--child", step, "--db", str(db)], step)


STEPS = ("features", "fit", "scoring", "reasons")
LABELS = {
    "features": "features ({n_features}, SQL + P(alive)), at the scoring date",
    "fit": "fit (fit_churn end to end, each model on at most {n_fit_rows:,} rows)",
    "scoring": "scoring (predict_proba, every active customer)",
    "reasons": "reasons (top 3, English, every active customer)",
}


def run_size(n: int, workdir: str | None) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        db = Path(tmp) / "bench-churn.duckdb"
        t0 = time.perf_counter()
        counts = generate(db, n)
        print(f"{n:,}: generated {counts} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        results = {}
        for step in STEPS:
            results[step] = _measure(step, db)
            print(f"  {step} {results[step]}", file=sys.stderr)
    return counts, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100K,1M", help="comma-separated, e.g. 100K,1M")
    parser.add_argument("--workdir", default=None, help="folder for the temporary datasets")
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.db)))
        return 0
    from clm_core import churn

    runs = [(n, *run_size(n, args.workdir)) for n in map(parse_size, args.sizes.split(","))]
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f}, "
          f"Python {sys.version.split()[0]}; training sample cap {churn.MAX_TRAIN_ROWS:,}")  # fmt: skip
    print()
    print("| customers | step | rows | wall s | CPU s | RSS at start MiB | peak RSS MiB |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n, _, res in runs:
        for step in STEPS:
            r = res[step]
            label = LABELS[step].format(**{k: v for k, v in r.items() if k != "rows"}
                                        | {"n_features": res["features"]["n_features"]})  # fmt: skip
            print(f"| {n:,} | {label} | {r['rows']:,} | {r['seconds']:.1f} | {r['cpu']:.1f} "
                  f"| {r['rss_before_mib']:.0f} | {r['peak_mib']:.0f} |")  # fmt: skip
            emit(f"churn {step}", f"{n:,} customers", r["seconds"], r["peak_mib"],
                 "no reference implementation", None, None, label)  # fmt: skip
    print()
    for n, counts, res in runs:
        fit = res["fit"]
        print(f"- {n:,} customers: {counts['transactions']:,} transactions, "
              f"{counts['events']:,} events, {counts['feedback']:,} feedback rows; "
              f"{fit['rows']:,} active at the training cutoff, {fit['n_test']:,} at the test "
              f"cutoff; out-of-time ROC AUC {fit['roc_auc']:.3f}.")  # fmt: skip
        print(f"  fit steps (s): {'; '.join(f'{k}: {v}' for k, v in fit['parts'].items())}.")
        print(f"  riskiest customer's reasons: {res['reasons']['example']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
