"""Trials per hour of the Ray grid engine with 1 and 2 workers, side by side in one run.

    python bench/bench_trials.py --trials 8 --epochs 3

Each worker count gets a fresh local Ray session (its start-up, with one warm-up trial
per worker, is reported apart from the trials' wall time) and runs the same short trials: VAE with IMTL-G on one of
Table 1's tables, seeds 0..trials-1, one torch thread each, as ``python -m core
reproduce`` runs them. Trials per hour = trials / wall time of the batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import replace

from core.io import LoadedTable, load_table
from core.paper_table1 import BUNDLED, dataset_path
from core.ray_engine import RaySession, Task
from core.trial import Trial, run_trial, settings_tuple


def measure(table: LoadedTable, trials: list[Trial], workers: int) -> dict:
    started = time.perf_counter()
    with RaySession(workers=workers) as session:
        ref = session.put(table)
        # One warm-up trial per worker: starting a worker (the code copy, torch's import) is start-up.
        warm_up = [replace(trials[0], seed=1000 + w, epochs=1) for w in range(workers)]
        session.run([Task(t.key, run_trial, (ref, t)) for t in warm_up])
        ready = time.perf_counter()
        finished = session.run([Task(t.key, run_trial, (ref, t)) for t in trials])
        wall = time.perf_counter() - ready
    failed = [f.error for f in finished if f.error is not None]
    if failed:
        raise SystemExit(f"a trial failed: {failed[0]}")
    return {
        "workers": workers,
        "trials": len(trials),
        "start_up": ready - started,
        "wall": wall,
        "per_trial": statistics.median(f.seconds for f in finished),
        "per_hour": len(trials) / wall * 3600,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="Wine", choices=list(BUNDLED))
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--method", default="imtl-g")
    args = ap.parse_args(argv)
    table = load_table(dataset_path(args.dataset))
    settings = settings_tuple({"batch_size": 128, "hidden": 50, "layers": 3, "lr": 1e-3})
    trials = [Trial("vae", args.dataset, args.method, s, args.epochs, False, settings) for s in range(args.trials)]
    rows = [measure(table, trials, workers) for workers in (1, 2)]
    print(
        f"{args.trials} trials of VAE + {args.method} on {args.dataset}, {args.epochs} epochs each; "
        f"{os.cpu_count()} CPUs\n"
    )
    print("| workers | Ray start-up | wall time of the trials | median trial | trials per hour | speed-up |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['workers']} | {row['start_up']:.1f} s | {row['wall']:.1f} s | {row['per_trial']:.2f} s "
            f"| {row['per_hour']:.0f} | {row['per_hour'] / rows[0]['per_hour']:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
