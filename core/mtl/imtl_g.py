"""IMTL-G (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021): the combined
direction has the same projection on every unit column gradient.

With D = diag(norms) and C = D^-1 M D^-1 the cosine matrix of the rows, d = G^T w has
projections D^-1 M w = C D w on the unit gradients, so w = D^-1 C^+ 1 makes them all 1.
For independent columns this is the paper's closed form and TorchJD's pinv(M) @ norms,
up to normalisation. Working on C rather than on M keeps the solve independent of the
gradients' scales (a tiny-norm column does not make it ill-conditioned, and counts as
fully as any other).

Dependent and nearly dependent columns. Equal projections on two unit gradients u, u'
that differ by a little require the direction to be orthogonal to u - u': a constraint
set by the difference alone, met with huge opposite weights on the two columns, which
(normalised to sum 1) shrink the direction to the difference's size. We treat a
difference below ``linalg``'s cut-off as none: C^+ is the pseudo-inverse with C's
dependences cut smoothly (``filtered_pinv``), so nearly duplicated columns share the
weight a single column would get, exactly as duplicated ones do, and the direction is
continuous as a row approaches a copy of another. Where equal projections are impossible
(dependent columns, more columns than dimensions) the projections are then the
least-squares approximation of equal ones (the projection of 1 on the kept range of C).
When that projection is (nearly) 0 -- the unit gradients (nearly) sum to 0, say two
opposite columns -- no direction improves every column: the weights are 0, reached
continuously (the result is scaled by ``dependence_filter`` of |projection| / |1|).
A nearly zero row counts fully until it is exactly zero (IMTL-G is scale-free); its
weight, about 1 / its norm, then dominates the sum and the normalised direction shrinks
with that norm (the trainer's rescaling to the plain gradient's length undoes that).

The paper's weights sum to 1. We divide by |sum| instead of by the sum, so the common
projection is always positive: where the sum is negative, the literal formula returns the
opposite direction, which raises every column's loss equally (TorchJD does). Where the
weights nearly cancel, |sum| < 1e-4 sum |weights|, we divide by 1e-4 sum |weights|: the
literal length 1 / |sum| has a pole there (TorchJD returns 0 below |sum| = 1e-12).
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.linalg import cosine_matrix, dependence_filter, filtered_pinv
from core.mtl.system import GradientSystem

# The weights are divided by max(|sum|, this times sum |weights|): where they nearly cancel
# (their sum passes through 0, e.g. as a dependence fades within the cut-off band) the
# length stays bounded and continuous instead of growing as 1 / |sum|.
_SMALL_SUM_RTOL = 1e-4


def imtl_g_weights(gramian: Tensor) -> Tensor:
    """IMTL-G's weights given M = G G^T (float64, K x K, no zero rows)."""
    cosines, norms = cosine_matrix(gramian)
    coefficients = filtered_pinv(cosines).sum(dim=1)
    reached = dependence_filter((cosines @ coefficients).norm() / len(coefficients) ** 0.5)
    raw = coefficients / norms
    size = raw.abs().sum()
    if size == 0:
        return raw
    return reached * raw / torch.maximum(raw.sum().abs(), _SMALL_SUM_RTOL * size)


class IMTLG(Method):
    name = "imtl-g"
    description = "IMTL-G: equal projection of the direction on every unit column gradient"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        weights = torch.zeros(system.n_tasks, dtype=torch.float64, device=system.gramian.device)
        active = system.active
        if active.any():
            weights[active] = imtl_g_weights(system.gramian[active][:, active])
        return system.combination(weights)
