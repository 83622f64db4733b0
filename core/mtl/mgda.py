"""MGDA-UB (Sener & Koltun, NeurIPS 2018): the min-norm point of the convex hull of the
column gradients, computed on the representation's gradients (the "upper bound").

The published solver is Frank-Wolfe on the Gramian, which converges as 1/t: after its
250 iterations the weights can be far from the minimiser when gradients are correlated.
We solve the same problem, min w^T M w over the simplex, exactly with Wolfe's
active-set algorithm ("Finding the nearest point in a polytope", 1976), on the Gramian:
keep a support S and weights on it; move towards the minimiser of the affine hull of S,
dropping columns whose weight reaches 0; when that minimiser is inside the simplex, add
the column most below the current point (min (M w)_k) until none is. We start from all
columns (the typical minimiser uses most of them), which usually ends in a few solves.
The weights are used as they come: the published code passed them through min(w, 1e-3),
which made them practically uniform. Columns with a zero gradient are left out;
otherwise the min-norm point would be that zero vector.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.system import GradientSystem

# Optimal when min_k (M w)_k >= w^T M w (1 - _GAP_RTOL): then w^T M w is within that
# fraction of its minimum and the direction within about sqrt(2 * 1e-12) relatively.
_GAP_RTOL = 1e-12
# Floor for the gap relative to (sum_k ||g_k|| w_k)^2, the size of the rounding noise in
# M w and w^T M w (each term M_kj w_j is at most ||g_k|| ||g_j|| w_j).
_NOISE_RTOL = 1e-15


def affine_minimiser(gramian: np.ndarray) -> np.ndarray:
    """Coefficients (summing to 1) of the min-norm point of the affine hull of the rows.

    Solves the KKT system [M 1; 1^T 0] [a; -mu] = [0; 1] with rows and columns scaled by
    the norms, so columns of very different sizes do not make it ill-conditioned. When the
    rows are affinely dependent it is singular, and the least-squares solution is used.
    """
    norms = np.sqrt(np.maximum(gramian.diagonal(), 0.0))
    size = len(gramian)
    kkt = np.zeros((size + 1, size + 1))
    kkt[:size, :size] = gramian / norms[:, None] / norms[None, :]
    kkt[:size, size] = kkt[size, :size] = 1.0 / norms
    target = np.zeros(size + 1)
    target[size] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            solution = scipy.linalg.solve(kkt, target, assume_a="sym")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
            solution = scipy.linalg.lstsq(kkt, target)[0]
    return solution[:size] / norms


def min_norm_weights(gramian: np.ndarray) -> np.ndarray:
    """Simplex weights w minimising ||G^T w||^2 given M = G G^T (float64, K x K, no zero rows)."""
    k = len(gramian)
    norms = np.sqrt(gramian.diagonal())
    support = np.arange(k)
    weights = np.full(k, 1.0 / k)  # on the support
    for _ in range(10 * k + 100):  # each pass drops or adds a column; this bound is generous
        target = affine_minimiser(gramian[np.ix_(support, support)])
        if (target > 0).all():
            weights = target
            full = np.zeros(k)
            full[support] = weights
            along = gramian @ full
            entering = int(np.argmin(along))
            noise = _NOISE_RTOL * k * float(norms @ full) ** 2
            if full @ along - along[entering] <= max(_GAP_RTOL * float(full @ along), noise) or entering in support:
                break
            support = np.append(support, entering)
            weights = np.append(weights, 0.0)
        else:
            # Walk from the weights towards the target until the first weight reaches 0.
            falling = target < weights
            ratios = np.full(len(weights), np.inf)
            ratios[falling] = weights[falling] / (weights[falling] - target[falling])
            leaving = int(np.argmin(ratios))
            weights = weights + ratios[leaving] * (target - weights)
            weights[leaving] = 0.0
            keep = weights > 0
            support, weights = support[keep], weights[keep]
    full = np.zeros(k)
    full[support] = weights
    return full / full.sum()


class MGDAUB(Method):
    name = "mgda-ub"
    description = "MGDA-UB: min-norm point of the convex hull of the column gradients"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        weights = torch.zeros(system.n_tasks, dtype=torch.float64)
        active = system.active.cpu()
        if active.any():
            gramian = system.gramian.cpu()[active][:, active].numpy()
            weights[active] = torch.from_numpy(min_norm_weights(gramian))
        return system.combination(weights)
