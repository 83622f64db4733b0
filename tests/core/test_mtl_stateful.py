"""The learning methods (GradNorm, uncertainty weighting, DWA) and Nash-MTL's warm start:
their updates against autograd or a direct computation, where they settle, and that
negative losses (a Gaussian NLL) leave them finite."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.mtl import make_method
from core.mtl.gradnorm import gradnorm_gradient

SETTINGS = settings(max_examples=40, deadline=None)


def _gradients(norms: list[float], seed: int = 0) -> torch.Tensor:
    """Rows with the given norms and random directions in 10 dimensions."""
    rows = torch.randn(len(norms), 10, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return rows / rows.norm(dim=1, keepdim=True) * torch.tensor(norms, dtype=torch.float64)[:, None]


@SETTINGS
@given(st.integers(2, 7), st.integers(0, 10**6))
def test_gradnorm_update_is_autograds_gradient(k, seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(k, generator=generator, dtype=torch.float64, requires_grad=True)
    norms = torch.rand(k, generator=generator, dtype=torch.float64) * 3
    targets = torch.rand(k, generator=generator, dtype=torch.float64) * 3
    active = torch.rand(k, generator=generator) > 0.3
    norms = torch.where(active, norms, 0.0)
    weights = k * torch.softmax(logits, dim=0)
    objective = ((weights * norms - targets).abs() * active).sum()
    (expected,) = torch.autograd.grad(objective, logits)
    torch.testing.assert_close(gradnorm_gradient(logits.detach(), norms, targets, active), expected)


def test_gradnorm_with_alpha_0_equalises_the_weighted_gradient_norms():
    grads = _gradients([0.1, 1.0, 5.0])
    method = make_method("gradnorm", alpha=0.0, lr=0.02)
    for _ in range(1500):
        weights = method.combine(grads, torch.zeros(3, dtype=torch.float64)).weights
    weighted = weights * grads.norm(dim=1)
    assert abs(weights.sum().item() - 3) <= 1e-12 and (weights > 0).all()
    assert (weighted.max() / weighted.min()).item() < 1.05


def test_gradnorm_gives_less_weight_to_a_column_that_trains_faster():
    # Column 0's gradient shrinks (it is being learnt), column 1's stays: with alpha = 1
    # column 0's target falls below column 1's.
    method = make_method("gradnorm", alpha=1.0, lr=0.02)
    for step in range(800):
        grads = _gradients([1.0 / (1 + step / 100), 1.0])
        weights = method.combine(grads, torch.zeros(2, dtype=torch.float64)).weights
    weighted = weights * grads.norm(dim=1)
    rates = grads.norm(dim=1) / 1.0
    expected_ratio = (rates[0] / rates[1]).item()  # targets are mean * r_k, so ratio r_0 / r_1
    assert abs((weighted[0] / weighted[1]).item() - expected_ratio) < 0.05


def test_gradnorm_does_not_look_at_the_losses():
    grads = _gradients([0.5, 2.0, 1.0])
    directions = []
    for losses in ([1.0, 2.0, 3.0], [-50.0, 0.0, -1e-12]):
        method = make_method("gradnorm")
        for _ in range(5):
            combination = method.combine(grads, torch.tensor(losses, dtype=torch.float64))
        directions.append(combination.direction)
    assert torch.equal(directions[0], directions[1])


def _softplus(losses: np.ndarray) -> np.ndarray:
    return np.log1p(np.exp(losses))


def test_uncertainty_weights_settle_at_one_over_softplus_of_the_loss():
    losses = np.array([2.0, 0.5, -1.0, -4.0])  # negative: a well-fitted Gaussian column
    grads = _gradients([1.0, 1.0, 1.0, 1.0])
    method = make_method("uncertainty", lr=0.05)
    for _ in range(3000):
        weights = method.combine(grads, torch.from_numpy(losses)).weights
    np.testing.assert_allclose(weights.numpy(), 1 / _softplus(losses), rtol=0.02)


def _dwa_weights(history: list[np.ndarray], temperature: float) -> np.ndarray:
    """DWA written out: K softmax(r / T), r = 1 + (L(t-1) - L(t-2)) / max(|L(t-2)|, 1e-8)."""
    if len(history) < 2:
        return np.ones(len(history[0]) if history else 3)
    before, last = history[-2], history[-1]
    rates = 1 + (last - before) / np.maximum(np.abs(before), 1e-8)
    exponentials = np.exp(rates / temperature - np.max(rates / temperature))
    return len(last) * exponentials / exponentials.sum()


def test_dwa_follows_its_formula_with_losses_of_both_signs():
    sequence = [
        np.array(row)
        for row in (
            [3.0, -2.0, 0.5],
            [2.0, -2.5, 0.7],
            [1.0, -2.4, 0.7],
            [0.5, -3.0, 0.0],
            [0.4, 1.0, 0.2],
            [0.3, -1.0, 0.1],
        )
    ]
    method = make_method("dwa", temperature=2.0)
    grads = _gradients([1.0, 1.0, 1.0])
    for step, losses in enumerate(sequence):
        weights = method.combine(grads, torch.from_numpy(losses)).weights
        np.testing.assert_allclose(weights.numpy(), _dwa_weights(sequence[:step], 2.0), rtol=1e-12)


def test_dwa_gives_more_weight_to_the_column_whose_loss_falls_slowest():
    method = make_method("dwa")
    grads = _gradients([1.0, 1.0])
    for losses in ([-1.0, 4.0], [-2.0, 3.9], [-3.0, 3.8]):  # column 0 falls faster (and is negative)
        weights = method.combine(grads, torch.tensor(losses, dtype=torch.float64)).weights
    assert weights[0] < weights[1]


@SETTINGS
@given(
    st.lists(st.lists(st.floats(-1e6, 1e6), min_size=3, max_size=3), min_size=1, max_size=8),
    st.sampled_from(["gradnorm", "uncertainty", "dwa"]),
)
def test_learning_methods_stay_finite_on_any_losses(loss_sequence, spec):
    # Negative, zero and huge losses, in any order.
    method = make_method(spec)
    grads = _gradients([1e-3, 1.0, 1e3])
    for losses in loss_sequence:
        combination = method.combine(grads, torch.tensor(losses, dtype=torch.float64))
        assert torch.isfinite(combination.weights).all() and torch.isfinite(combination.direction).all()


def _converged_nash_state(grads: torch.Tensor) -> dict:
    """The state of a Nash-MTL that has converged on ``grads``."""
    converged = make_method("nash-mtl", iterations=200)
    converged.combine(grads, torch.zeros(len(grads), dtype=grads.dtype))
    return converged.state_dict()


def test_nash_mtl_warm_start_helps_the_next_step():
    # With only 3 Newton steps per call, starting from the last solution (the state) gets
    # closer to a_i (M a)_i = 1 on the next, similar step than starting cold.
    generator = torch.Generator().manual_seed(41)
    base = torch.randn(6, 12, generator=generator, dtype=torch.float64)
    base += 3 * torch.randn(6, 1, generator=generator, dtype=torch.float64) * base[0]  # correlated
    following = base + 0.01 * torch.randn(6, 12, generator=generator, dtype=torch.float64)
    losses = torch.zeros(6, dtype=torch.float64)

    def residual(weights: torch.Tensor, grads: torch.Tensor) -> float:
        return (weights * (grads @ grads.T @ weights) - 1).abs().max().item()

    warm = make_method("nash-mtl", iterations=3)
    warm.load_state_dict(_converged_nash_state(base))
    cold = make_method("nash-mtl", iterations=3)
    assert residual(warm.combine(following, losses).weights, following) < 0.1 * residual(
        cold.combine(following, losses).weights, following
    )


def _tensors_equal(a, b) -> bool:
    """Nested dicts, lists and tuples of tensors and plain values, compared exactly."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and bool(torch.equal(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_tensors_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_tensors_equal, a, b))
    return a == b


def test_every_methods_state_is_a_copy_that_later_steps_leave_as_it_was():
    """The trainers keep a step's method state uncopied for their rollback
    (Method.state_dict's contract): what a method returns must not move with it."""
    import copy

    from core.mtl import METHODS

    cocktails = ["gradnorm+pcgrad", "gradnorm+graddrop", "imtl-g+pcgrad", "uncertainty+pcgrad"]
    grads, losses = _gradients([0.5, 1.0, 2.0, 4.0]), torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    for name in [*METHODS, *cocktails]:
        method = make_method(name)
        for step in range(3):
            method.combine(_gradients([0.5, 1.0, 2.0, 4.0], seed=step), losses * (step + 1))
        state = method.state_dict()
        frozen = copy.deepcopy(state)
        for step in range(3, 6):
            method.combine(_gradients([0.5, 1.0, 2.0, 4.0], seed=step), losses * (step + 1))
        assert _tensors_equal(state, frozen), name
        # and loading it does not tie the method to it either
        method.load_state_dict(state)
        method.combine(grads, losses)
        assert _tensors_equal(state, frozen), name
