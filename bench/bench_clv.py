"""Benchmark: CLV fit + score (``clm_core.clv``) against lifetimes' plain per-customer fit + score.

    .venv/bin/python -m bench.bench_clv                       # 100k and 1M customers
    .venv/bin/python -m bench.bench_clv --sizes 100k --lifetimes-timeout 600
    .venv/bin/python -m bench.bench_clv --online-retail ../shared/datasets/online_retail/online-retail.csv.gz

For each size one synthetic customer summary is generated (vectorised numpy): first purchases
spread over 730 days before the as-of date, purchases as a BG/NBD process with CDNow's
parameters (r 0.243, alpha 4.414 per week, a 0.793, b 2.426) at day resolution, average order
values from a Gamma-Gamma process (p 6.25, q 3.74, v 15.45) in cents; period W. Each contender
then runs in a fresh Python subprocess, so time and peak RSS (``ru_maxrss``) are its own:

- ``ours``: ``PurchaseModel("bgnbd")`` + ``SpendModel`` fitted on distinct patterns with
  weights, scored per pattern, CLV over 52 weeks at 1%/week (what ``predict_clv`` does after
  the SQL summary);
- ``ours-auto``: the same with the auto model choice (BG/NBD and Modified BG/NBD by BIC;
  Pareto/NBD is skipped above its pattern limit);
- ``lifetimes``: ``BetaGeoFitter`` and ``GammaGammaFitter`` fitted customer by customer (on a
  ConvergenceError retried with a 100x looser tolerance, like ``ours``), then
  ``conditional_probability_alive``, ``conditional_expected_number_of_purchases_up_to_time`` and
  ``customer_lifetime_value(time=52, discount_rate=0.01, freq="M")`` (one step per week).

Reading the summary parquet is not timed. The parent compares the predictions of ``ours`` and
``lifetimes`` (relative difference) so the speed-up compares programs that agree. The lifetimes
run is killed after ``--lifetimes-timeout`` seconds and reported as not finished.

``--online-retail FILE`` measures the whole CLI instead, on real data (issue 20): the UCI Online
Retail lines with a customer (amount = Quantity x UnitPrice; cancellations are negative) are
written to a dataset in a temporary folder, then ``python -m clm_core clv --db X --model auto
--out c.csv --json`` runs under ``/usr/bin/time -v``: wall time and peak RSS of the process.
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

from bench.common import cpu_seconds, emit, run_child  # noqa: E402

HORIZON, RATE = 52, 0.01
PREDICTIONS = ["p_alive", "expected_purchases", "clv"]


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def generate(n: int, seed: int = 0, days: int = 730):
    """A BG/NBD + Gamma-Gamma customer summary at day resolution, in weeks."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    first = rng.integers(0, days, n)
    age = (days - first).astype(float)  # days from first purchase to the as-of date
    lam = rng.gamma(r, 1 / alpha, n) / 7.0  # purchases per day
    p = rng.beta(a, b, n)
    t = np.zeros(n)
    last_day = np.zeros(n)
    freq = np.zeros(n, dtype=np.int64)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        t[idx] += rng.exponential(1 / np.maximum(lam[idx], 1e-12))
        inside = t[idx] <= age[idx]
        alive[idx[~inside]] = False
        idx = idx[inside]
        day = np.floor(t[idx])
        freq[idx[day > last_day[idx]]] += 1  # a new purchase day
        last_day[idx] = day
        alive[idx[rng.random(idx.size) < p[idx]]] = False
    pq, qq, vq = 6.25, 3.74, 15.45
    nu = rng.gamma(qq, 1 / vq, n)
    x = np.maximum(freq, 1)
    m = np.round(rng.gamma(pq * x, 1 / (nu * x)), 2)
    m = np.where(freq > 0, np.maximum(m, 0.01), 0.0)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n).astype(str),
            "frequency": freq.astype(float),
            "recency": last_day / 7.0,
            "T": age / 7.0,
            "monetary_value": m,
        }
    )


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _child(kind: str, data: str, out: str) -> None:
    """Run one contender; print a JSON line with seconds, CPU seconds and peak RSS (MiB)."""
    import numpy as np
    import pandas as pd

    df = pd.read_parquet(data)
    if kind.startswith("ours"):
        from clm_core.clv import PurchaseModel, SpendModel, score_customers, select_purchase_model

    else:
        from lifetimes import BetaGeoFitter, GammaGammaFitter
        from lifetimes.utils import ConvergenceError
    rss_before = _rss_mib()
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    facts: dict = {}
    if kind.startswith("ours"):
        if kind == "ours":
            pm = PurchaseModel("bgnbd").fit(df)
        else:
            pm, _, _ = select_purchase_model(df, model="auto")
        spend = SpendModel().fit(df)
        fit_s = time.perf_counter() - t0
        pred = score_customers(pm, spend, df, horizon=HORIZON, discount_rate=RATE)[PREDICTIONS]
        facts = {"model": pm.model_name_, "params": pm.params_, "patterns": pm.n_patterns_,
                 "notes": [str(n) for n in (*pm.notes_, *spend.notes_)]}  # fmt: skip
    else:
        f, r, T, m = (df[c] for c in ("frequency", "recency", "T", "monetary_value"))
        rep = df[df["frequency"] > 0]
        # On a ConvergenceError retry with a 100x looser tolerance, as clm_core.clv does
        # (lifetimes' BFGS reports "precision loss" at the optimum on large data).
        retried = []
        try:
            bg = BetaGeoFitter().fit(f, r, T)
        except ConvergenceError:
            retried.append("BetaGeoFitter")
            bg = BetaGeoFitter().fit(f, r, T, tol=1e-5)
        try:
            gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"])
        except ConvergenceError:
            retried.append("GammaGammaFitter")
            gg = GammaGammaFitter().fit(rep["frequency"], rep["monetary_value"], tol=1e-5)
        fit_s = time.perf_counter() - t0
        with np.errstate(all="ignore"):
            pred = pd.DataFrame(
                {
                    "p_alive": bg.conditional_probability_alive(f, r, T),
                    "expected_purchases": bg.conditional_expected_number_of_purchases_up_to_time(
                        HORIZON, f, r, T
                    ),
                    "clv": gg.customer_lifetime_value(
                        bg, f, r, T, m, time=HORIZON, discount_rate=RATE, freq="M"
                    ).to_numpy(),
                }
            )
        facts = {"model": "bgnbd", "params": {k: float(v) for k, v in bg.params_.items()},
                 "retried": retried}  # fmt: skip
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    pred.to_parquet(out)
    result = {"seconds": seconds, "fit_seconds": fit_s, "cpu": cpu, "rss_mib": _rss_mib()}
    print(json.dumps({**result, "rss_before_mib": rss_before, **facts}))


def _measure(kind: str, data: Path, out: Path, timeout: float | None = None) -> dict:
    args = ["--child", kind, "--data", str(data), "--out", str(out)]
    try:
        return run_child("bench.bench_clv", args, kind, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}


def _max_relative_difference(a: Path, b: Path) -> dict[str, float]:
    import numpy as np
    import pandas as pd

    x, y = pd.read_parquet(a), pd.read_parquet(b)
    out = {}
    for col in PREDICTIONS:
        u, v = x[col].to_numpy(), y[col].to_numpy()
        out[col] = float(np.max(np.abs(u - v) / np.maximum(np.abs(v), 1e-12)))
    return out


def run(sizes: list[int], workdir: Path, seed: int, timeout: float) -> list[dict]:
    results = []
    for n in sizes:
        t0 = time.perf_counter()
        df = generate(n, seed)
        data = workdir / f"summary-{n}.parquet"
        df.to_parquet(data)
        repeat = int((df["frequency"] > 0).sum())
        print(f"generated {n:,} customers ({repeat:,} repeat) in "
              f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)  # fmt: skip
        row = {"customers": n, "repeat": repeat}
        for kind in ("ours", "ours-auto", "lifetimes"):
            limit = timeout if kind == "lifetimes" else None
            row[kind] = _measure(kind, data, workdir / f"{kind}.parquet", limit)
            shown = row[kind].get("seconds")
            print(f"  {kind}: {shown if shown is None else round(shown, 2)} s", file=sys.stderr)
        if "seconds" in row["lifetimes"]:
            row["difference"] = _max_relative_difference(
                workdir / "ours.parquet", workdir / "lifetimes.parquet"
            )
            ours, theirs = row["ours"]["params"], row["lifetimes"]["params"]
            row["param_difference"] = max(abs(ours[k] / theirs[k] - 1) for k in theirs)
        results.append(row)
    return results


def markdown(results: list[dict]) -> str:
    lines = [
        "| customers | patterns | ours fit+score s (fit) | CPU s | RSS MiB | ours auto s (model) "
        "| lifetimes fit+score s (fit) | CPU s | RSS MiB | speed-up | max rel. diff "
        "p_alive / E[N] / clv | params rel. diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        o, a, t = r["ours"], r["ours-auto"], r["lifetimes"]
        if "seconds" in t:
            theirs = (f"{t['seconds']:.1f} ({t['fit_seconds']:.1f}) | {t['cpu']:.1f} "
                      f"| {t['rss_mib']:.0f} | {t['seconds'] / o['seconds']:.1f}x")  # fmt: skip
            d = r["difference"]
            diff = f"{d['p_alive']:.1e} / {d['expected_purchases']:.1e} / {d['clv']:.1e}"
            pdiff = f"{r['param_difference']:.1e}"
        else:
            theirs = f"not finished in {t['timeout']:.0f} s | - | - | -"
            diff = pdiff = "-"
        lines.append(
            f"| {r['customers']:,} | {o['patterns']:,} | {o['seconds']:.2f} "
            f"({o['fit_seconds']:.2f}) | {o['cpu']:.2f} | {o['rss_mib']:.0f} "
            f"| {a['seconds']:.2f} ({a['model']}) | {theirs} | {diff} | {pdiff} |"
        )
    return "\n".join(lines)


def online_retail(csv_gz: Path, workdir: Path, model: str = "auto") -> dict:
    """The clv CLI on UCI Online Retail, timed by ``/usr/bin/time -v`` in a fresh process."""
    import pandas as pd

    from clm_core import store

    raw = pd.read_csv(csv_gz, dtype={"InvoiceNo": str, "StockCode": str})
    raw = raw[raw["CustomerID"].notna()]
    con = store.from_frames(
        transactions=pd.DataFrame(
            {
                "customer_id": raw["CustomerID"].astype("int64").astype(str),
                "order_id": raw["InvoiceNo"],
                "order_ts": pd.to_datetime(raw["InvoiceDate"], format="%Y-%m-%d %H:%M:%S"),
                "amount": raw["Quantity"] * raw["UnitPrice"],
            }
        )
    )
    db = workdir / "online-retail.duckdb"
    with store.write_dataset(db, fresh=True) as w:
        w.register("tx", con.execute("select * from transactions").df())
        w.execute("create table transactions as select * from tx")
    cmd = [sys.executable, "-m", "clm_core", "clv", "--db", str(db), "--model", model,
           "--out", str(workdir / "c.csv"), "--json"]  # fmt: skip
    timer = Path("/usr/bin/time")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(timer), "-v", *cmd] if timer.exists() else cmd,
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"clv failed:\n{proc.stderr[-3000:]}")
    rss = [ln for ln in proc.stderr.splitlines() if "Maximum resident set size" in ln]
    return {
        "seconds": wall,
        "rss_mib": int(rss[0].split()[-1]) / 1024 if rss else None,
        "facts": json.loads(proc.stdout),
        "notes": [ln[len("note: ") :] for ln in proc.stderr.splitlines() if ln.startswith("note:")],
        "command": " ".join(["python", *cmd[1:]]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1M", help="comma-separated customer counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lifetimes-timeout", type=float, default=1800.0)
    parser.add_argument("--workdir", default=None, help="folder for the temporary files")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument(
        "--online-retail", default=None, help="online-retail.csv.gz: time the CLI on it instead"
    )
    parser.add_argument(
        "--child", choices=["ours", "ours-auto", "lifetimes"], help=argparse.SUPPRESS
    )
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.data, args.out)
        return 0
    if args.online_retail:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            r = online_retail(Path(args.online_retail), Path(tmp))
        facts = r["facts"]
        mib = "-" if r["rss_mib"] is None else f"{r['rss_mib']:.0f}"
        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        print(f"{r['command']}: {r['seconds']:.1f} s wall, peak RSS {mib} MiB, "
              f"{facts['customers']:,} customers, chose {facts['model']}, "
              f"degenerate {facts['degenerate']}")  # fmt: skip
        for note in r["notes"]:
            print(f"  note: {note}")
        return 0
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        results = run(sizes, Path(tmp), args.seed, args.lifetimes_timeout)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(markdown(results))
    for r in results:
        o, t = r["ours"], r["lifetimes"]
        emit("CLV fit + score (BG/NBD + Gamma-Gamma)", f"{r['customers']:,} customers",
             o["seconds"], o["rss_mib"], "lifetimes fit + score", t.get("seconds"),
             t.get("rss_mib"), f"{o['patterns']:,} patterns; auto model "
             f"{r['ours-auto']['seconds']:.2f} s")  # fmt: skip
    for r in results:
        notes = "; ".join(r["ours"].get("notes", [])) or "none"
        retried = ", ".join(r["lifetimes"].get("retried", [])) or "none"
        print(f"{r['customers']:,}: ours notes: {notes}. lifetimes retried: {retried}.")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    bad = [r for r in results if max(r.get("difference", {"x": 0}).values()) > 1e-4]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
