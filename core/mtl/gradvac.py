"""GradVac (Wang et al., "Gradient Vaccine", ICLR 2021): like PCGrad, each column gradient
visits the others in random order, but it is corrected towards a target cosine with g_j,
an exponential moving average phi_ij of the cosines seen so far (decay ``beta``, 0.01 in
the paper), rather than only when the cosine is negative. Where the cosine phi falls
below its target phi_hat,

    g_i' += ||g_i'|| (phi_hat sqrt(1 - phi^2) - phi sqrt(1 - phi_hat^2))
            / (||g_j|| sqrt(1 - phi_hat^2)) g_j,

which brings the cosine to exactly phi_hat. As in PCGrad the walk runs on the Gramian
with a coefficient matrix, all rows at once; the weights are exact. State: the K x K
targets, starting at 0 (so the first call is PCGrad).

Nearly dependent and nearly zero rows. No solve; cosines are continuous in the rows, so
near copies and nearly opposite rows change the result continuously. Like PCGrad's
projections, a cosine is scale-free: a nearly zero row still pulls others towards its
target cosine until it is exactly zero (then it is skipped).
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import PROJECTION, Method, check_task_count
from core.mtl.combination import Combination
from core.mtl.options import option_float
from core.mtl.orders import random_orders
from core.mtl.system import GradientSystem


class GradVac(Method):
    name = "gradvac"
    description = "GradVac: pull each pair's cosine up to its running average, in random order"
    kind = PROJECTION

    def __init__(self, generator: torch.Generator, beta: float = 0.01):
        self.generator = generator
        self.beta = option_float(self.name, "beta", beta, low=0.0, high=1.0)
        self.target_cosines: Tensor | None = None

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        k = system.n_tasks
        check_task_count(self, None if self.target_cosines is None else len(self.target_cosines), k)
        if self.target_cosines is None:
            self.target_cosines = torch.zeros(k, k, dtype=torch.float64)
        gramian = system.gramian.cpu()
        orders = random_orders(k, self.generator)
        norms = gramian.diagonal().clamp_min(0).sqrt()
        active = system.active.cpu()
        coefficients = torch.eye(k, dtype=torch.float64)
        inner = gramian.clone()  # inner[i, j] = g_i' . g_j
        rows = torch.arange(k)
        for position in range(k - 1):
            others = orders[:, position]
            own_norms = (inner * coefficients).sum(dim=1).clamp_min(0).sqrt()  # ||g_i'||
            scale = own_norms * norms[others]
            cosines = torch.where(scale > 0, inner[rows, others] / scale, 0.0)
            targets = self.target_cosines[rows, others]
            target_sine = (1 - targets**2).clamp_min(0).sqrt()
            sine = (1 - cosines**2).clamp_min(0).sqrt()
            lagging = (cosines < targets) & active[others] & (target_sine > 0)
            shift = torch.where(
                lagging, own_norms * (targets * sine - cosines * target_sine) / (norms[others] * target_sine), 0.0
            )
            coefficients[rows, others] += shift
            inner += shift[:, None] * gramian[others]
            self.target_cosines[rows, others] = (1 - self.beta) * targets + self.beta * cosines
        return system.combination(coefficients.sum(dim=0))

    def state_dict(self) -> dict:
        return {} if self.target_cosines is None else {"target_cosines": self.target_cosines.clone()}

    def load_state_dict(self, state: dict) -> None:
        targets = state.get("target_cosines")
        self.target_cosines = None if targets is None else targets.clone().to(torch.float64)
