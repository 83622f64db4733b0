"""The step-wise Trainer: learning, determinism, method swaps, divergence rollback,
checkpoints and evaluation."""

import numpy as np
import pandas as pd
import pytest
import torch

from core.errors import DataError, TrainingError
from core.schema import Column, ColumnType, Schema
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer, split_indices


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=600, seed=0)


def _trainer(table, **kw):
    df, schema = table
    cfg = dict(batch_size=64, hidden=16, layers=2, seed=0)
    cfg.update(kw)
    return Trainer(df, schema, TrainConfig(**cfg))


def test_split_is_70_10_20_disjoint_and_seeded():
    s = split_indices(1000, 3)
    assert [len(s[k]) for k in ("train", "val", "test")] == [700, 100, 200]
    allrows = np.concatenate(list(s.values()))
    assert len(np.unique(allrows)) == 1000
    assert all((split_indices(1000, 3)[k] == s[k]).all() for k in s)
    assert not (split_indices(1000, 4)["train"] == s["train"]).all()


@pytest.mark.parametrize("model", ["vae", "iwae", "dreg", "hivae"])
def test_loss_decreases(table, model):
    tr = _trainer(table, model=model, importance_samples=3, lr=3e-3)
    losses = [tr.step().loss for _ in range(120)]
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 0.5


def test_mtl_training_lowers_test_error(table):
    tr = _trainer(table, method="imtl-g", lr=3e-3)
    before = tr.evaluate("test").mean_error
    for _ in range(150):
        tr.step()
    assert tr.evaluate("test").mean_error < before


def test_same_seed_gives_bit_identical_numbers(table):
    runs = []
    for _ in range(2):
        tr = _trainer(table, method="pcgrad")
        recs = [tr.step() for _ in range(15)]
        runs.append(
            (
                np.array([r.loss for r in recs]),
                recs[-1].diagnostics.cosines,
                [p.detach().clone() for p in tr.model.parameters()],
            )
        )
    assert np.array_equal(runs[0][0], runs[1][0])
    assert np.array_equal(runs[0][1], runs[1][1])
    assert all(torch.equal(a, b) for a, b in zip(runs[0][2], runs[1][2], strict=True))
    other = _trainer(table, method="pcgrad", seed=1)
    assert not np.array_equal([other.step().loss for _ in range(15)], runs[0][0])


def test_step_record_holds_the_diagnostics(table):
    tr = _trainer(table, method="mgda-ub")
    rec = tr.step()
    k = len(table[1].features)
    d = rec.diagnostics
    assert rec.column_losses.shape == (k,) and d.norms.shape == (k,) and d.weights.shape == (k,)
    assert d.cosines.shape == (k, k) and np.allclose(np.diag(d.cosines), 1.0)
    assert d.n_conflicts == int((np.triu(d.cosines, 1) < 0).sum())
    assert rec.step == 1 and 0 < rec.epoch < 1 and rec.method == "mgda-ub"


def test_method_swap_keeps_model_and_optimizer(table):
    tr = _trainer(table)
    for _ in range(5):
        tr.step()
    params = [p.detach().clone() for p in tr.model.parameters()]
    adam_steps = [s["step"].item() for s in tr.optimizer.state.values()]
    tr.set_method("imtl-g+pcgrad")
    assert all(torch.equal(a, b) for a, b in zip(params, tr.model.parameters(), strict=True))
    rec = tr.step()
    assert rec.method == "imtl-g+pcgrad" and rec.step == 6
    assert [s["step"].item() for s in tr.optimizer.state.values()] == [a + 1 for a in adam_steps]


def test_reset_reproduces_the_run(table):
    tr = _trainer(table, method="graddrop")
    first = [tr.step().loss for _ in range(8)]
    tr.reset()
    assert tr.step_count == 0
    assert [tr.step().loss for _ in range(8)] == first


def test_a_diverging_step_is_rejected_and_rolled_back(table):
    tr = _trainer(table)
    for _ in range(3):
        tr.step()
    saved = [p.detach().clone() for p in tr.model.parameters()]
    with torch.no_grad():  # sabotage: a weight that makes the next loss infinite
        tr.model.head.bias.fill_(float("inf"))
    broken = [p.detach().clone() for p in tr.model.parameters()]
    with pytest.raises(TrainingError, match="lower learning rate"):
        tr.step()
    assert tr.step_count == 3
    assert all(torch.equal(a, b) for a, b in zip(broken, tr.model.parameters(), strict=True))
    with torch.no_grad():
        for p, s in zip(tr.model.parameters(), saved, strict=True):
            p.copy_(s)
    tr.step()  # training goes on after the rejection
    assert tr.step_count == 4


def test_huge_learning_rate_never_leaves_nan_weights(table):
    tr = _trainer(table, lr=1e12)
    errors = 0
    for _ in range(30):
        try:
            tr.step()
        except TrainingError:
            errors += 1
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())
    assert errors > 0


@pytest.mark.parametrize("method", ["gradnorm", "gradnorm+pcgrad"])
def test_checkpoint_round_trip_continues_identically(table, tmp_path, method):
    tr = _trainer(table, method=method)
    for _ in range(6):
        tr.step()
    path = tmp_path / "ckpt.pt"
    torch.save(tr.state_dict(), path)
    expected = [tr.step().loss for _ in range(4)]
    other = _trainer(table, method="none")
    other.load_state_dict(torch.load(path, weights_only=True))
    assert other.method == method
    assert [other.step().loss for _ in range(4)] == expected


def test_evaluate_scores_every_column_with_baselines(table):
    tr = _trainer(table)
    ev = tr.evaluate("val")
    assert [s.name for s in ev.scores] == [c.name for c in table[1].features]
    assert all(s.baseline_error >= 0 for s in ev.scores)
    assert ev.mean_error == pytest.approx(np.nanmean([s.error for s in ev.scores]))
    with pytest.raises(DataError):
        tr.evaluate("nope")


def test_imputation_scores_only_hidden_cells(table):
    df, schema = table
    hidden = np.random.default_rng(0).random(df.shape) < 0.2
    tr = Trainer(df, schema, TrainConfig(batch_size=64, hidden=16, layers=2), impute_mask=hidden)
    ev = tr.evaluate("test")
    assert ev.imputation_scores is not None and np.isfinite(ev.imputation_mean_error)
    assert not bool((tr.model_mask & tr.hidden).any())


def test_parameter_space_mode_trains(table):
    tr = _trainer(table, gradient_space="parameters", method="imtl-g", lr=3e-3)
    losses = [tr.step().loss for _ in range(60)]
    assert np.mean(losses[-10:]) < np.mean(losses[:10])


def test_bad_config_is_a_clear_error(table):
    for bad in (dict(lr=-1), dict(batch_size=1), dict(model="gan"), dict(method="nope")):
        with pytest.raises(DataError):
            _trainer(table, **bad)


def test_cosines_every_step_up_to_the_column_limit_then_every_nth_step():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame(rng.normal(size=(300, 12)), columns=[f"c{i}" for i in range(12)])
    schema = Schema(tuple(Column(c, ColumnType.REAL, "test") for c in wide.columns))
    every_step = Trainer(wide, schema, TrainConfig(hidden=8, layers=1, cosine_max_columns=12))
    assert all(every_step.step().diagnostics.cosines is not None for _ in range(4))
    sparse = Trainer(wide, schema, TrainConfig(hidden=8, layers=1, cosine_max_columns=11, cosine_every=3))
    records = [sparse.step() for _ in range(6)]
    assert [r.diagnostics.cosines is not None for r in records] == [False, False, True, False, False, True]
    assert [r.diagnostics.n_conflicts is None for r in records] == [True, True, False, True, True, False]
    # norms, weights and the step's cosines come on every step regardless
    assert all(r.diagnostics.norms.shape == (12,) and r.diagnostics.direction_cosines.shape == (12,) for r in records)
    assert TrainConfig().cosine_every == 10 and TrainConfig().cosine_max_columns == 50
