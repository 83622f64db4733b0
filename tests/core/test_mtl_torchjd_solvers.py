"""Our solver-based methods against TorchJD 0.18.0's: CAGrad (cvxpy + Clarabel), Nash-MTL
(cvxpy + ECOS) and UPGrad (quadprog). These need TorchJD's optional dependencies:
cvxpy==1.9.3, clarabel==0.11.1, ecos==2.0.14, quadprog==0.1.14, qpsolvers==4.13.0.

Each solves the same convex problem as ours with its own solver and tolerances, so the
comparisons allow for the reference solver's accuracy, and where the reference is known
to stop short (Nash-MTL's 20 convex-concave steps) we check that ours is at least as good
by the method's own defining criterion.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torchjd.aggregation as tjd
from scipy.optimize import linprog
from torchjd.linalg import QuadprogProjector

from core.mtl import make_method
from tests.core.mtl_jacobians import FAMILIES, SINGULAR, WELL_CONDITIONED, jacobians

PER_FAMILY = 13  # x 8 families = 104 Jacobians per method


def _combine(spec: str, grads: torch.Tensor, **options):
    return make_method(spec, **options).combine(grads, torch.zeros(len(grads), dtype=grads.dtype))


def _without_zero_rows(grads: torch.Tensor) -> torch.Tensor:
    return grads[grads.norm(dim=1) > 0]


def _origin_in_hull(grads: torch.Tensor) -> bool:
    """Whether some convex combination of the rows is 0 (a linear feasibility problem)."""
    k = len(grads)
    equalities = np.vstack([grads.numpy().T, np.ones((1, k))])
    target = np.append(np.zeros(grads.shape[1]), 1.0)
    return linprog(np.zeros(k), A_eq=equalities, b_eq=target, bounds=(0, None)).status == 0


@pytest.mark.parametrize("family", FAMILIES)
def test_cagrad_matches_torchjd_and_is_at_least_as_good(family):
    # CAGrad's direction maximises the worst column's improvement min_k g_k . d over the
    # ball |d - g0| <= c |g0|. TorchJD's norm_eps (1e-4 by default) declares the mean
    # gradient Pareto-stationary whenever |g_w| is small, e.g. with one tiny row; we pass
    # 1e-12 so it solves the problem. Where the mean truly is Pareto-stationary (0 in the
    # hull) TorchJD returns 0 and we keep the ball's centre g0, as the published code does.
    for _, grads in jacobians((family,), PER_FAMILY, seed=11):
        rows = _without_zero_rows(grads)  # zero rows sit out of our CAGrad
        ours = _combine("cagrad", grads, c=0.4).direction
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cvxpy's notes on its own solver choice
            theirs = tjd.CAGrad(c=0.4, norm_eps=1e-12)(rows)
        centre = rows.mean(dim=0)
        if theirs.norm() <= 1e-12 * rows.norm(dim=1).max():
            assert _origin_in_hull(rows)
            torch.testing.assert_close(ours, centre, rtol=0, atol=1e-12 * rows.norm(dim=1).max().item())
            continue
        radius = 0.4 * centre.norm()
        assert abs((ours - centre).norm() - radius) <= 1e-9 * radius
        worst_ours, worst_theirs = (rows @ ours).min(), (rows @ theirs).min()
        scale = rows.norm(dim=1).max() * (centre.norm() + radius)
        assert worst_ours >= worst_theirs - 1e-9 * scale
        assert (ours - theirs).norm() <= 2e-3 * theirs.norm()


def _bargaining_residual(weights: torch.Tensor, grads: torch.Tensor) -> float:
    """max_i |a_i (M a)_i - 1|: how far a is from Nash-MTL's defining equations."""
    return (weights * (grads @ grads.T @ weights) - 1).abs().max().item()


@pytest.mark.parametrize("family", FAMILIES)
def test_nash_mtl_matches_torchjd_where_it_converges_and_never_does_worse(family):
    # The equations a_i (M a)_i = 1 have a solution exactly when 0 is not a convex
    # combination of the rows (else a^T M a / 2 - sum log a is unbounded below). TorchJD's
    # max_norm=0 turns off its clipping of the result (we leave scale to the caller). Its 20
    # convex-concave steps do not always converge (a tiny row, say); there we check that our
    # weights satisfy the equations at least as well as its weights do.
    for _, grads in jacobians((family,), 15, seed=12):  # 15: some have no solution
        rows = _without_zero_rows(grads)
        ours = _combine("nash-mtl", grads)
        assert torch.isfinite(ours.direction).all() and torch.isfinite(ours.weights).all()
        if _origin_in_hull(rows):
            continue  # no solution to compare; finiteness is all there is to check
        reference = tjd.NashMTL(n_tasks=len(rows), max_norm=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # cvxpy's note that the problem is not DPP
            theirs = reference(rows)
        their_weights = torch.from_numpy(np.asarray(reference.weighting.prvs_alpha, dtype=np.float64))
        our_residual = _bargaining_residual(ours.weights[grads.norm(dim=1) > 0], rows)
        their_residual = _bargaining_residual(their_weights, rows)
        assert our_residual <= min(1e-6, their_residual + 1e-8)
        if their_residual <= 1e-5:
            assert (ours.direction - theirs).norm() <= 1e-5 * theirs.norm()


@pytest.mark.parametrize("family", FAMILIES)
def test_upgrad_is_torchjd_upgrad(family):
    # TorchJD's quadprog projector regularises the normalised Gramian (reg_eps, 1e-4 by
    # default); with 0 the two solve the same QPs exactly. quadprog needs a positive definite
    # Gramian, so singular families get reg_eps = 1e-12 (a 1e-12 relative perturbation), and
    # zero rows (which constrain nothing) are dropped from TorchJD's input, its mean weights
    # 1/(K-1) rescaled to our 1/K.
    for _, grads in jacobians((family,), PER_FAMILY, seed=13):
        ours = _combine("upgrad", grads).direction
        rows = _without_zero_rows(grads)
        regularisation = 1e-12 if family in SINGULAR else 0.0
        theirs = tjd.UPGrad(projector=QuadprogProjector(reg_eps=regularisation))(rows)
        theirs = theirs * len(rows) / len(grads)
        scale = max(theirs.norm().item(), grads.norm(dim=1).max().item())
        tolerance = 1e-7 if family in (*WELL_CONDITIONED, "zero_row") else 1e-6
        assert (ours - theirs).norm().item() <= tolerance * scale
