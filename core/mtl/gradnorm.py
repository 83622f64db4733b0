"""GradNorm (Chen et al., ICML 2018), in the paper's variant: learnable weights w_k that pull
each weighted gradient norm w_k ||g_k|| towards mean_norm * r_k^alpha, where r_k is the
column's relative training rate. The original measures it with loss ratios L_k / L_k(0);
the paper uses gradient-norm ratios ||g_k|| / ||g_k(0)||, which also stay meaningful when
a loss is negative (a Gaussian NLL). The losses are therefore not used.

Weights are K softmax(l) (positive, summing to K, as GradNorm renormalises them), with
l learnt by its own Adam (lr 1e-3) on sum_k |w_k ||g_k|| - target_k|, the target held
constant. ||g_k(0)|| is the first nonzero norm seen for column k; columns with a zero
gradient at this step sit out of the mean and the objective. alpha: the paper tries
{0, 1}; we default to 1 (alpha = 0 only equalises the weighted norms). A step uses the
weights from before its update, as in the original algorithm.

The weights depend on the norms only, not on the angles: nearly dependent columns change
nothing; a nearly zero row sits out once it is exactly zero.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from core.mtl.adam_vector import AdamVector
from core.mtl.base import Method, check_task_count
from core.mtl.combination import Combination
from core.mtl.options import option_float
from core.mtl.system import GradientSystem


def gradnorm_gradient(logits: Tensor, norms: Tensor, targets: Tensor, active: Tensor) -> Tensor:
    """Gradient in l of sum over active k of |w_k n_k - t_k|, w = K softmax(l), t constant.

    With dw_i/dl_j = w_i (delta_ij - w_j / K) and s_i = sign(w_i n_i - t_i) n_i (0 if inactive):
    grad_j = w_j s_j - (w_j / K) sum_i w_i s_i.
    """
    weights = len(logits) * torch.softmax(logits, dim=0)
    signed = torch.where(active, torch.sign(weights * norms - targets) * norms, 0.0)
    return weights * signed - weights / len(logits) * (weights * signed).sum()


class GradNorm(Method):
    name = "gradnorm"
    description = "GradNorm: learnt weights balancing the columns' gradient norms and training rates"

    def __init__(self, alpha: float = 1.0, lr: float = 1e-3):
        self.alpha = option_float(self.name, "alpha", alpha, low=0.0)
        self.lr = option_float(self.name, "lr", lr, low=0.0, low_open=True)
        self.logits: AdamVector | None = None
        self.initial_norms: Tensor | None = None

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        k = system.n_tasks
        check_task_count(self, None if self.initial_norms is None else len(self.initial_norms), k)
        logits = self.logits if self.logits is not None else AdamVector(torch.zeros(k, dtype=torch.float64), self.lr)
        initial = self.initial_norms if self.initial_norms is not None else torch.zeros(k, dtype=torch.float64)
        norms = system.norms.cpu()
        active = system.active.cpu()
        initial = torch.where(initial > 0, initial, torch.where(active, norms, torch.zeros_like(norms)))
        self.logits, self.initial_norms = logits, initial
        # The weights from before this step's update, as in the original algorithm.
        weights = k * torch.softmax(logits.values.detach(), dim=0)
        combination = system.combination(weights)
        if active.any():
            rates = torch.where(active, norms / initial, torch.zeros_like(norms))
            relative = rates / rates[active].mean()
            weighted = weights * norms
            targets = weighted[active].mean() * relative**self.alpha
            logits.step(gradnorm_gradient(logits.values.detach(), norms, targets, active))
        return combination

    def state_dict(self) -> dict[str, Any]:
        if self.logits is None or self.initial_norms is None:
            return {}
        return {"logits": self.logits.state_dict(), "initial_norms": self.initial_norms.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            self.logits, self.initial_norms = None, None
            return
        self.logits = AdamVector.from_state_dict(state["logits"], self.lr)
        self.initial_norms = state["initial_norms"].clone()
