"""How many threads a training step uses, set in one place.

The models are small: one intra-op thread per step is as fast as several, it leaves the
other cores to other runs and sessions, and a run's numbers do not depend on the machine's
core count (torch's reductions can round differently with another thread count). So the
same configuration and seed give the same numbers from every entry point, each of which
applies this rule once at its start: the CLI (``core.cli.main``: train, compare's driver,
sample, impute), the dashboard's server and its training workers (``core.workers.worker``),
and the Ray engine's tasks (one CPU, so one thread, each). tests/core/test_determinism.py
checks that train, compare, a dashboard worker and a grid trial agree to the last digit."""

from __future__ import annotations

import torch

TRAINING_THREADS = 1


def use_training_threads(n: int = TRAINING_THREADS) -> None:
    torch.set_num_threads(n)
