"""UPGrad (Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024): project
each column gradient (scaled by 1/K) onto the dual cone of the rows, {x : G x >= 0},
and sum the projections. The result conflicts with no column: G d >= 0.

By the paper's Proposition 1, the projection of G^T u is G^T v with v solving

    min_v  v^T M v   subject to  v >= u,

so everything runs on the Gramian. With M = R^T R and v = u + s, s >= 0, that is a
nonnegative least-squares problem min ||R s + R u|| over s >= 0, solved exactly by
scipy's NNLS (Lawson-Hanson active set). A column already in the dual cone (M[:, i] >= 0)
is its own projection and needs no solve. Columns with a zero gradient constrain nothing
and are left out of the problems (in R they would be rounding noise that NNLS could lean
on); they keep their weight 1/K, which moves nothing.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import nnls
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.linalg import psd_eigen
from core.mtl.system import GradientSystem


def dual_cone_weights(gramian: Tensor) -> Tensor:
    """Sum over i of the v_i solving min v^T M v s.t. v >= e_i / K (float64, K x K, no zero rows)."""
    k = len(gramian)
    values, vectors = psd_eigen(gramian)
    root = (vectors * values.sqrt()).T.numpy()  # R with R^T R = M (rank rows)
    total = np.full(k, 1.0 / k)
    conflicting = (gramian < 0).any(dim=0).numpy()
    for i in np.flatnonzero(conflicting):
        floor = np.zeros(k)
        floor[i] = 1.0 / k
        lift, _ = nnls(root, -root @ floor, maxiter=10 * k)
        total += lift
    return torch.from_numpy(total)


class UPGrad(Method):
    name = "upgrad"
    description = "UPGrad: average of the column gradients projected onto the dual cone of all"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        k = system.n_tasks
        weights = torch.full((k,), 1.0 / k, dtype=torch.float64)
        active = system.active.cpu()
        if active.any():
            weights[active] = dual_cone_weights(system.gramian.cpu()[active][:, active]) * active.sum() / k
        return system.combination(weights)
