"""A rejected step leaves nothing of itself behind: weights, Adam's moments, batch
normalisation's running statistics, random streams and the minibatch order."""

import pytest
import torch

from core.errors import TrainingError
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer


def test_a_rejected_step_restores_the_running_statistics_and_the_streams():
    df, schema = make_synthetic(n_rows=300, seed=0)
    trainer = Trainer(df, schema, TrainConfig(batch_size=64, hidden=16, layers=2))
    for _ in range(3):
        trainer.step()
    buffers = [b.clone() for b in trainer.model.buffers()]
    moments = [v.clone() for s in trainer.optimizer.state.values() for v in s.values()]
    noise, batches = trainer.noise_generator.get_state(), trainer.batches.state_dict()
    weight = trainer.model.encoder.linears[0].weight
    saved = weight.detach().clone()
    with torch.no_grad():  # sabotage: NaN activations, so NaN batch statistics and loss
        weight[0, 0] = float("nan")
    with pytest.raises(TrainingError, match="lower learning rate"):
        trainer.step()
    assert all(torch.equal(a, b) for a, b in zip(buffers, trainer.model.buffers(), strict=True))
    after = [v for s in trainer.optimizer.state.values() for v in s.values()]
    assert all(torch.equal(a, b) for a, b in zip(moments, after, strict=True))
    assert torch.equal(noise, trainer.noise_generator.get_state())
    assert torch.equal(batches["epoch_order"], trainer.batches.state_dict()["epoch_order"])
    assert trainer.batches.state_dict()["epoch_pos"] == batches["epoch_pos"] and trainer.step_count == 3
    with torch.no_grad():
        weight.copy_(saved)
    assert torch.isfinite(torch.tensor(trainer.step().loss))


def test_saved_state_is_not_part_of_any_autograd_graph():
    # The rollback's copies of weights that require grad must not be recorded by autograd:
    # each step's copy would keep the previous one's graph alive, and memory grew by the
    # whole state's size every step (10 GB over 200 epochs of Adult).
    data, schema = make_synthetic(n_rows=64, seed=0)
    trainer = Trainer(data, schema, TrainConfig(batch_size=16, seed=0))
    for _ in range(3):
        trainer.step()
    saved = trainer._rollback._buffers
    assert saved and not any(t.requires_grad or t.grad_fn is not None for t in saved)
