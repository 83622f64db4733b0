"""Uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018): learnable log-variances s_k,
weights exp(-s_k), and s learnt on sum_k exp(-s_k) L_k + s_k, whose minimum is at
exp(-s_k) = 1 / L_k.

That objective needs L_k > 0: with a negative loss (a Gaussian NLL of a well-fitted
column) it has no minimum, s_k runs to -inf and the weight explodes. We use softplus(L_k)
in its place, a smooth positive stand-in equal to L_k for large losses, so every column
has a finite target weight 1 / softplus(L_k). s is learnt by its own Adam (lr 1e-3, as
for GradNorm) from 0; a step uses the weights from before its update. The weights depend
on the losses only: dependent or vanishing gradients change nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.functional import softplus

from core.mtl.adam_vector import AdamVector
from core.mtl.base import Method, check_task_count
from core.mtl.combination import Combination
from core.mtl.options import option_float
from core.mtl.system import GradientSystem


class UncertaintyWeighting(Method):
    name = "uncertainty"
    description = "uncertainty weighting: learnt per-column log-variances (Kendall et al.)"

    def __init__(self, lr: float = 1e-3):
        self.lr = option_float(self.name, "lr", lr, low=0.0, low_open=True)
        self.log_variances: AdamVector | None = None

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        k = system.n_tasks
        check_task_count(self, None if self.log_variances is None else len(self.log_variances.values), k)
        if self.log_variances is None:
            self.log_variances = AdamVector(torch.zeros(k, dtype=torch.float64), self.lr)
        weights = torch.exp(-self.log_variances.values.detach())
        combination = system.combination(weights)
        # d/ds_k of exp(-s_k) softplus(L_k) + s_k
        self.log_variances.step(1 - weights * softplus(losses.cpu().double()))
        return combination

    def state_dict(self) -> dict:
        return {} if self.log_variances is None else {"log_variances": self.log_variances.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.log_variances = AdamVector.from_state_dict(state["log_variances"], self.lr) if state else None
