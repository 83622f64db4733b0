"""CAGrad (Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS
2021): the direction within a ball of radius c ||g0|| around the mean gradient g0 that
maximises the worst column's first-order improvement.

Its dual, over simplex weights w with g_w = G^T w, is

    min_w  g_w . g0 + c ||g0|| ||g_w||,

and the direction is d = g0 + (c ||g0|| / ||g_w||) g_w, i.e. weights 1/K + (c ||g0|| /
||g_w||) w. Everything is a function of the Gramian. We solve the dual with pairwise
Frank-Wolfe (see ``simplex``); the line search along a pair is exact (closed form below).
No final division by 1 + c^2 as in one variant of the published code: it only rescales.
Where g_w vanishes (the mean gradient is Pareto-stationary) the ball's centre is kept,
d = g0, as in the published code (TorchJD returns 0 there). Columns with a zero gradient
are left out: a zero row would pin the worst improvement at 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.options import option_float
from core.mtl.simplex import pairwise_frank_wolfe
from core.mtl.system import GradientSystem

# Stopping gap, relative to ||g0||^2 (the scale of the dual objective).
_GAP_RTOL = 1e-12


def cagrad_weights(gramian: np.ndarray, c: float) -> np.ndarray:
    """Weights of CAGrad's direction given M = G G^T (float64, K x K)."""
    k = len(gramian)
    mean_inner = gramian.mean(axis=1)  # g_k . g0
    g0_sq = float(mean_inner.mean())
    radius = c * math.sqrt(max(g0_sq, 0.0))
    uniform = np.full(k, 1.0 / k)
    if radius == 0:
        return uniform

    def gradient(w: np.ndarray) -> np.ndarray:
        along = gramian @ w
        size = math.sqrt(max(float(w @ along), 0.0))
        return mean_inner + (radius / size) * along if size > 0 else mean_inner

    def objective(linear: float, quadratic: float) -> float:
        return linear + radius * math.sqrt(max(quadratic, 0.0))

    def step(w: np.ndarray, grad: np.ndarray, toward: int, away: int, limit: float) -> float:
        # Along w + t (e_s - e_a): linear part slope*t, ||g_w||^2 = p t^2 + 2 h t + r.
        along = gramian @ w
        slope = mean_inner[toward] - mean_inner[away]
        p = gramian[toward, toward] + gramian[away, away] - 2 * gramian[toward, away]
        h = along[toward] - along[away]
        r = float(w @ along)
        candidates = [0.0, limit]
        if p > 0 and radius > 0:
            # Stationary point: slope + radius (p t + h) / sqrt(q(t)) = 0. With u = p t + h,
            # q = (u^2 + p r - h^2) / p, so u / sqrt(u^2 + disc) = -slope / (radius sqrt p).
            ratio = -slope / (radius * math.sqrt(p))
            disc = max(p * r - h * h, 0.0)
            if abs(ratio) < 1:
                u = ratio * math.sqrt(disc / (1 - ratio * ratio))
                candidates.append(min(max((u - h) / p, 0.0), limit))
        values = [objective(slope * t, p * t * t + 2 * h * t + r) for t in candidates]
        return candidates[int(np.argmin(values))]

    weights = pairwise_frank_wolfe(
        uniform, gradient, step, lambda w, g: _GAP_RTOL * g0_sq, max_iterations=100 * k + 1000
    )
    size = math.sqrt(max(float(weights @ gramian @ weights), 0.0))
    return uniform + (radius / size) * weights if size > 0 else uniform


class CAGrad(Method):
    name = "cagrad"
    description = "CAGrad: best worst-column improvement within a ball around the mean gradient"

    def __init__(self, c: float = 0.4):
        self.c = option_float(self.name, "c", c, low=0.0)

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        weights = torch.zeros(system.n_tasks, dtype=torch.float64)
        active = system.active.cpu()
        if active.any():
            gramian = system.gramian.cpu()[active][:, active].numpy()
            weights[active] = torch.from_numpy(cagrad_weights(gramian, self.c))
        return system.combination(weights)
