"""Methods applied to the runs that share them at once, on R x K x K Gramians.

Each function of ``BATCHED_WEIGHTS`` is a method of ``core.mtl`` with a leading run
axis: the same operations in the same order, so every run's weights are bit for bit
those the method gives the run alone (the equality tests check it). They are made of
elementwise torch operations (PCGrad's walk) and numpy on the stacked arrays (CAGrad's
Frank-Wolfe, MGDA-UB's first solve, in ``core.stacked.solvers``), whose results do not
depend on where a run sits in the batch. Where the single method branches on the data
(an active set that needs more than its first solve), the runs that take the other branch
are handed to the single method itself. Randomness comes from each run's own instance's
generator, drawn as it draws.

The methods of ``PER_RUN_WEIGHTED`` work run by run, each run's instance on its own
Gramian: some keep state between steps or read the losses (GradNorm, GradVac, DWA,
uncertainty weighting, Nash-MTL's warm start), some are too cheap to batch (NSGD, RLW),
and IMTL-G, Aligned-MTL, UPGrad and Nash-MTL solve through torch's LAPACK (a Cholesky
inverse, ``eigh``, Newton solves): a batched call rounds a run's matrix otherwise than
the same call on it alone on some CPUs (the last bits of 4 of these methods' weights
differed on an AMD EPYC and on the CI machine, not on an AVX-512 Xeon), where the
run's own call is its own by construction. They read nothing of the gradients but the
Gramian and return ``system.combination(weights)``, so the rows (``GramianOnly``) stay
unformed and the combined directions, their rescaling and their checks are then batched
across the runs like the others'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import torch
from torch import Tensor

from core.mtl.aligned_mtl import AlignedMTL
from core.mtl.base import Method
from core.mtl.cagrad import CAGrad, cagrad_weights
from core.mtl.dwa import DynamicWeightAverage
from core.mtl.gradnorm import GradNorm
from core.mtl.gradvac import GradVac
from core.mtl.imtl_g import IMTLG
from core.mtl.mgda import MGDAUB
from core.mtl.nash_mtl import NashMTL
from core.mtl.nsgd import NormalisedGradients
from core.mtl.orders import random_orders
from core.mtl.pcgrad import PCGrad
from core.mtl.rlw import RandomLossWeighting
from core.mtl.uncertainty import UncertaintyWeighting
from core.mtl.upgrad import UPGrad
from core.stacked.solvers import cagrad_weights_of_runs, min_norm_weights_of_runs

# weights (runs x K, float64) of the runs whose Gramians are given (runs x K x K, every
# row active), their methods in the same order, and whether each run's solver converged
BatchedWeights = Callable[[Tensor, Sequence[Method]], tuple[Tensor, list[bool]]]


def pcgrad(gramians: Tensor, methods: Sequence[Method]) -> tuple[Tensor, list[bool]]:
    """``PCGrad.combine_system``'s walk, every run's rows at once; each run's visiting
    orders drawn from its own instance's generator."""
    gramians = gramians.cpu()
    runs, k = gramians.shape[:2]
    orders = torch.stack([random_orders(k, cast(PCGrad, method).generator) for method in methods])
    coefficients = torch.eye(k, dtype=torch.float64).repeat(runs, 1, 1)
    run_index, rows = torch.arange(runs)[:, None], torch.arange(k)[None, :]
    for position in range(k - 1):
        others = orders[:, :, position]  # runs x K: the column row i looks at
        inner = (coefficients * gramians[run_index, others]).sum(dim=2)
        shift = torch.where(inner < 0, inner / gramians[run_index, others, others], 0.0)
        coefficients[run_index, rows, others] -= shift
    return coefficients.sum(dim=1), [True] * runs


# Fewer runs than this solve CAGrad's dual one by one: a lockstep iteration costs about
# 3.5 single ones in numpy calls (K = 12: 2 runs 0.59x, 4 runs 1.05x, 8 runs 1.72x the
# speed of the runs one by one), and both ways give the same weights.
CAGRAD_TOGETHER_FROM = 4


def cagrad(gramians: Tensor, methods: Sequence[Method]) -> tuple[Tensor, list[bool]]:
    """``CAGrad.combine_system``'s weights for each Gramian, every run with its instance's c,
    the dual's Frank-Wolfe steps of all the runs taken together."""
    cs = np.array([cast(CAGrad, method).c for method in methods])
    arrays = gramians.cpu().numpy()
    if len(methods) < CAGRAD_TOGETHER_FROM:
        alone = [cagrad_weights(gramian, c) for gramian, c in zip(arrays, cs, strict=True)]
        return torch.from_numpy(np.stack([w for w, _ in alone])), [done for _, done in alone]
    weights, converged = cagrad_weights_of_runs(arrays, cs)
    return torch.from_numpy(weights), converged.tolist()


def mgda_ub(gramians: Tensor, methods: Sequence[Method]) -> tuple[Tensor, list[bool]]:
    """``MGDAUB.combine_system``'s weights for each Gramian (``min_norm_weights_of_runs``)."""
    weights, converged = min_norm_weights_of_runs(gramians.cpu().numpy())
    return torch.from_numpy(weights), converged.tolist()


BATCHED_WEIGHTS: dict[type[Method], BatchedWeights] = {
    PCGrad: pcgrad,
    CAGrad: cagrad,
    MGDAUB: mgda_ub,
}

PER_RUN_WEIGHTED: tuple[type[Method], ...] = (
    AlignedMTL,
    DynamicWeightAverage,
    GradNorm,
    GradVac,
    IMTLG,
    NashMTL,
    NormalisedGradients,
    RandomLossWeighting,
    UncertaintyWeighting,
    UPGrad,
)


class GramianOnly:
    """``GradientRows`` known by their Gramian alone, for a method of ``PER_RUN_WEIGHTED``:
    ``mix`` gives an empty direction, which the caller replaces by the batched one."""

    def __init__(self, gramian: Tensor, width: int, dtype: torch.dtype):
        self._gramian = gramian
        self.shape = torch.Size((gramian.shape[0], width))
        self.dtype, self.device = dtype, gramian.device

    def gramian(self) -> Tensor:
        return self._gramian

    def mix(self, weights: Tensor) -> Tensor:
        return torch.empty(0, dtype=self.dtype, device=self.device)

    def rows(self) -> Tensor:
        raise NotImplementedError("these methods read only the Gramian")

    def dot(self, direction: Tensor) -> Tensor:
        raise NotImplementedError("these methods read only the Gramian")
