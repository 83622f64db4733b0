"""Aligned-MTL (Senushkin et al., "Independent Component Alignment for Multi-Task
Learning", CVPR 2023): make the gradient system well-conditioned before summing it.

With M = V diag(lambda) V^T (nonzero part, rank r), the aligned system is
sqrt(lambda_min) V diag(lambda)^-1/2 V^T G: its singular values all equal
sqrt(lambda_min), the smallest of G's. The direction is the aligned rows combined with
uniform weights 1/K (the paper's default preference), i.e. weights
B 1/K with B = sqrt(lambda_min) V diag(lambda)^-1/2 V^T. Eigenvalues below the rank
tolerance of ``linalg`` are treated as 0; with no nonzero eigenvalue the weights are 1/K.
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.linalg import psd_eigen
from core.mtl.system import GradientSystem


class AlignedMTL(Method):
    name = "aligned-mtl"
    description = "Aligned-MTL: equalise the singular values of the gradient system, then average"

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        k = system.n_tasks
        preference = torch.full((k,), 1.0 / k, dtype=torch.float64, device=system.gramian.device)
        values, vectors = psd_eigen(system.gramian)
        if values.numel() == 0:
            return system.combination(preference)
        balance = values[-1].sqrt() * (vectors * values.rsqrt()) @ vectors.T
        return system.combination(balance @ preference)
