"""NSGD: normalised gradients. Every column gradient is brought to the same norm (the mean
of the nonzero norms), so no column outweighs another by the size of its gradient.

Near copies count twice, continuously. A nearly zero row is brought to the mean norm too,
however small (its direction may be rounding noise), until it is exactly zero: a jump at 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.system import GradientSystem


class NormalisedGradients(Method):
    name = "nsgd"
    description = "normalised gradients: each column gradient scaled to the mean gradient norm"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        norms = system.norms.cpu()
        weights = torch.zeros_like(norms)
        positive = system.active.cpu()
        if positive.any():
            weights[positive] = norms[positive].mean() / norms[positive]
        return system.combination(weights)
