"""Time of one combine() per method at K = 12, 50, 200 columns and d = 6400 (batch 128 x 50).

The gradients are float32, like the trainer's: Gaussian rows plus a shared component with
random signs (so columns conflict) and log-normal row scales (so norms differ).
Usage, from the repository root: python3 -m bench.bench_mtl [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from core.mtl import METHODS, make_method

SIZES = (12, 50, 200)
DIMENSION = 6400


def gradients(k: int, generator: torch.Generator) -> torch.Tensor:
    rows = torch.randn(k, DIMENSION, generator=generator)
    shared = torch.randn(1, DIMENSION, generator=generator)
    rows += 2 * torch.randn(k, 1, generator=generator) * shared
    return rows * torch.randn(k, 1, generator=generator).exp()


def seconds_per_combine(spec: str, grads: torch.Tensor, losses: torch.Tensor, repeats: int) -> float:
    method = make_method(spec, generator=torch.Generator().manual_seed(0))
    method.combine(grads, losses)  # first call: lazy state, warm caches
    started = time.perf_counter()
    for _ in range(repeats):
        method.combine(grads, losses)
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    data = {k: (gradients(k, generator), torch.randn(k, generator=generator)) for k in SIZES}
    specs = [*METHODS, "imtl-g+pcgrad", "gradnorm+graddrop"]
    print(f"{'method':<20}" + "".join(f"{f'K={k} (ms)':>14}" for k in SIZES))
    for spec in specs:
        times = [1000 * seconds_per_combine(spec, *data[k], args.repeats) for k in SIZES]
        print(f"{spec:<20}" + "".join(f"{t:>14.2f}" for t in times))


if __name__ == "__main__":
    main()
