"""Random visiting orders for the methods that walk over the other columns (PCGrad, GradVac)."""

from __future__ import annotations

import torch
from torch import Tensor


def random_orders(n_tasks: int, generator: torch.Generator) -> Tensor:
    """(K, K-1) long on the CPU: row i is a uniformly random order of the columns other than i.

    Sorting i.i.d. uniform keys gives a uniform permutation; column i gets a key above 1,
    so it sorts last and is cut off.
    """
    keys = torch.rand(n_tasks, n_tasks, generator=generator, dtype=torch.float64)
    keys.diagonal().fill_(2.0)
    return keys.argsort(dim=1)[:, : n_tasks - 1]
