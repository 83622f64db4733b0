"""DReG's encoder gradient (Tucker et al., "Doubly Reparameterized Gradient Estimators for
Monte Carlo Objectives", ICLR 2019) against independent computations of the estimator:
the chain rule through z written out by hand, and its expectation, which is the IWAE
encoder gradient (the estimator is unbiased)."""

from __future__ import annotations

import pytest
import torch

from core.gradients import ColumnLayout, backward_combined, column_gradients
from core.models import Batch, DReG
from core.models.layers import gaussian_log_density
from tests.core.engine_cases import double_precision, iwae_loss, make_batch, make_model


@pytest.fixture(autouse=True)
def float64():
    with double_precision():
        yield


def _engine_encoder_gradient(model: DReG, batch, seed: int) -> list[torch.Tensor]:
    """The encoder's gradient from a plain-sum step through the engine."""
    forward = model.forward_tasks(batch, torch.Generator().manual_seed(seed))
    grads = column_gradients(forward, ColumnLayout(model.likelihood.param_owner, 7))
    model.zero_grad()
    directions = [[rows.rows().sum(0) for rows in g.per_representation] for g in grads]
    backward_combined(forward, grads, directions, list(model.parameters()))
    return [p.grad.clone() for p in model.encoder_parameters()]


def _estimator_by_hand(model: DReG, batch, seed: int) -> list[torch.Tensor]:
    """-1/B sum over rows and samples of w_s^2 (d log w_s / d z_s) (d z_s / d phi), with
    d log w / d z taken at z as a leaf (q's parameters fixed inside log q) and then pushed
    through z = mu + sigma eps as a vector-Jacobian product."""
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = model.posterior(batch, gen)
    eps = torch.randn((model.importance_samples, *mu.shape), generator=gen)
    z_of_phi = mu + eps * torch.exp(0.5 * logvar)
    z = z_of_phi.detach().requires_grad_(True)
    log_lik = model.likelihood.log_prob(model.head(model.trunk(z)), batch.targets, batch.mask).sum(-1)
    log_w = log_lik + gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
    log_w = log_w - gaussian_log_density(z, mu.detach(), logvar.detach())
    (d_log_w,) = torch.autograd.grad(log_w.sum(), z)  # each sample's log w depends on its own z
    squared = torch.softmax(log_w.detach(), dim=0) ** 2
    pushed = -(squared.unsqueeze(-1) * d_log_w) / mu.shape[0]
    return list(torch.autograd.grad(z_of_phi, model.encoder_parameters(), grad_outputs=pushed))


def test_the_engines_encoder_gradient_is_the_dreg_estimator():
    model, batch = make_model(DReG, importance_samples=5), make_batch()
    for seed in (0, 1, 2):
        engine = _engine_encoder_gradient(model, batch, seed)
        for ours, expected in zip(engine, _estimator_by_hand(model, batch, seed), strict=True):
            torch.testing.assert_close(ours, expected, atol=1e-10, rtol=1e-9)


def test_the_estimator_is_unbiased_for_the_iwae_encoder_gradient():
    # Averaged over draws, DReG's encoder gradient and IWAE's agree (they differ in variance
    # only); with the weights w instead of w^2 the mean would be off by many standard errors.
    # Each draw averages over 100 copies of 4 rows, each copy with its own noise.
    model, small = make_model(DReG, importance_samples=3), make_batch(n=4)
    batch = Batch(small.inputs.repeat(100, 1), small.mask.repeat(100, 1), small.targets.repeat(100, 1))
    draws = 40
    dreg, iwae = [], []
    for seed in range(draws):
        dreg.append(torch.cat([g.flatten() for g in _engine_encoder_gradient(model, batch, seed)]))
        gradient = torch.autograd.grad(iwae_loss(model, batch, seed), model.encoder_parameters())
        iwae.append(torch.cat([g.flatten() for g in gradient]))
    difference = torch.stack(dreg) - torch.stack(iwae)
    standard_error = difference.std(dim=0) / draws**0.5
    z_scores = difference.mean(dim=0) / standard_error.clamp_min(1e-12)
    assert z_scores.abs().max() < 5, z_scores.abs().max()
