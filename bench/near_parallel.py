"""Each weighting method as two column gradients become parallel, ours beside TorchJD 0.18's.

    python bench/near_parallel.py [--systems 20] [--seed 0] > docs/results/near_parallel.md

Systems: K = 3 to 6 Gaussian rows in d = K+1 to 15 dimensions (float64); one row is
replaced by a multiple (0.5 to 2; positive in the first table, negative in the second) of
another plus a fixed random offset of relative size ``noise``. For each method and noise
the table gives, over all systems, the smallest cosine between the direction and the
direction at noise 0 (the exact multiple) and the length ratio |d(noise)| / |d(0)|
farthest from 1. Continuity means cosine 1 and ratio 1 as the noise falls; a jump shows as
a drop of the cosine or a ratio far from 1 at some noise. TorchJD is compared with its own
result at noise 0. Prints a markdown document.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torchjd.aggregation as tjd

from core.mtl import make_method
from core.mtl.linalg import DEPENDENT_BELOW, INDEPENDENT_ABOVE

NOISES = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)


def _torchjd_imtlg(grads: torch.Tensor) -> torch.Tensor:
    # TorchJD normalises by the sum of the weights, we by its absolute value (sign convention).
    gramian = grads @ grads.T
    return torch.sign((torch.linalg.pinv(gramian) @ gramian.diagonal().sqrt()).sum()) * tjd.IMTLG()(grads)


# Weighting methods with a TorchJD counterpart; the others are deterministic functions of the
# norms or of the losses (nsgd, gradnorm's first step, dwa, uncertainty) or random (rlw).
TORCHJD: dict[str, Callable[[torch.Tensor], torch.Tensor] | None] = {
    "none": lambda g: tjd.Sum()(g),
    "imtl-g": _torchjd_imtlg,
    "mgda-ub": lambda g: tjd.MGDA(epsilon=1e-5, max_iters=500)(g),
    "aligned-mtl": lambda g: tjd.AlignedMTL()(g),
    "upgrad": lambda g: tjd.UPGrad()(g),
    "cagrad": lambda g: tjd.CAGrad(c=0.4)(g),
    "nash-mtl": lambda g: tjd.NashMTL(n_tasks=len(g), max_norm=0.0)(g),
    "nsgd": None,
    "gradnorm": None,
    "dwa": None,
    "uncertainty": None,
}


def systems(count: int, seed: int, sign: float) -> list[tuple[np.ndarray, int, int, float, np.ndarray]]:
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(count):
        k = int(rng.integers(3, 7))
        d = int(rng.integers(k + 1, 16))
        source, target = (int(i) for i in rng.choice(k, size=2, replace=False))
        offset = rng.standard_normal(d)
        multiple = sign * rng.uniform(0.5, 2.0)
        result.append((rng.standard_normal((k, d)), source, target, multiple, offset / np.linalg.norm(offset)))
    return result


def at(system: tuple[np.ndarray, int, int, float, np.ndarray], noise: float) -> torch.Tensor:
    rows, source, target, multiple, offset = system
    rows = rows.copy()
    rows[target] = multiple * rows[source] + noise * abs(multiple) * np.linalg.norm(rows[source]) * offset
    return torch.from_numpy(rows)


def ours(spec: str) -> Callable[[torch.Tensor], torch.Tensor]:
    def direction(grads: torch.Tensor) -> torch.Tensor:
        method = make_method(spec, generator=torch.Generator().manual_seed(0))
        return method.combine(grads, torch.ones(len(grads), dtype=grads.dtype)).direction

    return direction


def behaviour(combine: Callable[[torch.Tensor], torch.Tensor], cases: list) -> list[str]:
    """Per noise, a cell: the smallest cosine to the noise-0 direction and the length ratio
    farthest from 1, over the systems whose noise-0 direction is not 0; for those where it
    is 0 (a zero step, e.g. MGDA-UB's for opposite columns), the largest length relative to
    the rows."""
    limits = [combine(at(system, 0.0)) for system in cases]
    cells = []
    for noise in NOISES:
        cosines, ratios, from_zero = [], [], []
        for system, limit in zip(cases, limits, strict=True):
            direction, scale = combine(at(system, noise)), at(system, 0.0).norm(dim=1).max().item()
            size, limit_size = direction.norm().item(), limit.norm().item()
            if limit_size <= 1e-12 * scale:
                from_zero.append(size / scale)
            elif size == 0:
                cosines.append(0.0)
                ratios.append(0.0)
            else:
                cosines.append(float(direction @ limit) / (size * limit_size))
                ratios.append(size / limit_size)
        parts = []
        if cosines:
            ratio = max(ratios, key=lambda r: abs(math.log(r)) if r > 0 else math.inf)
            parts.append(f"{min(cosines):.3f} · {_number(ratio)}x")
        if from_zero:
            parts.append(f"0 → {_number(max(from_zero))}")
        cells.append("; ".join(parts))
    return cells


def _number(value: float) -> str:
    return f"{value:.2g}" if 1e-2 <= value <= 1e2 else f"{value:.0e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # cvxpy's notes on its solvers; our capped solvers are counted below
    started = time.perf_counter()
    header = "| method | " + " | ".join(f"{noise:.0e}" for noise in NOISES) + " |"
    lines = [
        "# Weighting methods as two column gradients become parallel",
        "",
        f"`python bench/near_parallel.py --systems {args.systems} --seed {args.seed}`: {args.systems} systems of",
        "K = 3 to 6 Gaussian rows, one replaced by a multiple of another plus an offset of relative size",
        "*noise*. Each cell: the smallest cosine, over the systems, between the direction at that noise and the",
        "direction for the exact multiple (noise 0), then the ratio of their lengths farthest from 1; where the",
        "noise-0 direction is 0, `0 → x` gives the largest length relative to the rows. Continuity: 1.000 · 1x",
        "all along. TorchJD 0.18 with its defaults (CAGrad c = 0.4; Nash-MTL without its norm clipping;",
        "IMTL-G up to its sign convention), against its own noise-0 result. Ours treats a difference below",
        f"{DEPENDENT_BELOW:g} of the rows as none and one above {INDEPENDENT_ABOVE:g} exactly, with a smooth step",
        "between (core/mtl/linalg.py), so 1e-2 sits in that step.",
    ]
    for title, sign in (("A positive multiple (a near copy)", 1.0), ("A negative multiple (nearly opposite)", -1.0)):
        cases = systems(args.systems, args.seed, sign)
        lines += ["", f"## {title}", "", header, "|---|" + "---|" * len(NOISES)]
        for spec, reference in TORCHJD.items():
            lines.append(f"| {spec} (ours) | " + " | ".join(behaviour(ours(spec), cases)) + " |")
            if reference is not None:
                lines.append(f"| {spec} (TorchJD) | " + " | ".join(behaviour(reference, cases)) + " |")
    lines += ["", f"Run time: {time.perf_counter() - started:.0f} s."]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
