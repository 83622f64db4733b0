"""The per-column gradient engine against K separate autograd calls, and the combined
backward pass against a plain ``loss.backward()``."""

import pytest
import torch

from core.gradients import ColumnLayout, ColumnRows, backward_combined, column_gradients, parameter_space_gradients
from core.models import HIVAE, IWAE, VAE, DReG
from core.mtl import METHODS, combine_gradients, make_method
from tests.core.engine_cases import MODELS, double_precision, hivae_loss, iwae_loss, make_batch, make_model, vae_loss


@pytest.fixture(autouse=True)
def float64():
    with double_precision():
        yield


_batch, _model = make_batch, make_model


@pytest.mark.parametrize("cls,kw", MODELS, ids=lambda v: getattr(v, "__name__", ""))
def test_column_gradients_match_k_autograd_calls(cls, kw):
    model = _model(cls, **kw)
    forward = model.forward_tasks(_batch(), torch.Generator().manual_seed(1))
    layout = ColumnLayout(model.likelihood.param_owner, 7)
    grads = column_gradients(forward, layout)
    assert len(grads) == len(cls.OBJECTIVES)
    for g in grads:
        for rep, rows in zip(forward.shared, g.per_representation, strict=True):
            matrix = rows.rows()
            assert matrix.shape == rows.shape == (7, rep.cut.numel())
            for k in range(7):
                (expected,) = torch.autograd.grad(g.objective.column_losses[k], rep.cut, retain_graph=True)
                torch.testing.assert_close(matrix[k], expected.flatten(), atol=1e-6, rtol=1e-6)
            torch.testing.assert_close(rows.gramian(), matrix.double() @ matrix.double().T, atol=1e-9, rtol=1e-9)
            # The implicit products agree with the formed matrix.
            weights, direction = torch.randn(7), torch.randn(matrix.shape[1])
            torch.testing.assert_close(rows.mix(weights), weights @ matrix, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(rows.dot(direction), matrix @ direction, atol=1e-5, rtol=1e-5)


def test_parameter_space_gradients_match_k_autograd_calls():
    model = _model(VAE)
    batch = _batch()
    forward = model.forward_tasks(batch, torch.Generator().manual_seed(1))
    (g,) = column_gradients(forward, ColumnLayout(model.likelihood.param_owner, 7))
    shared = [p for p in model.parameters() if all(p is not h for h in model.head_parameters())]
    matrix = parameter_space_gradients(forward, g, shared)
    # Independent reference: the outputs recomputed from y itself (no cut), one
    # autograd call per column.
    y = forward.shared[0].source
    losses = -model.likelihood.log_prob(model.head(y), batch.targets, batch.mask).mean(0)
    for k in range(7):
        expected = torch.autograd.grad(losses[k], shared, retain_graph=True, allow_unused=True)
        flat = torch.cat(
            [(e if e is not None else torch.zeros_like(p)).flatten() for e, p in zip(expected, shared, strict=True)]
        )
        torch.testing.assert_close(matrix[k], flat, atol=1e-6, rtol=1e-6)


def _engine_grads(model, batch, seed):
    forward = model.forward_tasks(batch, torch.Generator().manual_seed(seed))
    grads = column_gradients(forward, ColumnLayout(model.likelihood.param_owner, 7))
    model.zero_grad()
    backward_combined(
        forward, grads, [[m.rows().sum(0) for m in g.per_representation] for g in grads], list(model.parameters())
    )
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, forward


def test_plain_sum_through_the_engine_equals_plain_elbo_backward():
    model, batch = _model(VAE), _batch()
    engine, forward = _engine_grads(model, batch, seed=3)
    # Plain ELBO backward with the same noise, written out independently.
    model.zero_grad()
    loss = vae_loss(model, batch, 3)
    loss.backward()
    torch.testing.assert_close(loss.detach(), forward.loss)
    for name, p in model.named_parameters():
        torch.testing.assert_close(engine[name], p.grad, atol=1e-8, rtol=1e-6, msg=name)


def test_plain_sum_through_the_engine_equals_plain_iwae_backward():
    model, batch = _model(IWAE, importance_samples=5), _batch()
    engine, forward = _engine_grads(model, batch, seed=4)
    model.zero_grad()
    loss = iwae_loss(model, batch, 4)
    loss.backward()
    torch.testing.assert_close(loss.detach(), forward.loss)
    for name, p in model.named_parameters():
        torch.testing.assert_close(engine[name], p.grad, atol=1e-8, rtol=1e-6, msg=name)


def test_plain_sum_through_the_engine_equals_plain_hivae_backward():
    model, batch = _model(HIVAE), _batch()
    engine, forward = _engine_grads(model, batch, seed=5)
    model.zero_grad()
    plain = hivae_loss(model, batch, 5)
    plain.backward()
    torch.testing.assert_close(plain.detach(), forward.loss)
    for name, p in model.named_parameters():
        if name in engine:
            torch.testing.assert_close(engine[name], p.grad, atol=1e-8, rtol=1e-6, msg=name)


def test_dreg_trains_each_part_with_its_own_objective():
    model, batch = _model(DReG, importance_samples=4), _batch()
    engine, _ = _engine_grads(model, batch, seed=6)
    decoder = {n for n, p in model.named_parameters() if any(p is q for q in model.decoder_parameters())}
    assert decoder and all(n in engine for n in decoder)
    # The decoder's gradient is the IWAE one: same weights, same samples.
    iwae = _model(IWAE, importance_samples=4)
    iwae.load_state_dict(model.state_dict())
    iwae_grads, _ = _engine_grads(iwae, batch, seed=6)
    for n in decoder:
        torch.testing.assert_close(engine[n], iwae_grads[n], atol=1e-8, rtol=1e-6, msg=n)


@pytest.mark.parametrize("spec", [*METHODS, "imtl-g+pcgrad", "gradnorm+graddrop"])
def test_every_method_gives_the_same_step_on_implicit_rows_as_on_the_formed_matrix(spec):
    generator = torch.Generator().manual_seed(5)
    owner = torch.tensor([0, 0, 1, 2, 2, 2, 3, 4, 4])  # 5 columns, 9 outputs
    rows = ColumnRows(
        ColumnLayout(owner, 5),
        torch.randn(16, 9, generator=generator, dtype=torch.float64),
        torch.randn(9, 6, generator=generator, dtype=torch.float64),
    )
    losses = torch.randn(5, generator=generator, dtype=torch.float64)
    implicit = combine_gradients(make_method(spec, generator=torch.Generator().manual_seed(1)), rows, losses)
    dense = combine_gradients(make_method(spec, generator=torch.Generator().manual_seed(1)), rows.rows(), losses)
    torch.testing.assert_close(implicit.direction, dense.direction, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(implicit.weights, dense.weights, atol=1e-9, rtol=1e-9)
