"""GradDrop (Chen et al., "Just Pick a Sign", NeurIPS 2020): per coordinate, keep either the
positive or the negative parts of the column gradients, choosing positive with
probability P = (1 + sum g / sum |g|) / 2 (the sign purity); ``leakage`` is the fraction of
every gradient that passes regardless. The published code for the paper built GradDrop
without its leakage argument and crashed; here it is an option (default 0, as the paper).

The result is not a linear combination of the rows (the masks act per coordinate), so
the weights are a least-squares fit: w = M^+ G d, the coefficients of d's projection on
the span of the rows, with M^+ cut at ``linalg``'s dependence cut-off (nearly dependent
rows share a coefficient instead of taking huge opposite ones; the direction itself is
untouched by it). The masks act on the rows' signs, so a near copy or a nearly zero row
changes the direction continuously; the choice of sign jumps where a coordinate's purity
crosses its draw, as the method intends.
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import PROJECTION, Method
from core.mtl.combination import Combination
from core.mtl.options import option_float
from core.mtl.system import GradientSystem


class GradDrop(Method):
    name = "graddrop"
    description = "GradDrop: per coordinate keep the positive or the negative parts, by sign purity"
    kind = PROJECTION
    exact_weights = False

    def __init__(self, generator: torch.Generator, leakage: float = 0.0):
        self.generator = generator
        self.leakage = option_float(self.name, "leakage", leakage, low=0.0, high=1.0)

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        grads = system.grads
        total, spread = grads.sum(dim=0), grads.abs().sum(dim=0)
        # Where every gradient is 0 the choice does not matter; 1/2 avoids 0/0.
        purity = torch.where(spread > 0, 0.5 * (1 + total / spread), 0.5)
        # Drawn in float64 whatever the dtype, so float32 and float64 runs make the same choices.
        draws = torch.rand(grads.shape[1], generator=self.generator, dtype=torch.float64).to(grads)
        keep = ((purity > draws) & (grads > 0)) | ((purity < draws) & (grads < 0))
        direction = ((self.leakage + (1 - self.leakage) * keep.to(grads.dtype)) * grads).sum(dim=0)
        return Combination(direction=direction, weights=system.least_squares_weights(direction))
