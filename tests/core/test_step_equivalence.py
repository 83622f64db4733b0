"""The fast training step computes what the straightforward one does: per model and method,
Trainer.step gives the losses and gradients of the step written out plainly -- forward pass,
per-column gradients, each method's combination at each shared representation, one
backward pass, Adam -- to 1e-6."""

import pytest

from core.gradients import backward_combined, column_gradients
from core.mtl import combine_gradients
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer


def _straightforward_step(trainer: Trainer) -> float:
    trainer.model.train()
    rows = trainer.batches.next_rows()
    batch = trainer._batch(rows)
    forward = trainer.model.forward_tasks(batch, trainer.noise_generator)
    trainer.optimizer.zero_grad(set_to_none=True)
    grads = column_gradients(forward, trainer.layout)
    directions = [
        [
            combine_gradients(trainer.methods[j][r], rows_r, g.objective.column_losses.detach()).direction
            for r, rows_r in enumerate(g.per_representation)
        ]
        for j, g in enumerate(grads)
    ]
    backward_combined(forward, grads, directions, trainer.params)
    trainer.optimizer.step()
    return float(forward.loss)


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=400, seed=0)


@pytest.mark.parametrize("method", ["none", "imtl-g", "aligned-mtl"])
@pytest.mark.parametrize("model", ["vae", "iwae", "dreg", "hivae"])
def test_the_step_equals_the_straightforward_computation(table, model, method):
    df, schema = table
    config = dict(model=model, method=method, batch_size=64, hidden=16, importance_samples=4)
    fast, plain = Trainer(df, schema, TrainConfig(**config)), Trainer(df, schema, TrainConfig(**config))
    for _ in range(4):
        record = fast.step()
        loss = _straightforward_step(plain)
        assert record.loss == pytest.approx(loss, rel=1e-6, abs=1e-6)
        error = sum(float((a.grad - b.grad).square().sum()) for a, b in zip(fast.params, plain.params, strict=True))
        size = sum(float(b.grad.square().sum()) for b in plain.params)
        assert error**0.5 <= 1e-6 * size**0.5  # the whole gradient, relative
