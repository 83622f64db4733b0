"""The methods on nearly dependent rows: nearly duplicated, nearly opposite and nearly zero,
at noise 1e-3 to 1e-8 (``mtl_jacobians.near_singular``).

What each method must do there is written in its module's docstring; this checks it three
ways: continuity as a row approaches a (positive or, where the definition allows, negative)
multiple of another; the method's defining property; and an independent solve -- the
least-squares solution with the documented cut-off (``mtl_references``), a primal QP, or
TorchJD 0.18 where it resolves the problem and cuts nothing (the reason is given where not).
"""

from __future__ import annotations

import warnings

import cvxpy
import numpy as np
import pytest
import quadprog
import torch
import torchjd.aggregation as tjd

from core.mtl import METHODS, make_method
from core.mtl.aligned_mtl import balance_transformation
from tests.core.mtl_jacobians import NEAR_SINGULAR, NOISES, approaches, near_singular
from tests.core.mtl_references import aligned_mtl_direction, imtl_g_direction, min_norm_by_slsqp

SPECS = [*METHODS, "imtl-g+pcgrad", "mgda-ub+graddrop", "aligned-mtl+gradvac", "upgrad+graddrop"]
# The exact definitions of these jump where two columns become exactly opposite (module
# docstrings): UPGrad's cone, Nash-MTL's equations (no solution once 0 is in the hull) and
# CAGrad's dual (g_w vanishes; the ball's centre is kept). They are checked by their
# defining properties below instead.
JUMP_AT_OPPOSITE = {"upgrad", "nash-mtl", "cagrad", "upgrad+graddrop"}
CASES = near_singular(NEAR_SINGULAR, 6, seed=41)


def _combine(spec: str, grads: torch.Tensor, **options):
    method = make_method(spec, generator=torch.Generator().manual_seed(0), **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # Nash-MTL's capped iterations: checked below
        return method.combine(grads, torch.ones(len(grads), dtype=grads.dtype))


def _scale(grads: torch.Tensor) -> float:
    return grads.norm(dim=1).max().item()


CONTINUOUS = [(spec, "near_duplicate") for spec in SPECS] + [
    (spec, "near_opposite") for spec in SPECS if spec not in JUMP_AT_OPPOSITE
]


@pytest.mark.parametrize("spec,kind", CONTINUOUS)
def test_direction_and_length_are_continuous_as_a_row_approaches_a_multiple_of_another(spec, kind):
    # Lipschitz in the noise: no jump in direction, none in length, from 1e-3 down to the limit.
    for approach in approaches(kind, 10, seed=31):
        limit = _combine(spec, approach.at(0.0)).direction
        scale = _scale(approach.at(0.0))
        for noise in NOISES:
            direction = _combine(spec, approach.at(noise)).direction
            assert (direction - limit).norm() <= 5 * noise * scale, (noise, direction, limit)


def test_imtl_g_is_the_least_squares_solution_with_the_documented_cut_off():
    for kind, noise, grads in CASES:
        ours = _combine("imtl-g", grads).direction
        assert (ours - imtl_g_direction(grads)).norm() <= 1e-9 * max(_scale(grads), ours.norm().item()), (kind, noise)


def test_imtl_g_projects_equally_on_every_unit_gradient_up_to_the_cut_difference():
    # Nearly duplicated columns count as one (their projections differ by the cut difference);
    # a nearly zero row is an independent column like any other, resolved exactly.
    for kind, noise, grads in CASES:
        if kind == "near_opposite":
            continue  # equal projections on two opposite unit gradients are impossible
        direction = _combine("imtl-g", grads).direction
        projections = grads @ direction / grads.norm(dim=1)
        spread = (projections - projections.mean()).abs().max()
        allowed = 1e-9 if kind == "near_zero" else 10 * noise
        assert projections.min() > 0 and spread <= allowed * projections.mean(), (kind, noise, projections)


def test_imtl_g_is_torchjd_where_its_pseudo_inverse_resolves_the_rows():
    # A nearly zero row is no dependence: both solve exactly. At 1e-8 TorchJD's pinv(M) cuts
    # that row's eigenvalue (1e-16 of the largest) and ours, on the cosines, does not; nearly
    # duplicated or opposite rows are solved exactly by TorchJD down to that cut, where ours
    # treats a difference below 1e-3 as none (see core/mtl/linalg.py).
    for kind, noise, grads in CASES:
        if kind != "near_zero" or noise < 1e-7:
            continue
        gramian = grads @ grads.T
        theirs = torch.sign((torch.linalg.pinv(gramian) @ gramian.diagonal().sqrt()).sum()) * tjd.IMTLG()(grads)
        assert (_combine("imtl-g", grads).direction - theirs).norm() <= 1e-7 * theirs.norm()


def test_aligned_mtl_matches_its_reference_from_the_svd_of_the_rows():
    for kind, noise, grads in CASES:
        # (The step's length is sigma_min, 1e-8 of the rows' for a nearly zero row at 1e-8:
        # both are accurate to 1e-16 of the rows, not of the step.)
        ours = _combine("aligned-mtl", grads).direction
        reference = aligned_mtl_direction(grads)
        assert (ours - reference).norm() <= 1e-8 * reference.norm() + 1e-15 * _scale(grads), (kind, noise)


def test_aligned_mtl_equalises_every_kept_singular_value():
    # Below the cut-off the near dependence is gone and every other singular value of the
    # aligned system B G equals the smallest kept one of G; a nearly zero row is kept, so all
    # K equal sigma_min(G), however small (numpy's SVD of the rows is the reference).
    for kind, _, grads in CASES:
        balance = balance_transformation(grads @ grads.T)
        aligned = np.linalg.svd((balance @ grads).numpy(), compute_uv=False)
        singular = np.linalg.svd(grads.numpy(), compute_uv=False)
        if kind == "near_zero":
            np.testing.assert_allclose(aligned, singular[-1], rtol=1e-6)
        else:
            kept = aligned[aligned > 1e-6 * aligned.max()]
            assert len(kept) == len(grads) - 1
            np.testing.assert_allclose(kept, singular[-2], rtol=1e-6)


def test_aligned_mtl_is_torchjd_where_torchjd_resolves_the_rows():
    # TorchJD takes M's eigenvalues from eigh(M), which cannot resolve a row smaller than
    # about 1e-5 of the largest (its eigenvalue is then below 1e-10 of the largest, eigh's
    # error 1e-16); ours comes from the rows' scales and the cosines and resolves every size.
    for kind, noise, grads in CASES:
        if kind != "near_zero" or noise < 1e-5:
            continue
        theirs = tjd.AlignedMTL()(grads)
        assert (_combine("aligned-mtl", grads).direction - theirs).norm() <= 1e-5 * theirs.norm()


def test_mgda_ub_is_the_min_norm_point_on_near_singular_rows():
    for kind, noise, grads in CASES:
        combination = _combine("mgda-ub", grads)
        weights, direction = combination.weights, combination.direction
        tolerance = 1e-9 * _scale(grads) ** 2
        assert combination.converged and (weights >= 0).all() and abs(weights.sum().item() - 1) <= 1e-12
        along, squared = grads @ direction, direction @ direction
        assert (along >= squared - tolerance).all(), (kind, noise)
        assert squared <= min_norm_by_slsqp((grads @ grads.T).numpy()) + tolerance
        theirs = tjd.MGDA(epsilon=1e-5, max_iters=500)(grads)
        assert (theirs - direction).norm() ** 2 <= theirs.norm() ** 2 - squared + tolerance


def _project(point: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """argmin |x - point|^2 s.t. rows @ x >= 0: quadprog, or cvxpy where quadprog's dual
    active set gives up on nearly parallel constraints."""
    try:
        return quadprog.solve_qp(np.eye(len(point)), point, rows.T, np.zeros(len(rows)))[0]
    except ValueError:
        x = cvxpy.Variable(len(point))
        cvxpy.Problem(cvxpy.Minimize(cvxpy.sum_squares(x - point)), [rows @ x >= 0]).solve(
            solver=cvxpy.CLARABEL, tol_gap_abs=1e-14, tol_gap_rel=1e-14, tol_feas=1e-14
        )
        return np.asarray(x.value)


def _upgrad_by_primal_qp(grads: torch.Tensor) -> np.ndarray:
    """Sum over i of argmin |x - g_i / K|^2 s.t. G x >= 0, in the rows' own space."""
    rows = grads.numpy()
    return sum(_project(rows[i] / len(rows), rows) for i in range(len(rows)))


def test_upgrad_is_the_primal_projection_as_far_as_the_gramian_resolves_it():
    # Nearly opposite columns need weights of 1 / noise in the Gramian's coordinates, so its
    # rounding (1e-16) limits the accuracy to about 1e-16 / noise^2 there; elsewhere it is exact.
    for kind, noise, grads in CASES:
        ours = _combine("upgrad", grads).direction
        resolution = 1e-14 / noise**2 if kind == "near_opposite" else 0.0
        if resolution > 1e-3:
            continue  # not resolved: the property checks below still hold
        expected = torch.from_numpy(_upgrad_by_primal_qp(grads))
        assert (ours - expected).norm() <= max(1e-8, resolution) * _scale(grads), (kind, noise)


def test_upgrad_conflicts_with_no_column_and_is_no_longer_than_the_mean_row():
    # Up to the Gramian's resolution of a nearly opposite pair: its eigenvector, at rounding
    # 1e-16 / noise of the rows, orients the wedge.
    for kind, noise, grads in CASES:
        direction = _combine("upgrad", grads).direction
        resolution = 1e-15 / noise if kind == "near_opposite" else 0.0
        assert (grads @ direction).min() >= -(1e-9 + resolution) * _scale(grads) ** 2, (kind, noise)
        assert direction.norm() <= grads.norm(dim=1).mean() * (1 + 1e-9)


def test_cagrad_is_on_its_ball_and_optimal_by_duality():
    # Where the hull nearly contains 0 (nearly opposite columns) the dual's Frank-Wolfe
    # crawls and can stop at its cap; the result then says so, and is checked only for that.
    # Such a pair's eigenvalue is noise^2 / 2, resolved to 1e-16 / noise^2 by the cosines;
    # below 1e-6 ||g_w|| is not resolved (the worst improvement is checked against TorchJD's).
    for kind, noise, grads in CASES:
        combination = _combine("cagrad", grads)
        if not combination.converged:
            assert kind == "near_opposite", (kind, noise)
            continue
        if kind == "near_opposite" and noise < 1e-6:
            continue
        centre = grads.mean(dim=0)
        radius = 0.4 * centre.norm()
        weights = combination.weights - 1 / len(grads)
        if weights.abs().sum() <= 1e-12:
            continue  # g_w vanished: the centre is kept
        hull_point = (weights / weights.sum()) @ grads
        dual = hull_point @ centre + radius * hull_point.norm()
        primal = (grads @ combination.direction).min()
        resolution = 1e-15 / noise**2 if kind == "near_opposite" else 0.0
        assert abs((combination.direction - centre).norm() - radius) <= (1e-9 + resolution) * radius, (kind, noise)
        assert -1e-9 * _scale(grads) ** 2 <= dual - primal <= (1e-8 + resolution) * _scale(grads) ** 2, (kind, noise)


def test_cagrad_is_torchjd_where_the_mean_is_not_nearly_pareto_stationary():
    # Below 1e-6, two nearly opposite columns put the hull within rounding of 0: our dual's
    # g_w is resolved from the cosines, TorchJD's cvxpy solve stops short, and ours has the
    # larger worst improvement (checked). Elsewhere both solve the same problem, to
    # TorchJD's solver accuracy.
    for kind, noise, grads in CASES:
        ours = _combine("cagrad", grads).direction
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = tjd.CAGrad(c=0.4, norm_eps=1e-12)(grads)
        if kind == "near_opposite" and noise < 1e-6:
            assert (grads @ ours).min() >= (grads @ theirs).min() - 1e-9 * _scale(grads) ** 2
        else:
            assert (ours - theirs).norm() <= 2e-3 * theirs.norm(), (kind, noise)


def test_nash_mtl_solves_its_equations_or_says_it_stopped_at_its_cap():
    # Nearly opposite columns bring 0 close to the hull, where the solution's weights grow
    # as 1 / noise and the Newton steps of one call run out: the result says so.
    for kind, noise, grads in CASES:
        combination = _combine("nash-mtl", grads)
        residual = (combination.weights * (grads @ grads.T @ combination.weights) - 1).abs().max().item()
        assert torch.isfinite(combination.direction).all()
        if combination.converged:
            # To the Newton decrement (1e-10 in the gradient), amplified by the weights on the
            # cosines, which grow as 1 / noise for nearly opposite columns.
            cosine_weights = combination.weights * grads.norm(dim=1)
            assert residual <= 1e-9 * max(1.0, cosine_weights.max().item()), (kind, noise)
        else:
            assert kind == "near_opposite" and residual > 1e-8, (kind, noise, residual)


def test_nsgd_scales_every_nonzero_row_to_the_mean_norm():
    for _, _, grads in CASES:
        norms = grads.norm(dim=1)
        torch.testing.assert_close(_combine("nsgd", grads).weights, norms.mean() / norms, rtol=1e-12, atol=0)


def test_imtl_g_gives_no_direction_for_two_nearly_opposite_columns():
    # Their unit gradients (nearly) sum to 0: no direction improves both, and below the
    # cut-off the weights are 0 as for exactly opposite columns (the reached share of the
    # equal-projection target fades to 0 with it, continuously).
    rng = np.random.default_rng(5)
    for _ in range(10):
        row, offset = rng.standard_normal(6), rng.standard_normal(6)
        multiple = -rng.uniform(0.5, 2.0)
        for noise in (*NOISES, 0.0):
            grads = torch.from_numpy(np.vstack([row, multiple * row + noise * abs(multiple) * offset]))
            direction = _combine("imtl-g", grads).direction
            assert direction.norm() <= 1e-9 * _scale(grads), (noise, direction)


def test_cagrad_keeps_the_centre_when_g_w_vanishes_to_rounding():
    # c = 1 and 0 in the hull (two opposite rows): the dual's minimum is at g_w = 0, which the
    # solver reaches only to rounding; dividing by that rounding gave weights of 1e15 and a
    # direction off the ball. Vanished, the centre is kept (the documented convention).
    grads = torch.tensor([[0.25, 0.0], [-0.25, 0.0], [0.5, 0.0], [0.0, 0.25]], dtype=torch.float64)
    combination = _combine("cagrad", grads, c=1.0)
    torch.testing.assert_close(combination.weights, torch.full((4,), 0.25, dtype=torch.float64))
    torch.testing.assert_close(combination.direction, grads.mean(dim=0))
