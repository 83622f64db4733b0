"""The baseline: the plain sum of the column gradients, every weight 1 (whatever the rows'
angles or sizes: continuous everywhere)."""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.system import GradientSystem


class PlainSum(Method):
    name = "none"
    description = "plain sum of the column gradients (no correction; all weights 1)"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        return system.combination(torch.ones(system.n_tasks, dtype=torch.float64))
