"""Methods applied to the runs that share them at once, on R x K x K Gramians.

Each function of ``BATCHED_WEIGHTS`` is a method of ``core.mtl`` with a leading run
axis: the same operations in the same order, so every run's weights are bit for bit
those the method gives the run alone (the equality tests check it). Where the single
method branches on the data (a Gramian that is not safely invertible, a zero row, an
active set that needs more than its first solve), the runs that take the other branch
are handed to the single method itself. Randomness comes from each run's own instance's
generator, drawn as it draws; state (Nash-MTL's warm start) is each instance's own. The
iterative solvers' batched forms (CAGrad's Frank-Wolfe, MGDA-UB's first solve) are in
``core.stacked.solvers``; Nash-MTL's Newton steps and UPGrad's spectra are here.

The methods of ``GRAMIAN_WEIGHTED`` keep state between steps or read the losses
(GradNorm, GradVac, DWA, uncertainty weighting) or are too cheap to batch (NSGD, RLW), so
each run's instance works on its own Gramian; they read nothing of the gradients but the
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

from core.mtl.aligned_mtl import _RESOLVED_RTOL, AlignedMTL, balance_factors, balanced
from core.mtl.base import Method
from core.mtl.cagrad import CAGrad, cagrad_weights
from core.mtl.dwa import DynamicWeightAverage
from core.mtl.gradnorm import GradNorm
from core.mtl.gradvac import GradVac
from core.mtl.imtl_g import _SMALL_SUM_RTOL, IMTLG, imtl_g_weights
from core.mtl.linalg import INDEPENDENT_ABOVE, dependence_filter
from core.mtl.mgda import MGDAUB
from core.mtl.nash_mtl import DECREMENT_TOL, FULL_STEP_DECREMENT, NashMTL
from core.mtl.nsgd import NormalisedGradients
from core.mtl.orders import random_orders
from core.mtl.pcgrad import PCGrad
from core.mtl.rlw import RandomLossWeighting
from core.mtl.uncertainty import UncertaintyWeighting
from core.mtl.upgrad import _ROUNDING_RTOL as _UPGRAD_ROUNDING_RTOL
from core.mtl.upgrad import UPGrad, _multipliers
from core.stacked.solvers import cagrad_weights_of_runs, min_norm_weights_of_runs

# weights (runs x K, float64) of the runs whose Gramians are given (runs x K x K, every
# row active), their methods in the same order, and whether each run's solver converged
BatchedWeights = Callable[[Tensor, Sequence[Method]], tuple[Tensor, list[bool]]]


def _cosines(gramians: Tensor) -> tuple[Tensor, Tensor]:
    """``linalg.cosine_matrix`` of each Gramian."""
    norms = gramians.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt()
    return gramians / norms[:, :, None] / norms[:, None, :], norms


def imtl_g(gramians: Tensor, methods: Sequence[Method]) -> tuple[Tensor, list[bool]]:
    """``imtl_g_weights`` of each Gramian. ``filtered_pinv``'s Cholesky inverse is taken for
    all runs at once; a run whose cosine matrix it does not provably invert whole (nearly
    dependent columns) gets its weights from the single function."""
    cosines, norms = _cosines(gramians)
    factors, info = torch.linalg.cholesky_ex(cosines)
    # a run whose factorisation failed goes to the single function; its factor is replaced
    # by the identity so that the batched inverse does not fail on it
    failed = info != 0
    eye = torch.eye(factors.shape[1], dtype=factors.dtype, device=factors.device)
    inverses = torch.cholesky_inverse(torch.where(failed[:, None, None], eye, factors))
    bounds = torch.linalg.matrix_norm(cosines) * torch.linalg.matrix_norm(inverses)
    whole = ((info == 0) & torch.isfinite(bounds) & (bounds * INDEPENDENT_ABOVE**2 <= 1)).tolist()
    pinvs = (inverses + inverses.transpose(1, 2)) / 2
    coefficients = pinvs.sum(dim=2)
    products = torch.stack([c @ v for c, v in zip(cosines.unbind(0), coefficients.unbind(0), strict=True)])
    reached = dependence_filter(products.norm(dim=1) / coefficients.shape[1] ** 0.5)
    raw = coefficients / norms
    size = raw.abs().sum(dim=1)
    scale = torch.maximum(raw.sum(dim=1).abs(), _SMALL_SUM_RTOL * size)
    weights = torch.where((size == 0)[:, None], raw, reached[:, None] * raw / scale[:, None])
    for r, kept_whole in enumerate(whole):
        if not kept_whole:
            weights[r] = imtl_g_weights(gramians[r])
    return weights, [True] * len(weights)


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


def aligned_mtl(gramians: Tensor, methods: Sequence[Method]) -> tuple[Tensor, list[bool]]:
    """``AlignedMTL.combine_system``'s weights for each Gramian, from one batched ``eigh``.
    A run whose smallest eigenvalue is not resolved, or that cuts a direction, takes the
    single method's path (``balance_factors``); the others keep every direction whole, where
    B is s W diag(1 / sigma) W^T."""
    runs, k = gramians.shape[:2]
    preference = torch.full((k,), 1.0 / k, dtype=torch.float64, device=gramians.device)
    values, vectors = torch.linalg.eigh(gramians)
    resolved = (values[:, 0] > _RESOLVED_RTOL * values[:, -1]).tolist()
    weights = torch.empty(runs, k, dtype=torch.float64, device=gramians.device)
    all_norms = gramians.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt()  # as cosine_matrix forms them
    for r in range(runs):
        if resolved[r]:
            norms = all_norms[r]
            left, singular = vectors[r].flip(1), values[r].flip(0).sqrt()
            share = singular.square() / (norms[:, None] * left).square().sum(dim=0)
            if share.min() >= INDEPENDENT_ABOVE**2 * len(share):
                keep = torch.ones_like(share)
                lifted = (keep * singular.log() + (1 - keep) * singular[0].log()).exp()
                # contiguous, as the single path's kept directions are (eigh's come column-major)
                weights[r] = balanced(left.contiguous(), lifted.min() * (keep / lifted), preference)
                continue
        weights[r] = balanced(*balance_factors(gramians[r]), preference)
    return weights, [True] * runs


def nash_mtl(gramians: Tensor, methods: Sequence[Method]) -> tuple[Tensor, list[bool]]:
    """``NashMTL.combine_system``'s weights for each Gramian, every run's Newton steps from its
    own instance's warm start and to its own cap, the solves batched over the runs still
    stepping. The products C b and the decrements are taken per run: a batched product
    rounds otherwise than ``bargaining_weights``'s, and near a dependence the decrement
    hovers at its rounding, where another rounding changes when a run stops."""
    nash = cast(Sequence[NashMTL], methods)
    cosines, norms = _cosines(gramians.cpu())
    every = torch.ones(gramians.shape[1], dtype=torch.bool)
    weights = torch.stack([method.start(every) for method in nash])
    converged = [False] * len(nash)
    stepping = list(range(len(nash)))
    for step_number in range(max(method.iterations for method in nash)):
        stepping = [r for r in stepping if step_number < nash[r].iterations]
        if not stepping:
            break
        matrices, current = cosines[stepping], weights[stepping]
        gradient = torch.stack([c @ w for c, w in zip(matrices, current, strict=True)]) - 1 / current
        # contiguous rows, as a run alone has its step (the batched solve returns them strided)
        step = -torch.linalg.solve(matrices + torch.diag_embed(current**-2), gradient).contiguous()
        decrements = [max(float(-(g @ s)), 0.0) ** 0.5 for g, s in zip(gradient, step, strict=True)]
        moving = [i for i, decrement in enumerate(decrements) if decrement**2 / 2 >= DECREMENT_TOL]
        for i, decrement in enumerate(decrements):
            converged[stepping[i]] = decrement**2 / 2 < DECREMENT_TOL
        # damped as ``bargaining_weights`` damps, by a Python float (a broadcast divisor rounds otherwise)
        steps = [step[i] if decrements[i] < FULL_STEP_DECREMENT else step[i] / (1 + decrements[i]) for i in moving]
        if moving:
            weights[[stepping[i] for i in moving]] = current[moving] + torch.stack(steps)
        stepping = [stepping[i] for i in moving]
    for method, solution in zip(nash, weights.unbind(0), strict=True):
        method.keep(solution, every)
    return weights / norms, converged


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


def upgrad(gramians: Tensor, methods: Sequence[Method]) -> tuple[Tensor, list[bool]]:
    """``UPGrad.combine_system``'s weights for each Gramian (``upgrad.dual_cone_weights``): the
    spectra and the rows in the span's coordinates of all runs at once; the projections of
    the columns in conflict, one NNLS problem each, and each run's last product per run."""
    gramians = gramians.cpu()
    runs, k = gramians.shape[:2]
    cosines, norms = _cosines(gramians)
    values, vectors = torch.linalg.eigh(cosines)
    values = torch.where(values > _UPGRAD_ROUNDING_RTOL * values.max(dim=1, keepdim=True).values, values, 0.0)
    rows = (norms[:, :, None] * vectors * values.sqrt()[:, None, :]).numpy()
    totals = rows.sum(axis=1) / k
    converged = [True] * runs
    for r, i in zip(*np.nonzero((gramians < 0).any(dim=1).numpy()), strict=True):
        multipliers, solved = _multipliers(rows[r].T, -rows[r, i] / k)
        totals[r] += rows[r].T @ multipliers
        converged[r] = converged[r] and solved
    inverse_roots = torch.where(values > 0, values.clamp_min(1e-300).rsqrt(), 0.0)
    projected = inverse_roots * torch.from_numpy(totals)
    weights = torch.stack([v @ t for v, t in zip(vectors, projected, strict=True)]) / norms
    # as ``UPGrad.combine_system`` scales them to the active columns' share (all of them here)
    return weights * torch.tensor(k) / k, converged


def mgda_ub(gramians: Tensor, methods: Sequence[Method]) -> tuple[Tensor, list[bool]]:
    """``MGDAUB.combine_system``'s weights for each Gramian (``min_norm_weights_of_runs``)."""
    weights, converged = min_norm_weights_of_runs(gramians.cpu().numpy())
    return torch.from_numpy(weights), converged.tolist()


BATCHED_WEIGHTS: dict[type[Method], BatchedWeights] = {
    IMTLG: imtl_g,
    PCGrad: pcgrad,
    AlignedMTL: aligned_mtl,
    NashMTL: nash_mtl,
    CAGrad: cagrad,
    UPGrad: upgrad,
    MGDAUB: mgda_ub,
}

GRAMIAN_WEIGHTED: tuple[type[Method], ...] = (
    DynamicWeightAverage,
    GradNorm,
    GradVac,
    NormalisedGradients,
    RandomLossWeighting,
    UncertaintyWeighting,
)


class GramianOnly:
    """``GradientRows`` known by their Gramian alone, for a method of ``GRAMIAN_WEIGHTED``:
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
