"""Rank-aware linear algebra on small symmetric positive semi-definite matrices (Gramians).

Eigenvalues below ``RANK_RTOL`` times the largest count as zero. The Gramian is float64
(see ``system``), whose rounding noise sits near 1e-16 relative; 1e-10 keeps a wide margin
above it while still resolving gradients whose singular values differ by 1e5.
"""

from __future__ import annotations

import torch
from torch import Tensor

RANK_RTOL = 1e-10


def psd_eigen(matrix: Tensor) -> tuple[Tensor, Tensor]:
    """Eigenvalues (descending) and eigenvectors (columns) of the numerically nonzero part."""
    values, vectors = torch.linalg.eigh(matrix)
    values, vectors = values.flip(0), vectors.flip(1)
    if values.numel() == 0 or values[0] <= 0:
        return values[:0], vectors[:, :0]
    keep = values > RANK_RTOL * values[0]
    return values[keep], vectors[:, keep]


def psd_pinv(matrix: Tensor) -> Tensor:
    """Moore-Penrose pseudo-inverse with the rank cut at ``RANK_RTOL``.

    A Cholesky inverse is tried first (several times cheaper than an eigendecomposition at
    K = 200). It is used only where it provably equals the cut pseudo-inverse: every
    eigenvalue is at least 1 / ||A^-1||_F and at most ||A||_F, so when
    ||A||_F ||A^-1||_F < 1 / RANK_RTOL the cut keeps all of them.
    """
    if matrix.numel():
        factor, info = torch.linalg.cholesky_ex(matrix)
        if int(info) == 0:
            inverse = torch.cholesky_inverse(factor)
            bound = torch.linalg.matrix_norm(matrix) * torch.linalg.matrix_norm(inverse)
            if bool(torch.isfinite(bound)) and bound * RANK_RTOL < 1:
                return (inverse + inverse.T) / 2
    values, vectors = psd_eigen(matrix)
    return (vectors / values) @ vectors.T
