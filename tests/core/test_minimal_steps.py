"""The benchmark's minimal hand-written steps are a fair reference: on the same weights,
minibatch and noise, each model's minimal step reaches the Trainer's loss (to 1e-6) and
gradients."""

import pytest
import torch

from bench.minimal_steps import MinimalModel
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=400, seed=0)  # every column type, with missing cells


@pytest.mark.parametrize("model", ["vae", "iwae", "dreg", "hivae"])
def test_the_minimal_step_reaches_the_trainers_loss_and_gradients(table, model):
    df, schema = table
    trainer = Trainer(df, schema, TrainConfig(model=model, batch_size=64, hidden=16, importance_samples=4))
    for _ in range(2):
        trainer.step()
    minimal = MinimalModel(trainer)
    before = trainer.batches.state_dict()
    rows = trainer.batches.next_rows()
    trainer.batches.load_state_dict(before)
    noise = torch.Generator().manual_seed(7)
    trainer.noise_generator.set_state(noise.get_state())

    record = trainer.step()
    loss = minimal.step(rows, noise)

    assert float(loss) == pytest.approx(record.loss, rel=1e-6)
    # The gradient as one vector over all parameters. The minimal step differentiates the bound
    # as written (IWAE: through its logsumexp) where the Trainer forms it from the column terms:
    # the same numbers up to float32 rounding, which reaches a few 1e-6 over an IWAE step.
    params = dict(trainer.model.named_parameters())
    error = sum(float((minimal.w[name].grad - p.grad).square().sum()) for name, p in params.items())
    size = sum(float(p.grad.square().sum()) for p in params.values())
    assert error**0.5 <= 1e-5 * size**0.5
