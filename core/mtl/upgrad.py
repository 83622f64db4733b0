"""UPGrad (Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024): project
each column gradient (scaled by 1/K) onto the dual cone of the rows, {x : G x >= 0},
and sum the projections. The result conflicts with no column: G d >= 0.

Everything runs on the Gramian, in coordinates of the rows' span: with D the norms and
C = D^-1 M D^-1 = P Lambda P^T the cosine matrix, the rows are A Z^T with A = D P
Lambda^1/2 (K x K) and Z = G^T D^-1 P Lambda^-1/2 orthonormal. In those coordinates the
projection of a_i / K onto {z : A z >= 0} is z = a_i / K + A^T mu with mu >= 0 solving
the nonnegative least-squares problem min ||A^T mu + a_i / K|| (its dual), solved exactly
by scipy's NNLS (Lawson-Hanson active set); a column already in the dual cone
(M[:, i] >= 0) is its own projection. The direction Z sum_i z_i is returned as weights on
the rows, w = D^-1 P Lambda^-1/2 sum_i z_i. Columns with a zero gradient constrain nothing
and are left out; they keep their weight 1/K, which moves nothing.

Why in the span's coordinates rather than as min v^T M v s.t. v >= e_i / K (the paper's
Proposition 1, same solution): near a dependence that problem's v grows as 1 / (the
dependence's size) -- two nearly opposite columns, say -- and G^T v then cancels those
huge weights against each other, so rounding in M becomes an error of order one in the
direction. Here mu may grow as well, but z is formed from A, whose rounding is 1e-16 of
the rows' sizes, and stays a projection of the rows as A represents them: close to the
exact one, and never longer than the column it projects.

Nearly dependent columns. A near copy of a column (no conflict between them) changes
nothing. Two nearly opposite columns leave a thin wedge; as they become exactly opposite
its limit is half of the hyperplane orthogonal to them (the side their small difference
points to), while exactly opposite columns leave the whole hyperplane. The definition
itself jumps there, and which side is kept depends on the difference alone -- cleaning it
away (as ``linalg``'s cut-off does for other methods) leaves a thinner wedge of another
orientation, not the hyperplane -- so no cut-off makes UPGrad continuous there, and we
keep it exact as far as the Gramian resolves it (a difference below about 1e-7 of the
rows is rounding in C: the wedge is then as A represents it). A nearly zero row likewise
keeps its half-space constraint, whatever its norm, until it is exactly zero. TorchJD's
default regularisation (reg_eps = 1e-4) smooths both limits at the cost of inexact
projections everywhere.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import lsq_linear, nnls
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.linalg import cosine_matrix
from core.mtl.system import GradientSystem

# C's eigenvalues below this times the largest are its rounding: taken as 0 (no direction).
_ROUNDING_RTOL = 1e-15


def _multipliers(transposed: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, bool]:
    """mu >= 0 minimising ||A^T mu - target||, and whether the solver met its stopping test."""
    try:
        return nnls(transposed, target, maxiter=10 * transposed.shape[1])[0], True
    except RuntimeError:  # Lawson-Hanson hit its cap: a bounded-variable solver takes over
        result = lsq_linear(transposed, target, bounds=(0, np.inf), method="bvls")
        return result.x, bool(result.status > 0)


def dual_cone_weights(gramian: Tensor) -> tuple[Tensor, bool]:
    """Weights w with G^T w the sum over i of the projections of g_i / K onto the dual cone
    (float64, K x K Gramian, no zero rows), and whether every solve converged."""
    k = len(gramian)
    cosines, norms = cosine_matrix(gramian)
    values, vectors = torch.linalg.eigh(cosines)
    values = torch.where(values > _ROUNDING_RTOL * values.max(), values, 0.0)
    rows = (norms[:, None] * vectors * values.sqrt()).numpy()  # A: the rows in the span's coordinates
    total = rows.sum(axis=0) / k
    converged = True
    for i in np.flatnonzero((gramian < 0).any(dim=0).numpy()):
        multipliers, solved = _multipliers(rows.T, -rows[i] / k)
        total += rows.T @ multipliers
        converged = converged and solved
    inverse_roots = torch.where(values > 0, values.clamp_min(1e-300).rsqrt(), 0.0)
    return (vectors @ (inverse_roots * torch.from_numpy(total))) / norms, converged


class UPGrad(Method):
    name = "upgrad"
    description = "UPGrad: average of the column gradients projected onto the dual cone of all"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        k = system.n_tasks
        weights = torch.full((k,), 1.0 / k, dtype=torch.float64)
        active = system.active.cpu()
        converged = True
        if active.any():
            solved, converged = dual_cone_weights(system.gramian.cpu()[active][:, active])
            weights[active] = solved * active.sum() / k
        combination = system.combination(weights)
        combination.converged = converged
        return combination
