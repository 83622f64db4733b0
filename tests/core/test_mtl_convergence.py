"""Solvers that stop at their iteration cap say so: ``Combination.converged`` is False and the
method warns once per instance (``warnings``, RuntimeWarning), never silently."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import nnls

import core.mtl.cagrad as cagrad
import core.mtl.upgrad as upgrad
from core.mtl import combine_gradients, make_method
from core.mtl.mgda import min_norm_weights
from core.mtl.simplex import pairwise_frank_wolfe

# Three columns with pairwise conflicts: every solver needs several steps.
GRADS = torch.tensor([[1.0, 0.2, 0.0], [-0.6, 1.0, 0.1], [0.1, -0.8, 1.0]], dtype=torch.float64)
LOSSES = torch.zeros(3, dtype=torch.float64)


def test_mgda_ub_reports_its_cap():
    gramian = (GRADS @ GRADS.T).numpy()
    exact, converged = min_norm_weights(gramian)
    capped, stopped = min_norm_weights(gramian, max_passes=0)
    assert converged and not stopped
    assert np.abs(capped - exact).max() > 1e-3  # the capped iterate is not the minimiser


def test_pairwise_frank_wolfe_reports_its_cap_and_its_convergence():
    target = np.array([0.2, 0.5, 0.3])

    def step(w, grad, toward, away, limit):  # exact line search for |w - target|^2
        direction = np.zeros(3)
        direction[toward], direction[away] = 1.0, -1.0
        return float(np.clip((target - w) @ direction / 2, 0, limit))

    def solve(cap):
        return pairwise_frank_wolfe(np.full(3, 1 / 3), lambda w: 2 * (w - target), step, lambda w, g: 1e-14, cap)

    weights, converged = solve(100)
    assert converged and np.allclose(weights, target)
    assert not solve(1)[1]


def test_cagrad_reports_its_cap(monkeypatch):
    gramian = (GRADS @ GRADS.T).numpy()
    assert cagrad.cagrad_weights(gramian, 0.4)[1]
    assert not cagrad.cagrad_weights(gramian, 0.4, max_iterations=1)[1]
    original = cagrad.cagrad_weights
    monkeypatch.setattr(cagrad, "cagrad_weights", lambda g, c: original(g, c, max_iterations=1))
    with pytest.warns(RuntimeWarning, match="'cagrad': its solver stopped at its iteration cap"):
        assert not make_method("cagrad").combine(GRADS, LOSSES).converged


def test_nash_mtl_reports_its_cap_and_warns_once_per_instance():
    method = make_method("nash-mtl", iterations=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = method.combine(GRADS, LOSSES)
        method.load_state_dict({})  # start cold again: the cap is hit again
        second = method.combine(GRADS, LOSSES)
        make_method("nash-mtl", iterations=1).combine(GRADS, LOSSES)  # a new instance warns again
    assert not first.converged and not second.converged
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 2 and all("'nash-mtl'" in m for m in messages)
    assert make_method("nash-mtl").combine(GRADS, LOSSES).converged


def test_upgrad_falls_back_when_nnls_hits_its_cap_and_reports_a_second_failure(monkeypatch):
    expected = make_method("upgrad").combine(GRADS, LOSSES)
    assert expected.converged

    def capped(*args, **kwargs):
        raise RuntimeError("Maximum number of iterations reached.")

    monkeypatch.setattr(upgrad, "nnls", capped)
    fallback = make_method("upgrad").combine(GRADS, LOSSES)
    assert fallback.converged
    torch.testing.assert_close(fallback.direction, expected.direction, rtol=1e-9, atol=1e-12)

    class Stopped:
        def __init__(self, matrix, target):
            self.x, self.status = nnls(matrix, target)[0], 0  # status 0: iteration limit

    monkeypatch.setattr(upgrad, "lsq_linear", lambda matrix, target, **kwargs: Stopped(matrix, target))
    with pytest.warns(RuntimeWarning, match="'upgrad'"):
        assert not make_method("upgrad").combine(GRADS, LOSSES).converged


def test_the_flag_survives_cocktails_and_the_trainers_rescaling():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cocktail = make_method("nash-mtl+pcgrad", iterations=1, generator=torch.Generator().manual_seed(0))
        assert not cocktail.combine(GRADS, LOSSES).converged
        rescaled = combine_gradients(make_method("nash-mtl", iterations=1), GRADS, LOSSES)
    assert not rescaled.converged
    assert combine_gradients(make_method("mgda-ub"), GRADS, LOSSES).converged


def test_mgda_ub_converges_beside_a_row_orders_of_magnitude_shorter():
    # A column the model fits perfectly (Wine's binary column in training) has a gradient
    # 1e-19 of the others', conflicting slightly with some. The min-norm point is then that
    # row plus tiny shares of others; a solve that loses those shares to the rows' disparity
    # made the active set cycle until its cap.
    generator = torch.Generator().manual_seed(2)
    rows = torch.randn(8, 20, generator=generator, dtype=torch.float64)
    rows[7] = 1e-19 * (torch.randn(20, generator=generator, dtype=torch.float64) - 0.3 * rows[0])
    gramian = (rows @ rows.T).numpy()
    weights, converged = min_norm_weights(gramian)
    assert converged
    along = gramian @ weights
    # Optimality (KKT): no column lies below the point, up to the rounding of M w's terms.
    rounding = 1e-14 * (np.abs(gramian) @ weights).max()
    assert along.min() >= weights @ along - rounding
    assert weights[7] > 1 - 1e-12 and weights @ along <= gramian[7, 7]


def test_the_step_record_says_when_a_solver_stopped_at_its_cap(monkeypatch):
    from core.synthetic import make_synthetic
    from core.trainer import TrainConfig, Trainer

    df, schema = make_synthetic(n_rows=200, seed=0)
    trainer = Trainer(df, schema, TrainConfig(method="cagrad", batch_size=32, seed=0))
    assert trainer.step().converged
    original = cagrad.cagrad_weights
    monkeypatch.setattr(cagrad, "cagrad_weights", lambda g, c: original(g, c, max_iterations=1))
    with pytest.warns(RuntimeWarning, match="iteration cap"):
        assert not trainer.step().converged
