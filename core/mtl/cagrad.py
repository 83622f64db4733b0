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
d = g0, as in the published code (TorchJD returns 0 there); g_w counts as vanished when
it is at the rounding of its own terms. Columns with a zero gradient are left out: a zero
row would pin the worst improvement at 0.

Nearly dependent and nearly zero rows. The dual needs no rank decision and the direction
is continuous as a row approaches a copy of another. Nearly opposite columns bring the
hull close to 0: g_w shrinks with their difference, the Frank-Wolfe steps crawl and may
stop at their cap (``Combination.converged``), and at exact opposition g_w vanishes and the
ball's centre is kept -- a jump, since for a small difference the direction is g0 plus
the radius along g_w's limit. ||g_w|| is computed as ||R w|| from the cosine matrix's
square root, not as sqrt(w^T M w): near 0 that keeps its error relative to itself. A
nearly zero row pins the worst improvement near 0 until it is exactly zero (left out).
"""

from __future__ import annotations

import math

import numpy as np
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.options import option_float
from core.mtl.simplex import pairwise_frank_wolfe
from core.mtl.system import GradientSystem

# Stopping gap, relative to ||g0||^2 (the scale of the dual objective).
_GAP_RTOL = 1e-12
# ||g_w|| below this times sum_k w_k ||g_k|| is rounding: g_w counts as 0.
_VANISHED_RTOL = 1e-13
# Below this times (sum_k w_k ||g_k||)^2, w^T M w is mostly cancellation: ||g_w|| comes from R.
_CANCELLATION_RTOL = 1e-6
# C's eigenvalues below this times the largest are rounding (C's entries are within 1e-16).
_ROUNDING_RTOL = 1e-14


def cagrad_weights(gramian: np.ndarray, c: float, max_iterations: int | None = None) -> tuple[np.ndarray, bool]:
    """Weights of CAGrad's direction given M = G G^T (float64, K x K, no zero rows), and
    whether the dual's solver met its stopping test within ``max_iterations`` (default
    100 K + 1000)."""
    k = len(gramian)
    mean_inner = gramian.mean(axis=1)  # g_k . g0
    g0_sq = float(mean_inner.mean())
    radius = c * math.sqrt(max(g0_sq, 0.0))
    uniform = np.full(k, 1.0 / k)
    if radius == 0:
        return uniform, True
    root = _gram_root(gramian)
    norms = np.sqrt(np.diagonal(gramian))

    def squared_size(w: np.ndarray, along: np.ndarray) -> float:
        """||g_w||^2: w^T M w, or ||R w||^2 where w^T M w is mostly cancellation (near g_w = 0)."""
        quadratic = float(w @ along)
        if quadratic > _CANCELLATION_RTOL * float(norms @ w) ** 2:
            return quadratic
        current = root @ w
        return float(current @ current)

    def gradient(w: np.ndarray) -> np.ndarray:
        along = gramian @ w
        squared = squared_size(w, along)
        return mean_inner + (radius / math.sqrt(squared)) * along if squared > 0 else mean_inner

    def objective(linear: float, quadratic: float) -> float:
        return linear + radius * math.sqrt(max(quadratic, 0.0))

    def step(w: np.ndarray, grad: np.ndarray, toward: int, away: int, limit: float) -> float:
        # Along w + t (e_s - e_a): linear part slope*t, ||g_w||^2 = p t^2 + 2 h t + r.
        along = gramian @ w
        r = squared_size(w, along)
        slope = mean_inner[toward] - mean_inner[away]
        p = gramian[toward, toward] + gramian[away, away] - 2 * gramian[toward, away]
        h = along[toward] - along[away]
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

    weights, converged = pairwise_frank_wolfe(
        uniform,
        gradient,
        step,
        lambda w, g: _GAP_RTOL * g0_sq,
        max_iterations=100 * k + 1000 if max_iterations is None else max_iterations,
    )
    size = math.sqrt(squared_size(weights, gramian @ weights))
    # A g_w at the rounding floor of its own terms has vanished: its direction is noise.
    if size <= _VANISHED_RTOL * float(np.sqrt(np.diagonal(gramian)) @ weights):
        return uniform, converged
    return uniform + (radius / size) * weights, converged


def _gram_root(gramian: np.ndarray) -> np.ndarray:
    """R with R^T R = M, as Lambda^1/2 P^T D from the cosine matrix C = P Lambda P^T (D the
    norms): ||R w|| = ||g_w|| then has an error relative to ||g_w|| itself, not to the rows'
    sizes as sqrt(w^T M w) has near g_w = 0, where the step's direction g_w / ||g_w|| is made,
    and rows of any size are resolved."""
    norms = np.sqrt(np.diagonal(gramian))
    values, vectors = np.linalg.eigh(gramian / norms[:, None] / norms[None, :])
    # Eigenvalues at C's rounding level are 0: their square roots (1e-8) would be noise in R.
    values = np.where(values > _ROUNDING_RTOL * values.max(), values, 0.0)
    return np.sqrt(values)[:, None] * vectors.T * norms[None, :]


class CAGrad(Method):
    name = "cagrad"
    description = "CAGrad: best worst-column improvement within a ball around the mean gradient"

    def __init__(self, c: float = 0.4):
        self.c = option_float(self.name, "c", c, low=0.0)

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        return system.solved_on_active(lambda gramian: cagrad_weights(gramian, self.c))
