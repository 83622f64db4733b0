"""Cost of a training step: a minimal hand-written step, ``Trainer.step`` plain, and
``Trainer.step`` with IMTL-G and with Aligned-MTL, side by side.

For each table (Adult, and mixed synthetic tables of K = 12, 50 and 200 columns) and each
model (VAE, IWAE, DReG, HI-VAE), in one run, interleaved round by round:

  minimal      the model's step written by hand in one function (``bench/minimal_steps.py``):
               the same layers and likelihood formulas, one loss, backward, Adam
  plain        Trainer.step() with method none
  imtl-g       Trainer.step() with IMTL-G
  aligned-mtl  Trainer.step() with Aligned-MTL

Printed: the minimal step's time, plain / minimal, and each method / plain (medians of the
rounds). All take Adam from the same implementation (the Trainer's). ``--diagnostics read``
reads every Trainer step's gradient diagnostics, as a consumer such as the dashboard does;
by default nothing reads them and no step computes them. The output says which.

``--clock cpu`` times the process's CPU time instead of the wall clock: on a machine that
other work shares, it leaves out the time the process waits for a core.

    python -m bench.bench_step [--tables adult 12 50 200] [--models vae iwae dreg hivae]
        [--rounds 7] [--steps 10] [--threads 1] [--clock wall|cpu] [--diagnostics none|read]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from bench.minimal_steps import MinimalModel
from core.io import load_table
from core.samples import sample_path
from core.schema import Column, ColumnType, Schema
from core.splits import EpochBatches
from core.trainer import TrainConfig, Trainer

TYPES = [
    ColumnType.REAL,
    ColumnType.POSITIVE,
    ColumnType.COUNT,
    ColumnType.CATEGORICAL,
    ColumnType.ORDINAL,
    ColumnType.BINARY,
]
METHODS = ("imtl-g", "aligned-mtl")
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def mixed_table(k: int, n: int = 2048, seed: int = 0) -> tuple[pd.DataFrame, Schema]:
    """K columns cycling through the six types, all driven by a shared 3-dimensional latent."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 3))
    cols, data = [], {}
    for j in range(k):
        t = TYPES[j % len(TYPES)]
        signal = latent @ rng.normal(size=3)
        name = f"{t.value}_{j}"
        if t is ColumnType.REAL:
            data[name] = signal * 5 + rng.normal(size=n)
        elif t is ColumnType.POSITIVE:
            data[name] = np.exp(0.5 * signal + 0.2 * rng.normal(size=n))
        elif t is ColumnType.COUNT:
            data[name] = rng.poisson(np.exp(1 + 0.5 * signal))
        else:
            n_classes = {ColumnType.CATEGORICAL: 5, ColumnType.ORDINAL: 4, ColumnType.BINARY: 2}[t]
            edges = np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1])
            data[name] = np.searchsorted(edges, signal + 0.3 * rng.normal(size=n))
        cats = tuple(range(n_classes)) if t.is_discrete_class else ()
        cols.append(Column(name, t, "benchmark", False, cats))
    return pd.DataFrame(data), Schema(tuple(cols))


def table(name: str) -> tuple[pd.DataFrame, Schema]:
    if name == "adult":
        loaded = load_table(sample_path("Adult"))
        return loaded.data, loaded.schema
    return mixed_table(int(name))


def variants(data: pd.DataFrame, schema: Schema, model: str, read: bool) -> dict[str, Callable[[], object]]:
    """The four steps to time, each on its own model built from the same seed."""
    config = TrainConfig(model=model, batch_size=128)
    reference = Trainer(data, schema, config)
    minimal = MinimalModel(reference)
    batches = EpochBatches(reference.splits["train"], config.batch_size, config.seed)
    noise = torch.Generator().manual_seed(config.seed + 1)
    steps: dict[str, Callable[[], object]] = {"minimal": lambda: minimal.step(batches.next_rows(), noise)}
    for method in ("none", *METHODS):
        trainer = Trainer(data, schema, TrainConfig(model=model, batch_size=128, method=method))
        steps[method] = (lambda t=trainer: t.step().diagnostics) if read else trainer.step
    return steps


def time_per_step(fn: Callable[[], object], steps: int, clock: Callable[[], float]) -> float:
    start = clock()
    for _ in range(steps):
        fn()
    return (clock() - start) / steps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tables", nargs="+", default=["adult", "12", "50", "200"])
    ap.add_argument("--models", nargs="+", default=["vae", "iwae", "dreg", "hivae"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    ap.add_argument("--diagnostics", choices=["none", "read"], default="none")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock, read = CLOCKS[args.clock], args.diagnostics == "read"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch 128, hidden 50 x 3 layers, "
        f"latent K/2, IWAE/DReG 20 samples; {args.clock} clock, median of {args.rounds} interleaved rounds "
        f"x {args.steps} steps; load average {os.getloadavg()[0]:.2f} at the start"
    )
    print(
        "diagnostics of the Trainer steps: "
        + (
            "read after every step (norms, weights, direction cosines; K x K cosines up to 50 columns, "
            "every 10th step above)"
            if read
            else "not read, so not computed"
        )
    )
    print(f"{'table':>6} {'model':>6} {'minimal ms':>11} {'plain/min':>10} {'imtl-g/plain':>13} {'aligned/plain':>14}")
    for name in args.tables:
        data, schema = table(name)
        for model in args.models:
            steps = variants(data, schema, model, read)
            for fn in steps.values():  # warm-up: the first steps pay for allocations
                for _ in range(3):
                    fn()
            times: dict[str, list[float]] = {key: [] for key in steps}
            for _ in range(args.rounds):
                for key, fn in steps.items():
                    times[key].append(time_per_step(fn, args.steps, clock))
            med = {key: statistics.median(t) for key, t in times.items()}
            print(
                f"{name:>6} {model:>6} {med['minimal'] * 1e3:>11.2f} {med['none'] / med['minimal']:>10.2f} "
                f"{med['imtl-g'] / med['none']:>13.2f} {med['aligned-mtl'] / med['none']:>14.2f}",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
