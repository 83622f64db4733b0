"""Dynamic weight averaging (Liu, Johns & Davison, "End-to-End Multi-Task Learning with
Attention", CVPR 2019): weights K softmax(r / T), where r_k is how fast column k's loss
fell over the last two calls, r_k = L_k(t-1) / L_k(t-2); weights 1 until two calls are seen.

That ratio assumes positive losses; a negative loss (a Gaussian NLL) flips its meaning
and a loss near 0 makes it blow up. We use the same rate written as a relative change,
r_k = 1 + (L_k(t-1) - L_k(t-2)) / max(|L_k(t-2)|, 1e-8), equal to the ratio for positive
losses and still "below 1 when the loss fell" for negative ones; the softmax is computed
stably, so large rates saturate instead of overflowing. The paper updates per epoch with
epoch-mean losses; this method sees only its calls, so it updates per call. The weights
depend on the losses only: dependent or vanishing gradients change nothing.
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import Method, check_task_count
from core.mtl.combination import Combination
from core.mtl.options import option_float
from core.mtl.system import GradientSystem

_SMALLEST_LOSS_SCALE = 1e-8


class DynamicWeightAverage(Method):
    name = "dwa"
    description = "dynamic weight averaging: more weight to columns whose loss falls slowest"

    def __init__(self, temperature: float = 2.0):
        self.temperature = option_float(self.name, "temperature", temperature, low=0.0, low_open=True)
        self.history: list[Tensor] = []  # the losses of the last two calls, oldest first

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        k = system.n_tasks
        check_task_count(self, len(self.history[0]) if self.history else None, k)
        if len(self.history) < 2:
            weights = torch.ones(k, dtype=torch.float64)
        else:
            before, last = self.history
            rates = 1 + (last - before) / before.abs().clamp_min(_SMALLEST_LOSS_SCALE)
            weights = k * torch.softmax(rates / self.temperature, dim=0)
        self.history = [*self.history, losses.cpu().double().clone()][-2:]
        return system.combination(weights)

    def state_dict(self) -> dict:
        return {"history": [losses.clone() for losses in self.history]} if self.history else {}

    def load_state_dict(self, state: dict) -> None:
        self.history = [losses.clone() for losses in state.get("history", [])]
