"""Random loss weighting (Lin et al., "Reasonable Effectiveness of Random Weighting", TMLR
2022): fresh weights softmax(z), z ~ N(0, I), at every call, from the method's generator.
They ignore the gradients: dependent or vanishing rows change nothing."""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.system import GradientSystem


class RandomLossWeighting(Method):
    name = "rlw"
    description = "random loss weighting: softmax of standard normal weights, drawn every step"

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        draws = torch.randn(system.n_tasks, generator=self.generator, dtype=torch.float64)
        return system.combination(torch.softmax(draws, dim=0))
