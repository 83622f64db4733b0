"""Defining properties of the multi-task methods, on hypothesis-drawn and seeded Jacobians.

Each property is what the method's paper says its direction is, checked by an independent
computation (scipy, numpy's SVD, a plain vector loop) rather than by our own formulas.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.mtl import METHODS, combine_gradients, make_method
from core.mtl.orders import random_orders
from tests.core.mtl_jacobians import FAMILIES, jacobians
from tests.core.mtl_references import in_the_ramp, min_norm_by_slsqp

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def small_jacobians(draw, min_rows: int = 2, max_rows: int = 6) -> torch.Tensor:
    """K x d float64 with entries in quarter steps (exact Gramians), rows of any sign."""
    k = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(2, 9))
    entries = draw(st.lists(st.integers(-12, 12), min_size=k * d, max_size=k * d))
    return torch.tensor(entries, dtype=torch.float64).reshape(k, d) / 4


def _combine(spec: str, grads: torch.Tensor, seed: int = 0, **options):
    method = make_method(spec, generator=torch.Generator().manual_seed(seed), **options)
    return method.combine(grads, torch.zeros(len(grads), dtype=grads.dtype))


def _scale(grads: torch.Tensor) -> float:
    return max(grads.norm(dim=1).max().item(), 1e-300)


def _active(grads: torch.Tensor) -> torch.Tensor:
    return grads.norm(dim=1) > 0


# --- MGDA-UB: the min-norm point of the convex hull ------------------------------------


def _check_min_norm_point(grads: torch.Tensor) -> None:
    combination = _combine("mgda-ub", grads)
    active = _active(grads)
    if not active.any():
        assert combination.direction.norm() == 0
        return
    rows, weights, direction = grads[active], combination.weights[active], combination.direction
    tolerance = 1e-9 * _scale(grads) ** 2
    assert (weights >= 0).all() and abs(weights.sum().item() - 1) <= 1e-12
    along = rows @ direction
    squared = direction @ direction
    # KKT of min ||G^T w||^2 on the simplex: every row at least ||d||^2 along d (so no
    # column is hurt: <d, g_k> >= 0), with equality for the rows that carry weight.
    assert (along >= squared - tolerance).all()
    assert (along[weights > 1e-9] <= squared + tolerance).all()
    # Independently: no point scipy finds on the simplex is shorter.
    assert squared <= min_norm_by_slsqp((rows @ rows.T).numpy()) + tolerance


@SETTINGS
@given(small_jacobians())
def test_mgda_ub_is_the_min_norm_point_on_drawn_jacobians(grads):
    _check_min_norm_point(grads)


def test_mgda_ub_is_the_min_norm_point_on_every_family():
    for _, grads in jacobians(FAMILIES, 5, seed=21):
        _check_min_norm_point(grads)


def test_mgda_ub_keeps_its_weights_unclipped():
    # The published code's min(w, 1e-3) made all weights 1e-3; ours are the minimiser's.
    grads = torch.tensor([[1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    # min over t of ||(t, 3 (1 - t))||: t = 9/10
    torch.testing.assert_close(_combine("mgda-ub", grads).weights, torch.tensor([0.9, 0.1], dtype=torch.float64))


# --- IMTL-G: equal projections on the unit gradients -----------------------------------


@SETTINGS
@given(small_jacobians())
def test_imtl_g_projects_equally_and_positively_on_every_unit_gradient(grads):
    if np.linalg.matrix_rank(grads.numpy()) < len(grads) or in_the_ramp(grads):
        # Equal projections need independent rows (the singular case is in test_mtl_torchjd),
        # and rows not within the cut-off of dependence (test_mtl_near_singular).
        return
    direction = _combine("imtl-g", grads).direction
    projections = grads @ direction / grads.norm(dim=1)
    assert projections.min() > 0
    torch.testing.assert_close(projections, projections.mean().expand_as(projections), rtol=1e-9, atol=0)


def test_imtl_g_matches_the_papers_closed_form_by_hand():
    # g1 = (1, 0), g2 = (1, sqrt 3) (norm 2, at 60 degrees). With weights (a, 1 - a) the
    # direction is (1, (1 - a) sqrt 3); its projections are 1 on u1 and 1/2 + 3 (1 - a) / 2
    # on u2, equal for a = 2/3.
    grads = torch.tensor([[1.0, 0.0], [1.0, 3.0**0.5]], dtype=torch.float64)
    torch.testing.assert_close(_combine("imtl-g", grads).weights, torch.tensor([2 / 3, 1 / 3], dtype=torch.float64))


# --- PCGrad / GradVac against a plain vector loop ---------------------------------------


def _pcgrad_by_vectors(grads: torch.Tensor, orders: torch.Tensor) -> tuple[torch.Tensor, list]:
    """The paper's loop on the vectors themselves; also the (i, j, g_i' after) of each conflict."""
    projected, conflicts = [], []
    for i, order in enumerate(orders.tolist()):
        vector = grads[i].clone()
        for j in order:
            if vector @ grads[j] < 0 and grads[j] @ grads[j] > 0:
                vector = vector - (vector @ grads[j]) / (grads[j] @ grads[j]) * grads[j]
                conflicts.append((i, j, vector.clone()))
        projected.append(vector)
    return torch.stack(projected), conflicts


@SETTINGS
@given(small_jacobians(), st.integers(0, 10**6))
def test_pcgrad_is_the_sum_of_sequentially_projected_gradients(grads, seed):
    combination = _combine("pcgrad", grads, seed=seed)
    orders = random_orders(len(grads), torch.Generator().manual_seed(seed))
    projected, conflicts = _pcgrad_by_vectors(grads, orders)
    tolerance = 1e-10 * _scale(grads) ** 2
    torch.testing.assert_close(combination.direction, projected.sum(dim=0), rtol=0, atol=1e-10 * _scale(grads))
    # Each projection leaves g_i' orthogonal to the g_j it conflicted with.
    for _, j, after in conflicts:
        assert abs(after @ grads[j]) <= tolerance
    if len(grads) == 2:  # then no two projected gradients conflict
        assert projected[0] @ projected[1] >= -tolerance


def _gradvac_by_vectors(grads, orders, targets, beta):
    """GradVac's loop on vectors, from the paper's formula (targets updated in place)."""
    projected = []
    for i, order in enumerate(orders.tolist()):
        vector = grads[i].clone()
        for j in order:
            norm_i, norm_j = vector.norm(), grads[j].norm()
            cosine = vector @ grads[j] / (norm_i * norm_j) if norm_i * norm_j > 0 else torch.tensor(0.0)
            target = targets[i, j]
            if cosine < target and norm_j > 0 and target**2 < 1:
                vector = (
                    vector
                    + norm_i
                    * (target * (1 - cosine**2).sqrt() - cosine * (1 - target**2).sqrt())
                    / (norm_j * (1 - target**2).sqrt())
                    * grads[j]
                )
                # the correction brings the cosine exactly to the target
                assert abs(vector @ grads[j] / (vector.norm() * norm_j) - target) <= 1e-9
            targets[i, j] = (1 - beta) * target + beta * cosine
        projected.append(vector)
    return torch.stack(projected)


def test_gradvac_is_the_sum_of_sequentially_corrected_gradients_over_steps():
    rng = np.random.default_rng(22)
    for index, (_, grads) in enumerate(jacobians(FAMILIES, 4, seed=22)):
        method = make_method("gradvac", generator=torch.Generator().manual_seed(index), beta=0.5)
        replay = torch.Generator().manual_seed(index)
        targets = torch.zeros(len(grads), len(grads), dtype=torch.float64)
        for _ in range(3):
            step = grads + 0.3 * torch.from_numpy(rng.standard_normal(grads.shape))
            step[grads.norm(dim=1) == 0] = 0  # a zero row stays a zero row
            direction = method.combine(step, torch.zeros(len(step), dtype=step.dtype)).direction
            expected = _gradvac_by_vectors(step, random_orders(len(step), replay), targets, 0.5).sum(dim=0)
            torch.testing.assert_close(direction, expected, rtol=0, atol=1e-9 * _scale(step))


# --- UPGrad, CAGrad, Nash-MTL, Aligned-MTL -----------------------------------------------


@SETTINGS
@given(small_jacobians())
def test_upgrad_conflicts_with_no_column(grads):
    direction = _combine("upgrad", grads).direction
    assert (grads @ direction >= -1e-9 * _scale(grads) ** 2).all()


@SETTINGS
@given(small_jacobians(), st.sampled_from([0.1, 0.4, 1.0]))
def test_cagrad_direction_is_optimal_by_duality(grads, c):
    # d is on the ball |d - g0| = c |g0| and min_k g_k . d equals the dual value
    # g_w . g0 + c |g0| |g_w| at the weights w = (weights - 1/K) / sum(...): no better d exists.
    rows = grads[_active(grads)]
    combination = _combine("cagrad", grads, c=c)
    if len(rows) == 0:
        return
    centre = rows.mean(dim=0)
    radius = c * centre.norm()
    weights = combination.weights[_active(grads)] - 1 / len(rows)
    direction = combination.direction
    scale = _scale(grads) ** 2
    if weights.abs().sum() <= 1e-12 or radius <= 1e-12 * _scale(grads):
        torch.testing.assert_close(direction, centre)  # the centre is kept
        return
    hull_point = (weights / weights.sum()) @ rows
    dual = hull_point @ centre + radius * hull_point.norm()
    primal = (rows @ direction).min()
    assert abs((direction - centre).norm() - radius) <= 1e-9 * radius
    assert -1e-9 * scale <= dual - primal <= 1e-8 * scale


@SETTINGS
@given(small_jacobians())
def test_nash_mtl_weights_solve_the_bargaining_equations(grads):
    rows = grads[_active(grads)]
    weights = _combine("nash-mtl", grads).weights[_active(grads)]
    k = len(rows)
    if k == 0:
        return
    # A solution exists iff no convex combination of the rows is 0 (scipy's linprog decides).
    origin_in_hull = (
        scipy.optimize.linprog(
            np.zeros(k),
            A_eq=np.vstack([rows.numpy().T, np.ones((1, k))]),
            b_eq=np.append(np.zeros(rows.shape[1]), 1),
            bounds=(0, None),
        ).status
        == 0
    )
    assert torch.isfinite(weights).all()
    if not origin_in_hull:
        assert (weights > 0).all()
        torch.testing.assert_close(
            weights * (rows @ rows.T @ weights), torch.ones(k, dtype=torch.float64), rtol=0, atol=1e-6
        )


def test_aligned_mtl_is_the_mean_of_the_svd_aligned_rows():
    # G = U S V^T; the aligned system is s_min U V^T (all singular values s_min), averaged.
    for _, grads in jacobians(("gaussian", "conflicting", "scaled"), 10, seed=23):
        u, s, vt = np.linalg.svd(grads.numpy(), full_matrices=False)
        expected = torch.from_numpy(s.min() * (u @ vt).mean(axis=0))
        torch.testing.assert_close(_combine("aligned-mtl", grads).direction, expected, rtol=1e-8, atol=1e-10)


# --- every method ----------------------------------------------------------------------

ALL_SPECS = [*METHODS, "imtl-g+pcgrad", "mgda-ub+graddrop", "gradnorm+gradvac", "nsgd+none"]


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_weights_reproduce_the_direction_or_fit_it(spec):
    for index, (_, grads) in enumerate(jacobians(FAMILIES, 3, seed=24)):
        method = make_method(spec, generator=torch.Generator().manual_seed(index))
        combination = method.combine(grads, torch.randn(len(grads), dtype=grads.dtype))
        assert torch.isfinite(combination.direction).all() and torch.isfinite(combination.weights).all()
        fitted = combination.weights @ grads
        if method.exact_weights:
            torch.testing.assert_close(fitted, combination.direction, rtol=1e-12, atol=1e-12 * _scale(grads))
        else:  # least squares: the residual is orthogonal to every row
            residual = combination.direction - fitted
            assert (grads @ residual).abs().max() <= 1e-8 * _scale(grads) * (combination.direction.norm() + 1)


def test_none_is_the_plain_sum():
    for _, grads in jacobians(FAMILIES, 3, seed=25):
        combination = _combine("none", grads)
        torch.testing.assert_close(combination.direction, grads.sum(dim=0), rtol=1e-15, atol=1e-15)
        assert torch.equal(combination.weights, torch.ones(len(grads), dtype=grads.dtype))


def test_nsgd_brings_every_column_to_the_mean_norm():
    for _, grads in jacobians(FAMILIES, 3, seed=26):
        weights = _combine("nsgd", grads).weights
        norms = grads.norm(dim=1)
        active = norms > 0
        weighted = weights[active] * norms[active]
        torch.testing.assert_close(weighted, norms[active].mean().expand_as(weighted))
        assert (weights[~active] == 0).all()


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_rescaling_gives_the_plain_sums_norm_and_keeps_the_direction(spec):
    for index, (_, grads) in enumerate(jacobians(("gaussian", "conflicting", "scaled"), 3, seed=27)):
        losses = torch.randn(len(grads), dtype=grads.dtype)
        raw = combine_gradients(
            make_method(spec, generator=torch.Generator().manual_seed(index)), grads, losses, rescale=False
        )
        scaled = combine_gradients(make_method(spec, generator=torch.Generator().manual_seed(index)), grads, losses)
        torch.testing.assert_close(scaled.direction.norm(), grads.sum(dim=0).norm())
        factor = grads.sum(dim=0).norm() / raw.direction.norm()
        torch.testing.assert_close(scaled.direction, raw.direction * factor)
        torch.testing.assert_close(scaled.weights, raw.weights * factor)


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_all_zero_gradients_give_a_zero_direction(spec):
    grads = torch.zeros(4, 6, dtype=torch.float64)
    combination = combine_gradients(make_method(spec), grads, torch.randn(4, dtype=torch.float64))
    assert torch.equal(combination.direction, torch.zeros(6, dtype=torch.float64))
    assert torch.isfinite(combination.weights).all()


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_float32_gradients_give_float32_results_close_to_float64(spec):
    grads = jacobians(("conflicting",), 1, seed=28)[0][1]
    losses = torch.randn(len(grads), dtype=torch.float64)
    single = _combine_with(spec, grads.float(), losses.float())
    double = _combine_with(spec, grads, losses)
    assert single.direction.dtype == single.weights.dtype == torch.float32
    torch.testing.assert_close(single.direction.double(), double.direction, rtol=1e-4, atol=1e-4 * _scale(grads))


def _combine_with(spec, grads, losses):
    return make_method(spec, generator=torch.Generator().manual_seed(0)).combine(grads, losses)


def test_a_row_below_the_dtypes_resolution_beside_the_largest_is_not_a_task():
    from core.mtl.system import active_rows

    eps = torch.finfo(torch.float32).eps
    norms = torch.tensor([[1.0, 3 * eps, eps / 3, 0.0], [1e-6, 3e-6 * eps, 1e-6 * eps / 3, 1e-21]], dtype=torch.float64)
    # each system against its own largest row; 1e-21 squares to below float32's smallest normal
    assert active_rows(norms, torch.float32).tolist() == [[True, True, False, False], [True, True, False, False]]
    assert active_rows(norms[0], torch.float64).tolist() == [True, True, True, False]


@pytest.mark.parametrize("spec", ["imtl-g", "aligned-mtl", "nash-mtl", "upgrad", "nsgd", "mgda-ub", "cagrad", "pcgrad"])
def test_a_vanished_column_steers_nothing(spec):
    """A float32 column whose gradient is 1e-9 of the others' (a fitted binary column's saturated
    logits) gets the direction it would get at zero, and no more weight than the plain sum's 1
    (IMTL-G gave it 1e9)."""
    grads = jacobians(("gaussian",), 1, seed=5)[0][1].float()
    vanished, zeroed = grads.clone(), grads.clone()
    vanished[2] *= 1e-9
    zeroed[2] = 0
    losses = torch.zeros(len(grads))
    with_tiny = _combine_with(spec, vanished, losses)
    with_zero = _combine_with(spec, zeroed, losses)
    assert abs(float(with_tiny.weights[2])) <= 1
    torch.testing.assert_close(with_tiny.direction, with_zero.direction, rtol=1e-5, atol=1e-6 * _scale(grads))
