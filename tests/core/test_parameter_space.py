"""The parameter-space mode (the lesson's path): ``parameter_space_gradients`` and
``backward_parameter_space`` against ``loss.backward()`` in float64, for all four models."""

from __future__ import annotations

import pytest
import torch

from core.gradients import ColumnLayout, backward_parameter_space, column_gradients, parameter_space_gradients
from core.models import HIVAE, IWAE, VAE, DReG
from tests.core.engine_cases import (
    MODELS,
    double_precision,
    dreg_encoder_surrogate,
    hivae_loss,
    iwae_loss,
    make_batch,
    make_model,
    vae_loss,
)


@pytest.fixture(autouse=True)
def float64():
    with double_precision():
        yield


def _shared(model) -> list[torch.nn.Parameter]:
    heads = {id(p) for p in model.head_parameters()}
    return [p for p in model.parameters() if id(p) not in heads]


def _parameter_space_step(model, batch, seed, weights=None) -> dict[str, torch.Tensor]:
    """The trainer's parameter-space backward: per objective, the K rows over the shared
    parameters combined (plain sum, or ``weights @ rows``), then backward_parameter_space."""
    forward = model.forward_tasks(batch, torch.Generator().manual_seed(seed))
    shared, params = _shared(model), list(model.parameters())
    model.zero_grad()
    for g in column_gradients(forward, ColumnLayout(model.likelihood.param_owner, 7)):
        rows = parameter_space_gradients(forward, g, shared)
        combination = torch.ones(len(rows)) if weights is None else weights
        backward_parameter_space(forward, g, combination @ rows, shared, params)
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _reference(model, batch, seed) -> dict[str, torch.Tensor]:
    """loss.backward() on the model's loss written out without the engine's cut."""
    model.zero_grad()
    if isinstance(model, DReG):  # decoder: the IWAE gradient; encoder: the DReG estimator
        decoder, encoder = model.decoder_parameters(), model.encoder_parameters()
        iwae = torch.autograd.grad(iwae_loss(model, batch, seed), decoder)
        dreg = torch.autograd.grad(dreg_encoder_surrogate(model, batch, seed), encoder)
        for p, g in zip(decoder + encoder, iwae + dreg, strict=True):
            p.grad = g
    else:
        loss = {VAE: vae_loss, IWAE: iwae_loss, HIVAE: hivae_loss}[type(model)]
        loss(model, batch, seed).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("cls,kw", MODELS, ids=lambda v: getattr(v, "__name__", ""))
def test_the_plain_sum_in_parameter_space_is_loss_backward(cls, kw):
    model, batch = make_model(cls, **kw), make_batch()
    engine = _parameter_space_step(model, batch, seed=7)
    expected = _reference(model, batch, seed=7)
    assert engine.keys() == expected.keys()
    for name, grad in expected.items():
        torch.testing.assert_close(engine[name], grad, atol=1e-10, rtol=1e-9, msg=name)


@pytest.mark.parametrize("cls", [VAE, HIVAE], ids=lambda c: c.__name__)
def test_a_weighted_combination_reaches_the_shared_parameters_and_the_heads_stay_plain(cls):
    # Shared parameters: sum_k w_k dL_k + d(latent loss); heads: their ordinary gradient.
    model, batch = make_model(cls), make_batch()
    weights = torch.linspace(0.2, 2.0, 7)
    engine = _parameter_space_step(model, batch, seed=8, weights=weights)
    forward = model.forward_tasks(batch, torch.Generator().manual_seed(8))
    (objective,) = forward.objectives
    shared, heads = _shared(model), model.head_parameters()
    # Independently: the column losses recomputed from the outputs of the uncut graph.
    outputs = _uncut_outputs(model, forward)
    losses = -model.likelihood.log_prob(outputs, batch.targets, batch.mask).mean(0)
    along = torch.autograd.grad(weights @ losses + objective.latent_loss, shared, retain_graph=True, allow_unused=True)
    plain_heads = torch.autograd.grad(losses.sum(), heads)
    names = {id(p): n for n, p in model.named_parameters()}
    for p, g in zip(shared, along, strict=True):
        if g is not None:
            torch.testing.assert_close(engine[names[id(p)]], g, atol=1e-10, rtol=1e-9, msg=names[id(p)])
    for p, g in zip(heads, plain_heads, strict=True):
        torch.testing.assert_close(engine[names[id(p)]], g, atol=1e-10, rtol=1e-9, msg=names[id(p)])


def _uncut_outputs(model, forward) -> torch.Tensor:
    """The decoder outputs recomputed from the shared representations in the graph."""
    if isinstance(model, HIVAE):
        z, s = (rep.source for rep in forward.shared)
        return model._outputs(z, s)
    (rep,) = forward.shared
    return model.head(rep.source)
