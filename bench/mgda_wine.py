"""MGDA-UB on Wine: how much of the weight the binary column takes, and what becomes of the
narrow positive column col7 -- the README's account of why MGDA-UB fails there.

    python bench/mgda_wine.py [--seeds 0 1 2 3 4] [--epochs 50]

The runs of the README's comparison (``python -m core compare --data sample_data/Wine
--model vae --epochs 50``; default settings otherwise): VAE, batch 128, 50 epochs. Per
seed it prints the number of steps, the binary column's share of MGDA-UB's weights
(w_binary / sum w, at the decoder's last shared layer) averaged over the steps, the
fraction of steps where that share is at least 90 %, and col7's test error (RMSE divided
by col7's range on the test split, printed beside it: "9x its range" is an error of 9);
then the medians over the seeds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from core.io import load_table
from core.trainer import TrainConfig, Trainer

WINE = "sample_data/Wine"
BINARY, NARROW = "col12", "col7"


def run(seed: int, epochs: int) -> dict[str, float]:
    table = load_table(WINE)
    trainer = Trainer(table.data, table.schema, TrainConfig(model="vae", method="mgda-ub", seed=seed))
    names = [column.name for column in trainer.features]
    binary = names.index(BINARY)
    shares = []
    for _ in range(epochs * trainer.steps_per_epoch):
        weights = trainer.step().diagnostics.weights
        shares.append(weights[binary] / weights.sum())
    scores = {score.name: score for score in trainer.evaluate("test").scores}
    narrow = table.data[NARROW].iloc[trainer.splits["test"]].dropna()
    share = np.asarray(shares)
    return {
        "steps": float(len(share)),
        f"{NARROW} range": float(narrow.max() - narrow.min()),
        "mean share": float(share.mean()),
        "steps at >= 90 %": float((share >= 0.9).mean()),
        f"{NARROW} error / range": float(scores[NARROW].error),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=50)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    results = []
    column = load_table(WINE).data[NARROW]
    print(
        f"MGDA-UB on Wine, VAE, {args.epochs} epochs; the binary column is {BINARY}; "
        f"{NARROW}'s range over the whole table {column.max() - column.min():.3g}"
    )
    for seed in args.seeds:
        result = run(seed, args.epochs)
        results.append(result)
        print(
            f"seed {seed}: {result['steps']:.0f} steps, {BINARY}'s mean share {result['mean share']:.1%}, "
            f"share >= 90 % on {result['steps at >= 90 %']:.1%} of steps, "
            f"{NARROW} error {result[f'{NARROW} error / range']:.2f}x its test-split range "
            f"({result[f'{NARROW} range']:.3g})",
            flush=True,
        )
    medians = {key: float(np.median([r[key] for r in results])) for key in results[0]}
    print(
        f"median over {len(results)} seeds: mean share {medians['mean share']:.1%}, "
        f"share >= 90 % on {medians['steps at >= 90 %']:.1%} of steps, "
        f"{NARROW} error {medians[f'{NARROW} error / range']:.2f}x its range"
    )
    print(f"run time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
