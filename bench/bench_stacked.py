"""Run-steps per second: R runs stacked in one StackedTrainer against R separate Trainers.

One torch thread. For each model and each R, the two are measured in interleaved rounds
(stacked, separate, stacked, ...) and the median round is kept, so that load from other
work on the machine falls on both alike; the load averages (as ``uptime`` prints them) are
printed before and after, and the 1-minute one with each result.

    python bench/bench_stacked.py [--data sample_data/Adult] [--rounds 3] [--steps 10] [--runs 1 4 8 16]
                                  [--models vae iwae]  (dreg and hivae too)
                                  [--methods none imtl-g pcgrad gradnorm]  (the runs take them in turn)

The default mix of methods is the issue's; ``--methods nash-mtl cagrad upgrad aligned-mtl``
measures the methods that solve for their weights, batched across their runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.errors import DataError
from core.io import load_table
from core.mtl import make_method
from core.stacked import StackedTrainer
from core.trainer import TrainConfig, Trainer

METHODS = ("none", "imtl-g", "pcgrad", "gradnorm")


def _configs(model: str, runs: int, methods: list[str]) -> list[TrainConfig]:
    # seeds and methods mixed, as a comparison or a grid mixes them
    return [TrainConfig(model=model, seed=r % 4, method=methods[r % len(methods)]) for r in range(runs)]


def _round(model: str, runs: int, steps: int, loaded, methods: list[str]) -> tuple[float, float]:
    """Run-steps per second stacked, then separate, over ``steps`` steps (after one warm-up step)."""
    configs = _configs(model, runs, methods)
    stacked = StackedTrainer(loaded.data, loaded.schema, configs, impute_mask=loaded.impute_mask)
    stacked.step()
    started = time.perf_counter()
    for _ in range(steps):
        stacked.step()
    stacked_rate = runs * steps / (time.perf_counter() - started)
    separate = [Trainer(loaded.data, loaded.schema, c, impute_mask=loaded.impute_mask) for c in configs]
    for t in separate:
        t.step()
    started = time.perf_counter()
    for _ in range(steps):
        for t in separate:
            t.step()
    return stacked_rate, runs * steps / (time.perf_counter() - started)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="sample_data/Adult")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--models", nargs="+", default=["vae", "iwae"], choices=["vae", "iwae", "dreg", "hivae"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), help="the runs take them in turn")
    args = parser.parse_args()
    try:
        for spec in args.methods:
            make_method(spec)
    except DataError as error:
        parser.error(str(error))
    torch.set_num_threads(1)
    loaded = load_table(args.data)
    print(f"{args.data}: {len(loaded.data)} rows, {len(loaded.schema.features)} columns; one torch thread")
    print(f"methods, in turn: {', '.join(args.methods)}; seeds 0-3; load average {_load()}")
    ratio_8 = None
    for model in args.models:
        for runs in args.runs:
            rounds = [_round(model, runs, args.steps, loaded, args.methods) for _ in range(args.rounds)]
            stacked = statistics.median(r[0] for r in rounds)
            separate = statistics.median(r[1] for r in rounds)
            ratio = statistics.median(r[0] / r[1] for r in rounds)
            load = os.getloadavg()[0]
            print(
                f"{model:5s} R={runs:3d}: stacked {stacked:8.1f} run-steps/s, separate {separate:8.1f} run-steps/s, "
                f"{ratio:5.2f}x (load average {load:.2f})"
            )
            if model == "vae" and runs == 8:
                ratio_8 = ratio
    print(f"load average {_load()}")
    if ratio_8 is not None:
        print(f"stacked 8 runs: {ratio_8:.2f}x the throughput of 8 separate runs")


if __name__ == "__main__":
    main()
