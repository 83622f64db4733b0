"""Aligned-MTL (Senushkin et al., "Independent Component Alignment for Multi-Task
Learning", CVPR 2023): make the gradient system well-conditioned before summing it.

With M = W diag(sigma^2) W^T, the aligned system is sigma_min W diag(sigma)^-1 W^T G:
its singular values all equal sigma_min, the smallest of G's. The direction is the
aligned rows combined with uniform weights 1/K (the paper's default preference), i.e.
weights B 1/K with B = sigma_min W diag(sigma)^-1 W^T.

Nearly dependent columns. As a row approaches a copy of another, sigma_min falls with
their difference: read literally, the step shrinks to that size while the difference's
direction (noise, for a near copy) is raised to full strength, and both jump back when
the difference drops below a rank cut-off. We apply ``linalg``'s cut-off instead,
scale-free: each singular direction w of M is judged by its share of the rows' own sizes,
r = w^T M w / w^T D^2 w (D the norms; r is the cosine matrix's Rayleigh quotient there,
so a column with a tiny gradient is not a dependence, two near copies are), and kept by
keep = dependence_filter(sqrt(r / lambda_max(C))). Its singular value is lifted as in
``linalg`` (sigma^keep sigma_max^(1 - keep)), the common scale s is the smallest lifted
value, and B = s sum keep / lifted w w^T: where every direction is kept whole this is
the paper's B, and as a dependence is cut s moves continuously to the next singular value
and the direction's part fades to 0. Exactly dependent rows are cut the same way, so
near and exact copies give the same step. A nearly zero row is a column like any other:
sigma_min, and with it the step, shrink with its norm (the trainer's rescaling undoes
that); an exactly zero row is left out (weight 0).

The eigenvalues of M span the squares of the rows' norms, which float64's eigh cannot
resolve below 1e-16 of the largest. Where M's smallest eigenvalue is that small, M is
factored as A A^T with A = D P Lambda^1/2 (C = P Lambda P^T, well scaled) and the
singular values come from A, whose rows carry the scales: accurate to working precision
for every row size.
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.linalg import INDEPENDENT_ABOVE, cosine_matrix, dependence_filter
from core.mtl.system import GradientSystem

# eigh(M) errs by about 1e-16 of M's largest eigenvalue: an eigenvalue above this share of it
# is resolved to 1e-10 relative, below it the rows' scales must be factored out first.
_RESOLVED_RTOL = 1e-6


def balance_factors(gramian: Tensor) -> tuple[Tensor, Tensor]:
    """B = V diag(scales) V^T with the aligned system B G (float64, K x K, no zero rows): the
    kept singular directions V (K x kept) and their scales, s keep / lifted (none kept: empty)."""
    cosines, norms = cosine_matrix(gramian)
    left, singular = _singular_directions(gramian, cosines, norms)
    spread = (norms[:, None] * left).square().sum(dim=0)  # |D w|^2 per direction
    share = singular.square() / spread
    if share.min() >= INDEPENDENT_ABOVE**2 * len(share):  # lambda_max(C) <= K: every direction kept whole
        keep = torch.ones_like(share)
    else:
        largest = torch.linalg.eigvalsh(cosines)[-1]
        keep = dependence_filter((share / largest).sqrt()) if largest > 0 else torch.zeros_like(share)
    kept = keep > 0
    logs = keep[kept] * singular[kept].log() + (1 - keep[kept]) * singular[0].log()
    lifted = logs.exp()
    return left[:, kept], (lifted.min() * (keep[kept] / lifted) if kept.any() else lifted)


def balance_transformation(gramian: Tensor) -> Tensor:
    """B itself (0 if no direction is kept)."""
    directions, scales = balance_factors(gramian)
    return (directions * scales) @ directions.T


def balanced(directions: Tensor, scales: Tensor, preference: Tensor) -> Tensor:
    """B @ preference without forming B: two K x kept products where B's is K x K x K."""
    return directions @ (scales * (directions.T @ preference))


def _singular_directions(gramian: Tensor, cosines: Tensor, norms: Tensor) -> tuple[Tensor, Tensor]:
    """M's eigenvectors and the square roots of its eigenvalues, descending: from eigh(M)
    where its smallest eigenvalue is resolved (``_RESOLVED_RTOL``), else from the SVD of
    D P Lambda^1/2 (C = P Lambda P^T), whose rows carry the scales (see the module)."""
    values, vectors = torch.linalg.eigh(gramian)
    if values[0] > _RESOLVED_RTOL * values[-1]:
        return vectors.flip(1), values.flip(0).sqrt()
    cosine_values, cosine_vectors = torch.linalg.eigh(cosines)
    factor = norms[:, None] * cosine_vectors * cosine_values.clamp_min(0).sqrt()  # M = factor @ factor.T
    left, singular, _ = torch.linalg.svd(factor)
    return left, singular


class AlignedMTL(Method):
    name = "aligned-mtl"
    description = "Aligned-MTL: equalise the singular values of the gradient system, then average"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        k = system.n_tasks
        preference = torch.full((k,), 1.0 / k, dtype=torch.float64, device=system.gramian.device)
        weights = torch.zeros(k, dtype=torch.float64, device=system.gramian.device)
        active = system.active
        if not active.any():
            return system.combination(preference)
        weights[active] = balanced(*balance_factors(system.gramian[active][:, active]), preference[active])
        return system.combination(weights)
