"""After ``Trainer.set_method`` the next step uses the new combination: it equals the step of
a fresh trainer started from the same state with the new method, and differs from the step
the old method would have taken. Public API only (Trainer, TrainConfig, step, set_method,
state_dict, load_state_dict)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=300, seed=0)


def _trainer(table, method: str, **settings) -> Trainer:
    df, schema = table
    config = dict(batch_size=32, hidden=8, layers=2, seed=0, importance_samples=3, method=method)
    config.update(settings)
    return Trainer(df, schema, TrainConfig(**config))


def _weights(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.model.parameters()]


def _step_from(table, state, method: str, **settings):
    """A fresh trainer, loaded with ``state``, then switched to ``method``, steps once."""
    trainer = _trainer(table, "none", **settings)
    trainer.load_state_dict(copy.deepcopy(state))
    trainer.set_method(method)
    return trainer.step(), _weights(trainer)


SWITCHES = [
    ("none", "imtl-g", {}),
    ("imtl-g", "gradnorm", {}),  # to a stateful method: it starts from scratch
    ("gradnorm", "pcgrad", {}),  # to a random one: its stream restarts from the seed
    ("mgda-ub", "aligned-mtl", {"model": "dreg"}),  # two objectives, one method instance each
    ("none", "upgrad", {"model": "hivae"}),  # two shared representations
    ("none", "imtl-g", {"gradient_space": "parameters"}),
]


@pytest.mark.parametrize("old,new,settings", SWITCHES, ids=lambda v: v if isinstance(v, str) else "")
def test_the_step_after_a_switch_is_a_fresh_trainers_step_with_the_new_method(table, old, new, settings):
    trainer = _trainer(table, old, **settings)
    for _ in range(4):
        trainer.step()
    state = copy.deepcopy(trainer.state_dict())
    trainer.set_method(new)
    switched = trainer.step()
    after_switch = _weights(trainer)

    fresh, fresh_weights = _step_from(table, state, new, **settings)
    assert switched.method == fresh.method == new and switched.step == fresh.step == 5
    assert switched.loss == fresh.loss
    np.testing.assert_array_equal(switched.column_losses, fresh.column_losses)
    np.testing.assert_array_equal(switched.diagnostics.weights, fresh.diagnostics.weights)
    assert all(torch.equal(a, b) for a, b in zip(after_switch, fresh_weights, strict=True))

    # ... and not the step the old method would have taken from there.
    kept, kept_weights = _step_from(table, state, old, **settings)
    assert kept.loss == switched.loss  # the same batch and noise before the update
    assert not np.allclose(kept.diagnostics.weights, switched.diagnostics.weights)
    assert not all(torch.equal(a, b) for a, b in zip(after_switch, kept_weights, strict=True))
