"""The lesson's claim, seed by seed: plain training overlooks region (drowned out, not
fought), the fix learns it, and the visitors/region conflict appears, then eases.

    python bench/lesson_seeds.py [--seeds 8] [--method imtl-g]

Prints per seed: region's error after plain training, the error of always guessing its
most common class (the baseline), region's error after the fix, each error / baseline,
visitors' gradient norm over region's at the last plain step, and the 10-step means of the
visitors/region cosine (plain at the end; the fix at its lowest and at the end).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from core.lesson import LESSON_METHOD, LESSON_METHODS, LESSON_TARGET, PLAIN, LessonRun

WINDOW = 10


def windowed(values: np.ndarray) -> np.ndarray:
    return np.convolve(values, np.ones(WINDOW) / WINDOW, mode="valid")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--method", default=LESSON_METHOD, choices=LESSON_METHODS)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(
        f"{'seed':>4} {'plain err':>9} {'baseline':>8} {'fix err':>7} {'plain err/base':>14} {'fix err/base':>12} "
        f"{'norm ratio':>10} "
        f"{'plain cos end':>13} {'fix cos min':>11} {'fix cos end':>11} {'others overlooked':>17} {'s':>5}"
    )
    for seed in range(args.seeds):
        started = time.perf_counter()
        run = LessonRun(seed)
        run.run_to_end(PLAIN)
        run.run_to_end(args.method)
        k = run.names.index(LESSON_TARGET)
        plain, fixed = run.evaluations[PLAIN].scores[k], run.evaluations[args.method].scores[k]
        norms = run.latest[PLAIN].diagnostics.norms
        plain_cos = windowed(run.pair_cosines(PLAIN, "visitors", LESSON_TARGET))
        fix_cos = windowed(run.pair_cosines(args.method, "visitors", LESSON_TARGET))
        others = [s.name for s in run.evaluations[args.method].scores if s.overlooked and s.name != LESSON_TARGET]
        print(
            f"{seed:>4} {plain.error:>9.3f} {plain.baseline_error:>8.3f} {fixed.error:>7.3f} "
            f"{plain.error / plain.baseline_error:>14.2f} {fixed.error / fixed.baseline_error:>12.2f} "
            f"{norms.max() / norms[k]:>10.0f} {plain_cos[-1]:>+13.2f} {fix_cos.min():>+11.2f} {fix_cos[-1]:>+11.2f} "
            f"{', '.join(others) or '-':>17} {time.perf_counter() - started:>5.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
