"""How many threads a training step uses, set in one place.

The models are small: one intra-op thread per step is as fast as several, it leaves the
other cores to other runs and sessions, and a run's numbers do not depend on the machine's
core count (torch's reductions can round differently with another thread count)."""

from __future__ import annotations

import torch

TRAINING_THREADS = 1


def use_training_threads(n: int = TRAINING_THREADS) -> None:
    torch.set_num_threads(n)
