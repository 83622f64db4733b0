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

Nearly dependent and nearly zero rows. The min-norm point of a hull is continuous in its
vertices, so no cut-off is needed: a near copy of a column changes the point by the size
of the difference, two nearly opposite columns bring it continuously to 0 (their
segment nearly contains 0), and the weights between near copies are whatever split the
solver reaches (the point, not the split, is unique). A nearly zero row is the point
itself, whatever the other rows: MGDA-UB then returns that row, down to its rounding
(a column the model fits perfectly has a gradient many orders below the others'), and
the trainer's rescaling to the plain gradient's length turns it into a full step along
it. That is the definition; it is why MGDA-UB fails where one column is already fitted.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
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

    Written from the shortest row b, the point is g_b + sum_i t_i (g_i - g_b) over the
    others, and t solves (D D^T) t = -D g_b (D the differences), whose entries are formed
    from M's. Their size is the differences', not the rows': a row many orders shorter than
    the others (a column the model already fits) keeps its small coefficients, where the
    bordered system [M 1; 1^T 0] lost them to the rows' disparity and the active set
    cycled. Rows and columns are scaled by the differences' norms; when the rows are
    affinely dependent the system is singular, and the least-squares solution is used.
    """
    size = len(gramian)
    if size == 1:
        return np.ones(1)
    base = int(np.argmin(np.diagonal(gramian)))
    others = np.delete(np.arange(size), base)
    along = gramian[others, base]  # g_i . g_b
    differences = gramian[np.ix_(others, others)] - along[:, None] - along[None, :] + gramian[base, base]
    scales = np.sqrt(np.maximum(differences.diagonal(), 0.0))
    scales = np.where(scales > 0, scales, 1.0)
    system = differences / scales[:, None] / scales[None, :]
    target = (gramian[base, base] - along) / scales
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            steps = scipy.linalg.solve(system, target, assume_a="sym")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
            steps = scipy.linalg.lstsq(system, target)[0]
    coefficients = np.zeros(size)
    coefficients[others] = steps / scales
    coefficients[base] = 1.0 - coefficients[others].sum()
    return coefficients


def min_norm_weights(gramian: np.ndarray, max_passes: int | None = None) -> tuple[np.ndarray, bool]:
    """Simplex weights w minimising ||G^T w||^2 given M = G G^T (float64, K x K, no zero rows),
    and whether the optimality test was met within ``max_passes`` (default 10 K + 100)."""
    k = len(gramian)
    norms = np.sqrt(gramian.diagonal())
    support = np.arange(k)
    weights = np.full(k, 1.0 / k)  # on the support
    converged = False
    # Each pass drops or adds a column; the default bound is generous.
    for _ in range(10 * k + 100 if max_passes is None else max_passes):
        target = affine_minimiser(gramian[np.ix_(support, support)])
        if (target > 0).all():
            weights = target
            full = np.zeros(k)
            full[support] = weights
            along = gramian @ full
            entering = int(np.argmin(along))
            noise = _NOISE_RTOL * k * float(norms @ full) ** 2
            # An entering column already in the support: rounding has the last word.
            if full @ along - along[entering] <= max(_GAP_RTOL * float(full @ along), noise) or entering in support:
                converged = True
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
    return full / full.sum(), converged


class MGDAUB(Method):
    name = "mgda-ub"
    description = "MGDA-UB: min-norm point of the convex hull of the column gradients"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        return system.solved_on_active(lambda gramian: min_norm_weights(gramian))
