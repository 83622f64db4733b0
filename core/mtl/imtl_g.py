"""IMTL-G (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021): the combined
direction has the same projection on every unit column gradient.

With D = diag(norms) and C = D^-1 M D^-1 the cosine matrix of the rows, d = G^T w has
projections D^-1 M w = C D w on the unit gradients, so w = D^-1 C^+ 1 makes them all 1.
For independent columns this is the paper's closed form and TorchJD's pinv(M) @ norms,
up to normalisation. Working on C rather than on M keeps the solve independent of the
gradients' scales (a tiny-norm column does not make it ill-conditioned). For dependent
columns (duplicated, or more columns than dimensions) equal projections may be
impossible; the pseudo-inverse of C then makes the projections the least-squares
approximation of equal ones (the projection of 1 on the range of C), splitting the weight
evenly between duplicated columns. TorchJD's pinv(M) @ norms is a least-squares solution
in another metric there, which depends on the scales.

The paper's weights sum to 1. We divide by |sum| instead of by the sum, so the common
projection is always positive: where the sum is negative, the literal formula returns the
opposite direction, which raises every column's loss equally (TorchJD does).
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.linalg import psd_pinv
from core.mtl.system import GradientSystem

# Below this, |sum of weights| relative to sum |weights| counts as zero: the weights are
# then normalised by sum |weights| instead (the direction is the same; only the scale differs).
_ZERO_SUM_RTOL = 1e-12
# Projections this small (relative to the all-ones target) are rounding noise.
_UNREACHABLE_RTOL = 1e-8


class IMTLG(Method):
    name = "imtl-g"
    description = "IMTL-G: equal projection of the direction on every unit column gradient"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        weights = torch.zeros(system.n_tasks, dtype=torch.float64, device=system.gramian.device)
        active = system.active
        if active.any():
            norms = system.norms[active]
            cosines = system.gramian[active][:, active] / norms[:, None] / norms[None, :]
            coefficients = psd_pinv(cosines).sum(dim=1)
            # The projections C a are the ones of 1 on the range of C. They vanish when the
            # unit gradients sum to 0 (say, two opposite columns): no direction improves every
            # column, and the weights stay 0.
            reachable = (cosines @ coefficients).norm() > _UNREACHABLE_RTOL * len(coefficients) ** 0.5
            if reachable:
                raw = coefficients / norms
                total, size = raw.sum().abs(), raw.abs().sum()
                weights[active] = raw / (total if total > _ZERO_SUM_RTOL * size else size)
        return system.combination(weights)
