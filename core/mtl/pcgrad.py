"""PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020): each column
gradient g_i visits the others in a random order and, wherever it conflicts with g_j
(g_i' . g_j < 0), is projected onto the normal plane of g_j; the results are summed.

Every projected gradient stays a combination of the original rows, g_i' = C[i] @ G, so the
walk runs on the Gramian with a K x K coefficient matrix (as TorchJD does). All rows walk
at once: at position p, row i looks at its own p-th column j_i, and the K updates touch
distinct entries (i, j_i). That is K-1 vectorised steps of O(K^2), not a K^2 Python loop.
The weights are the exact coefficients: C summed over rows.

Nearly dependent and nearly zero rows. No solve: a near copy changes nothing (no
conflict), and a nearly opposite row is projected out continuously. A projection onto the
normal plane of g_j is scale-free in g_j, so a nearly zero conflicting row still removes
its direction until it is exactly zero (then it constrains nothing): a jump at 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import PROJECTION, Method
from core.mtl.combination import Combination
from core.mtl.orders import random_orders
from core.mtl.system import GradientSystem


class PCGrad(Method):
    name = "pcgrad"
    description = "PCGrad: project each column gradient off the ones it conflicts with, in random order"
    kind = PROJECTION

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        gramian = system.gramian.cpu()
        k = system.n_tasks
        orders = random_orders(k, self.generator)
        active = system.active.cpu()
        coefficients = torch.eye(k, dtype=torch.float64)
        rows = torch.arange(k)
        for position in range(k - 1):
            others = orders[:, position]
            # (C[i] @ M)[j_i] = g_i' . g_j, using the symmetry of M
            inner = (coefficients * gramian[others]).sum(dim=1)
            conflicting = (inner < 0) & active[others]
            shift = torch.where(conflicting, inner / gramian[others, others], 0.0)
            coefficients[rows, others] -= shift
        return system.combination(coefficients.sum(dim=0))
