"""Our methods against TorchJD 0.18.0's aggregators, on 100+ random Jacobians per method.

Families (see ``mtl_jacobians``): well-conditioned, conflicting, scaled, tiny-norm rows,
rank-deficient, duplicated rows, more rows than dimensions, zero rows. Where a method
draws random numbers, TorchJD is fed the same draws (its calls to torch.randperm /
torch.rand / torch.randn are replaced for the duration of the call), so the comparison
is exact. Where conventions differ, the test says which and compares under ours.
The solver-based aggregators (CAGrad, Nash-MTL, UPGrad) are in test_mtl_torchjd_solvers.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
import torchjd.aggregation as tjd

from core.mtl import make_method
from core.mtl.orders import random_orders
from tests.core.mtl_jacobians import FAMILIES, SINGULAR, WELL_CONDITIONED, jacobians
from tests.core.mtl_references import imtl_g_direction, in_the_ramp

PER_FAMILY = 13  # x 8 families = 104 Jacobians per method


def _direction(spec: str, grads: torch.Tensor, seed: int = 0, **options) -> torch.Tensor:
    method = make_method(spec, generator=torch.Generator().manual_seed(seed), **options)
    return method.combine(grads, torch.zeros(len(grads), dtype=grads.dtype)).direction


def _assert_close(ours: torch.Tensor, theirs: torch.Tensor, grads: torch.Tensor, rtol: float) -> None:
    """||ours - theirs|| within rtol of the larger of ||theirs|| and the largest row norm."""
    scale = max(theirs.norm().item(), grads.norm(dim=1).max().item())
    assert (ours - theirs).norm().item() <= rtol * scale, (ours, theirs)


def _without_zero_rows(grads: torch.Tensor) -> torch.Tensor:
    return grads[grads.norm(dim=1) > 0]


@pytest.mark.parametrize("family", FAMILIES)
def test_none_is_torchjd_sum(family):
    for _, grads in jacobians((family,), PER_FAMILY, seed=1):
        _assert_close(_direction("none", grads), tjd.Sum()(grads), grads, 1e-14)


@pytest.mark.parametrize("family", (*WELL_CONDITIONED, "duplicated", "zero_row"))
def test_imtl_g_is_torchjd_imtlg_up_to_the_sign_convention(family):
    # TorchJD normalises the weights pinv(M) @ norms by their sum, we by its absolute value:
    # where the sum is negative, TorchJD's direction is ours reversed (every projection < 0).
    # Where the unit rows have a relative singular value below 1e-2 (one "conflicting" draw
    # here), our cut-off keeps part of that direction only and TorchJD's pinv all of it:
    # there the reference is the independent least-squares solve with our cut-off.
    for _, grads in jacobians((family,), 18, seed=2):
        if in_the_ramp(grads):
            _assert_close(_direction("imtl-g", grads), imtl_g_direction(grads), grads, 1e-9)
            continue
        gramian = grads @ grads.T
        weight_sum = (torch.linalg.pinv(gramian) @ gramian.diagonal().sqrt()).sum()
        theirs = torch.sign(weight_sum) * tjd.IMTLG()(grads)
        _assert_close(_direction("imtl-g", grads), theirs, grads, 1e-7)


@pytest.mark.parametrize("family", ("rank_deficient", "wide"))
def test_imtl_g_on_dependent_rows_is_the_least_squares_solution_on_the_cosines(family):
    # Here TorchJD's pinv(M) @ norms and our D^-1 pinv(C) 1 are different least-squares
    # solutions; ours: projections on the unit gradients = projection of 1 on range(C),
    # and no direction at all when that projection is 0 (the unit gradients sum to 0).
    for _, grads in jacobians((family,), 18, seed=3):
        norms = grads.norm(dim=1)
        unit = grads / norms[:, None]
        cosines = (unit @ unit.T).numpy()
        coefficients = scipy.linalg.lstsq(cosines, np.ones(len(grads)))[0]
        if np.linalg.norm(cosines @ coefficients) < 1e-8:
            expected = torch.zeros(grads.shape[1], dtype=grads.dtype)
        else:
            raw = torch.from_numpy(coefficients) / norms
            expected = raw / raw.sum().abs() @ grads
        _assert_close(_direction("imtl-g", grads), expected, grads, 1e-7)


@pytest.mark.parametrize("family", FAMILIES)
def test_mgda_ub_is_at_least_as_close_to_the_min_norm_point_as_torchjd_mgda(family):
    # TorchJD's MGDA is Frank-Wolfe, stopped when its step falls below epsilon; ours exact. Both
    # are points of the convex hull, and for the hull's min-norm point d* every hull point x
    # has ||x - d*||^2 <= ||x||^2 - ||d*||^2: that bounds how far TorchJD's point is from ours.
    for _, grads in jacobians((family,), PER_FAMILY, seed=4):
        rows = _without_zero_rows(grads)  # a zero row makes the hull's min-norm point 0
        ours = _direction("mgda-ub", grads)
        theirs = tjd.MGDA(epsilon=1e-5, max_iters=500)(rows)
        scale = rows.norm(dim=1).max().item() ** 2
        assert ours.norm() ** 2 <= theirs.norm() ** 2 + 1e-10 * scale
        assert (theirs - ours).norm() ** 2 <= theirs.norm() ** 2 - ours.norm() ** 2 + 1e-10 * scale


def _replaying(draws: list[torch.Tensor]):
    """A stand-in for a torch random function that returns ``draws`` in turn."""
    remaining = iter(draws)
    return lambda *args, **kwargs: next(remaining)


@pytest.mark.parametrize("family", FAMILIES)
def test_pcgrad_is_torchjd_pcgrad_with_the_same_orders(family, monkeypatch):
    for index, (_, grads) in enumerate(jacobians((family,), PER_FAMILY, seed=5)):
        k = len(grads)
        ours = _direction("pcgrad", grads, seed=index)
        orders = random_orders(k, torch.Generator().manual_seed(index))
        # TorchJD visits torch.randperm(K) for row i, skipping i: put i last.
        permutations = [torch.cat([orders[i], torch.tensor([i])]) for i in range(k)]
        with monkeypatch.context() as patch:
            patch.setattr(torch, "randperm", _replaying(permutations))
            theirs = tjd.PCGrad()(grads)
        _assert_close(ours, theirs, grads, 1e-12)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("leakage", (0.0, 0.3))
def test_graddrop_is_torchjd_graddrop_with_the_same_draws(family, leakage, monkeypatch):
    for index, (_, grads) in enumerate(jacobians((family,), 7, seed=6)):
        ours = _direction("graddrop", grads, seed=index, leakage=leakage)
        draws = torch.rand(grads.shape[1], generator=torch.Generator().manual_seed(index), dtype=grads.dtype)
        with monkeypatch.context() as patch:
            patch.setattr(torch, "rand", _replaying([draws]))
            theirs = tjd.GradDrop(leak=torch.full((len(grads),), leakage, dtype=grads.dtype))(grads)
        _assert_close(ours, theirs, grads, 1e-14)


def _gradvac_permutations(orders: torch.Tensor) -> list[torch.Tensor]:
    # TorchJD shuffles the list of the other rows by torch.randperm(K - 1): position t holds
    # the index, in that list, of the row our order visits t-th.
    return [torch.where(row > i, row - 1, row) for i, row in enumerate(orders)]


@pytest.mark.parametrize("family", WELL_CONDITIONED + SINGULAR)
def test_gradvac_is_torchjd_gradvac_over_several_steps(family, monkeypatch):
    # Three steps on the same columns so the cosine targets (the state) matter. TorchJD adds
    # eps to denominators; with eps = 0 both compute the same formula (zero rows are tested
    # in test_mtl_properties: TorchJD divides 0 by 0 there).
    rng = np.random.default_rng(7)
    for index, (_, grads) in enumerate(jacobians((family,), 15, seed=7)):
        generator = torch.Generator().manual_seed(index)
        ours = make_method("gradvac", generator=generator, beta=0.3)
        theirs = tjd.GradVac(beta=0.3, eps=0.0)
        replay = torch.Generator().manual_seed(index)
        for _ in range(3):
            step = grads + 0.5 * torch.from_numpy(rng.standard_normal(grads.shape))
            direction = ours.combine(step, torch.zeros(len(step), dtype=step.dtype)).direction
            permutations = _gradvac_permutations(random_orders(len(step), replay))
            with monkeypatch.context() as patch:
                patch.setattr(torch, "randperm", _replaying(permutations))
                expected = theirs(step)
            _assert_close(direction, expected, step, 1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_aligned_mtl_is_torchjd_aligned_mtl(family):
    for _, grads in jacobians((family,), PER_FAMILY, seed=8):
        _assert_close(_direction("aligned-mtl", grads), tjd.AlignedMTL()(grads), grads, 1e-7)


@pytest.mark.parametrize("family", FAMILIES)
def test_rlw_is_torchjd_random_with_the_same_draws(family, monkeypatch):
    for index, (_, grads) in enumerate(jacobians((family,), PER_FAMILY, seed=9)):
        ours = _direction("rlw", grads, seed=index)
        draws = torch.randn(len(grads), generator=torch.Generator().manual_seed(index), dtype=grads.dtype)
        with monkeypatch.context() as patch:
            patch.setattr(torch, "randn", _replaying([draws]))
            theirs = tjd.Random()(grads)
        _assert_close(ours, theirs, grads, 1e-14)
