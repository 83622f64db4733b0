"""Rank decisions on small Gramians, made on the unit gradients and made smoothly.

Two columns whose gradients differ by a little (a wage and its logarithm, a column and a
near copy) make the gradient system nearly dependent. Read literally, IMTL-G, Aligned-MTL
and a least-squares fit then act on that small difference as if it were a task of its
own: huge opposite weights, or a step shrunk to the difference's size, and both jump
when the difference falls below whatever rank cut-off the solver uses. We decide instead,
once for every method, when a difference counts:

- The measure is scale-free: the singular values of the *unit* gradients, relative to
  the largest, i.e. sqrt(eigenvalue / largest eigenvalue) of the cosine matrix
  C = D^-1 M D^-1 (D the norms). A column with a tiny gradient is not a dependence;
  two columns 0.1 % apart are one.
- A direction whose relative singular value is at most ``DEPENDENT_BELOW`` (1e-3) is a
  dependence: the rows are treated as exactly dependent there, as if the difference were
  0 (float32 gradients carry rounding well above float32's epsilon after a backward
  pass, and a minibatch estimate is far noisier than that). One at least ``INDEPENDENT_ABOVE``
  (1e-2) is kept exactly, so well-conditioned systems get the method's exact solution.
- Between the two a share ``keep`` of the direction is kept, a smooth step in log scale,
  so every method's output is continuous as a row approaches a copy of another. Where a
  method divides by the direction's eigenvalue lambda (IMTL-G's solve, Aligned-MTL's
  rescaling), it divides by the *lifted* value lambda^keep lambda_max^(1 - keep) and
  multiplies by keep: a partly kept direction then fades geometrically across the band
  instead of dominating until keep is tiny (1 / lambda is huge there), which would make
  the output change by orders of magnitude over a sliver of the band.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DEPENDENT_BELOW = 1e-3
INDEPENDENT_ABOVE = 1e-2


def dependence_filter(relative_singular: Tensor) -> Tensor:
    """How much of each direction to keep, in [0, 1]: 0 at or below ``DEPENDENT_BELOW``, 1 at
    or above ``INDEPENDENT_ABOVE``, 3t^2 - 2t^3 of the position t in log scale between
    (continuous, with a continuous derivative)."""
    low, high = math.log(DEPENDENT_BELOW), math.log(INDEPENDENT_ABOVE)
    position = (relative_singular.clamp_min(1e-300).log() - low) / (high - low)
    t = position.clamp(0, 1)
    return torch.where(relative_singular > 0, t * t * (3 - 2 * t), 0.0)


def cosine_matrix(gramian: Tensor) -> tuple[Tensor, Tensor]:
    """C = D^-1 M D^-1 and the norms D (float64; no zero rows)."""
    norms = gramian.diagonal().clamp_min(0).sqrt()
    return gramian / norms[:, None] / norms[None, :], norms


def cosine_spectrum(cosines: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Eigenvalues (descending, clamped at 0), eigenvectors (columns) and the fraction of
    each direction to keep (``dependence_filter``) of a cosine matrix."""
    values, vectors = torch.linalg.eigh(cosines)
    values, vectors = values.flip(0).clamp_min(0), vectors.flip(1)
    if values.numel() == 0 or values[0] <= 0:
        return values, vectors, torch.zeros_like(values)
    return values, vectors, dependence_filter((values / values[0]).sqrt())


def lifted(values: Tensor, keep: Tensor) -> Tensor:
    """lambda^keep lambda_max^(1 - keep) for the kept directions (keep > 0), +inf elsewhere:
    the eigenvalue a method divides by (see the module's docstring)."""
    if values.numel() == 0 or values[0] <= 0:
        return torch.full_like(values, math.inf)
    logs = keep * values.clamp_min(1e-300).log() + (1 - keep) * values[0].log()
    return torch.where(keep > 0, logs.exp(), math.inf)


def filtered_pinv(cosines: Tensor) -> Tensor:
    """The pseudo-inverse of a cosine matrix with its dependences cut smoothly:
    sum_i keep_i / lifted_i v_i v_i^T (``cosine_spectrum``, ``lifted``).

    A Cholesky inverse is tried first (several times cheaper than an eigendecomposition at
    K = 200). It is used only where it equals the filtered one, i.e. where every direction
    is kept whole: provably so when ||A||_F ||A^-1||_F is at most 1 / INDEPENDENT_ABOVE^2
    (every eigenvalue is at least 1 / ||A^-1||_F and at most ||A||_F), else when the
    eigenvalues alone (cheaper than the eigenvectors) say so.
    """
    if cosines.numel():
        factor, info = torch.linalg.cholesky_ex(cosines)
        if int(info) == 0:
            inverse = torch.cholesky_inverse(factor)
            bound = torch.linalg.matrix_norm(cosines) * torch.linalg.matrix_norm(inverse)
            kept_whole = bool(torch.isfinite(bound)) and bound * INDEPENDENT_ABOVE**2 <= 1
            if not kept_whole:
                values = torch.linalg.eigvalsh(cosines)
                kept_whole = bool(values[0] >= INDEPENDENT_ABOVE**2 * values[-1])
            if kept_whole:
                return (inverse + inverse.T) / 2
    values, vectors, keep = cosine_spectrum(cosines)
    return (vectors * (keep / lifted(values, keep))) @ vectors.T
