"""The stacked trainer: every run equals the same configuration trained alone."""

import numpy as np
import pytest
import torch

from core.errors import DataError
from core.stacked import NotStackedError, StackedTrainer
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer

# seeds, methods (stateful ones, random ones, solvers, a cocktail) and learning rates mixed;
# two runs of a method are batched together, so PCGrad, IMTL-G, Aligned-MTL and GradDrop appear twice
RUNS = [
    (0, "none", 1e-3),
    (1, "imtl-g", 2e-3),
    (2, "imtl-g", 1e-3),
    (0, "pcgrad", 1e-3),
    (1, "pcgrad", 1e-3),
    (2, "gradnorm", 3e-3),
    (1, "aligned-mtl", 1e-3),
    (2, "aligned-mtl", 2e-3),
    (0, "mgda-ub", 1e-3),
    (2, "upgrad", 1e-3),
    (1, "cagrad", 1e-3),
    (0, "nash-mtl", 1e-3),
    (2, "graddrop", 1e-3),
    (0, "graddrop", 2e-3),
    (1, "imtl-g+pcgrad", 1e-3),
]


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=600, seed=0)


def _configs(model):
    # 18 hidden features: 16 go through batch normalisation's vector loop, 2 its scalar one
    return [
        TrainConfig(model=model, batch_size=64, hidden=18, layers=2, seed=s, method=m, lr=lr, importance_samples=3)
        for s, m, lr in RUNS
    ]


@pytest.mark.parametrize("model", ["vae", "iwae", "dreg", "hivae"])
def test_every_run_equals_its_trainer_alone(table, model):
    """Records (losses, gradient norms, weights, cosines), weights, Adam moments (every
    step's gradients) and test scores."""
    df, schema = table
    stacked = StackedTrainer(df, schema, _configs(model))
    alone = [Trainer(df, schema, c) for c in _configs(model)]
    for _ in range(16):  # past an epoch end (420 training rows, batches of 64: a last batch of 36)
        records = stacked.step()
        for record, trainer in zip(records, alone, strict=True):
            expected = trainer.step()
            assert record.step == expected.step and record.epoch == expected.epoch
            assert record.converged == expected.converged
            assert abs(record.loss - expected.loss) <= 1e-6 and abs(record.kl - expected.kl) <= 1e-6
            np.testing.assert_allclose(record.column_losses, expected.column_losses, atol=1e-6, rtol=0)
            for field in ("norms", "weights", "direction_cosines"):
                np.testing.assert_allclose(
                    getattr(record.diagnostics, field), getattr(expected.diagnostics, field), atol=1e-6, rtol=0
                )
    for r, trainer in enumerate(alone):
        mine = stacked.trainer(r)
        for i, (name, p) in enumerate(trainer.model.named_parameters()):
            assert torch.allclose(p, stacked.state.params[name][r], atol=1e-6, rtol=0), name
            # Adam's moments hold every step's gradient: the last one is (grad - m_prev) / (1 - beta1) away
            state = trainer.optimizer.state[p]
            assert torch.allclose(state["exp_avg"], stacked.state.optimizer.exp_avgs[i][r], atol=1e-7, rtol=0), name
            assert torch.allclose(state["exp_avg_sq"], stacked.state.optimizer.exp_avg_sqs[i][r], atol=1e-9), name
            assert torch.equal(p, dict(mine.model.named_parameters())[name])  # written back into its Trainer
        assert abs(mine.evaluate("test").mean_error - trainer.evaluate("test").mean_error) <= 1e-6


def test_a_handed_out_trainer_carries_on_as_if_trained_alone(table):
    df, schema = table
    config = _configs("vae")[3]  # GradNorm: its state travels with the run
    stacked = StackedTrainer(df, schema, [config, _configs("vae")[0]])
    alone = Trainer(df, schema, config)
    for _ in range(5):
        stacked.step()
        alone.step()
    handed = stacked.trainer(0)
    assert handed.optimizer.state_dict()["state"][0]["step"] == alone.optimizer.state_dict()["state"][0]["step"]
    for _ in range(5):
        assert abs(handed.step().loss - alone.step().loss) <= 1e-6


def test_a_diverging_run_is_rolled_back_and_the_others_step_on(table):
    df, schema = table
    configs = _configs("vae")[:2]
    stacked = StackedTrainer(df, schema, configs)
    alone = Trainer(df, schema, configs[1])
    stacked.step()
    alone.step()
    with torch.no_grad():
        stacked.state.params["head.weight"][0].fill_(float("nan"))
    before = stacked.state.params["head.weight"][0].clone()
    outcomes = stacked.step()
    assert isinstance(outcomes[0], Exception) and "rejected" in str(outcomes[0])
    assert stacked.runs[0].step_count == 1
    assert torch.equal(stacked.state.params["head.weight"][0].isnan(), before.isnan())
    assert abs(outcomes[1].loss - alone.step().loss) <= 1e-6


def test_a_run_left_out_is_untouched(table):
    df, schema = table
    configs = _configs("vae")[:2]
    stacked = StackedTrainer(df, schema, configs)
    alone = [Trainer(df, schema, c) for c in configs]
    outcomes = stacked.step(runs=[1])
    assert outcomes[0] is None and stacked.runs[0].step_count == 0
    alone[1].step()
    for _ in range(3):
        records = stacked.step()
        for record, trainer in zip(records, alone, strict=True):
            assert abs(record.loss - trainer.step().loss) <= 1e-6


def test_runs_of_different_architectures_are_not_stacked(table):
    df, schema = table
    with pytest.raises(NotStackedError, match="hidden"):
        StackedTrainer(df, schema, [TrainConfig(hidden=16), TrainConfig(hidden=32)])
    # HI-VAE's paper batch of 1000 rows: no step would line up (ALIGNED_ROWS)
    with pytest.raises(NotStackedError, match="multiple of 32 rows"):
        StackedTrainer(df, schema, [TrainConfig(model="hivae", batch_size=1000)] * 2)
    assert issubclass(NotStackedError, DataError)


@pytest.mark.parametrize("features", [7, 13, 16, 18, 50, 100])
@pytest.mark.parametrize("batched", [True, False])
def test_stacked_batch_norm_gives_each_run_its_own_layers_numbers(features, batched, monkeypatch):
    """Forward, running statistics and backward of every run exactly as a BatchNorm1d of its own
    (autograd through torch's module), on the grouped kernel calls and on one call a run."""
    from core.stacked import network

    monkeypatch.setattr(network, "_BATCHED_NORM", batched and network._BATCHED_NORM)
    runs, rows = 9, 32
    generator = torch.Generator().manual_seed(features)
    h = torch.randn(runs, rows, features, generator=generator)
    norms = [torch.nn.BatchNorm1d(features) for _ in range(runs)]
    for norm in norms:
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5, generator=generator)
            norm.bias.uniform_(-0.5, 0.5, generator=generator)
    grad = torch.randn(runs, rows, features, generator=generator)
    params = {
        "n.weight": torch.stack([n.weight.detach() for n in norms]).requires_grad_(),
        "n.bias": torch.stack([n.bias.detach() for n in norms]).requires_grad_(),
    }
    buffers = {
        "n.running_mean": torch.zeros(runs, features),
        "n.running_var": torch.ones(runs, features),
        "n.num_batches_tracked": torch.zeros(runs, dtype=torch.long),
    }
    x = h.clone().requires_grad_()
    out = network.batch_norm(params, buffers, "n", x, training=True)
    out.backward(grad)
    for r, norm in enumerate(norms):
        alone = h[r].clone().requires_grad_()
        expected = norm(alone)
        expected.backward(grad[r])
        assert torch.equal(out[r], expected), r
        assert torch.equal(x.grad[r], alone.grad), r
        assert torch.equal(params["n.weight"].grad[r], norm.weight.grad), r
        assert torch.equal(params["n.bias"].grad[r], norm.bias.grad), r
        assert torch.equal(buffers["n.running_mean"][r], norm.running_mean), r
        assert torch.equal(buffers["n.running_var"][r], norm.running_var), r
    assert buffers["n.num_batches_tracked"].tolist() == [1] * runs


def _gramians_of_every_kind() -> torch.Tensor:
    """Well-conditioned Gramians, one with a near copy of a column (a direction cut), one with
    a row 1e-9 the size of the others (the smallest eigenvalue not resolved by eigh)."""
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(5, 6, 40, generator=generator, dtype=torch.float64)
    rows[1, 5] = rows[1, 4] + 1e-9 * torch.randn(40, generator=generator, dtype=torch.float64)
    rows[2, 3] *= 1e-9
    rows[3, 2] = -rows[3, 1] * 0.999
    return rows @ rows.transpose(1, 2)


def _gramian_batches() -> list[torch.Tensor]:
    """``_gramians_of_every_kind`` and the near-singular cases of the method tests (near
    copies, near opposites, near-zero rows at noises down to 1e-8), batched by size."""
    from tests.core.mtl_jacobians import NEAR_SINGULAR, near_singular

    by_size: dict[int, list[torch.Tensor]] = {}
    for _, _, grads in near_singular(NEAR_SINGULAR, 6, seed=41):
        by_size.setdefault(len(grads), []).append(grads @ grads.T)
    return [_gramians_of_every_kind(), *(torch.stack(gramians) for gramians in by_size.values())]


@pytest.mark.parametrize(
    ("spec", "options"),
    [
        ("pcgrad", {}),
        ("cagrad", {}),
        ("cagrad", {"c": 1.0}),
        ("cagrad", {"c": 0.0}),
        ("mgda-ub", {}),
    ],
)
def test_batched_weights_equal_each_runs_own_method_bit_for_bit(spec, options):
    from core.mtl import make_method
    from core.mtl.system import GradientSystem
    from core.stacked.methods import BATCHED_WEIGHTS, GramianOnly

    flags = []
    for batch, gramians in enumerate(_gramian_batches()):
        together = [make_method(spec, **options) for _ in gramians]
        alone = [make_method(spec, **options) for _ in gramians]
        # twice: the second call with the generators and scales moved on
        for call in range(2):
            scaled = gramians * (1 + call)
            batched, converged = BATCHED_WEIGHTS[type(together[0])](scaled, together)
            for r, gramian in enumerate(scaled):
                system = GradientSystem(GramianOnly(gramian, 40, torch.float64), gramian)
                own = alone[r].combine_system(system, torch.zeros(len(gramian)))
                assert torch.equal(batched[r], own.weights), (batch, call, r)
                assert converged[r] == own.converged, (batch, call, r)
            flags += converged
    # near-opposite cases reach CAGrad's cap: its flags are compared both ways
    capped_on_some = spec == "cagrad" and options.get("c") != 0.0
    assert not all(flags) if capped_on_some else all(flags)


def test_graddrop_with_leakage_steps_as_alone_bit_for_bit(table):
    df, schema = table
    configs = [
        TrainConfig(batch_size=64, hidden=18, layers=2, seed=s, method="graddrop", method_options={"leakage": leak})
        for s, leak in ((0, 0.3), (1, 0.1), (2, 0.0))
    ]
    stacked = StackedTrainer(df, schema, configs)
    alone = [Trainer(df, schema, c) for c in configs]
    for _ in range(6):
        stacked.step()
        for trainer in alone:
            trainer.step()
    for r, trainer in enumerate(alone):
        for name, p in trainer.model.named_parameters():
            assert torch.equal(p, stacked.state.params[name][r]), (r, name)


def test_mgda_ub_solves_together_where_every_column_keeps_weight_and_alone_elsewhere(monkeypatch):
    import core.stacked.solvers as solvers

    alone = []
    original = solvers.min_norm_weights
    monkeypatch.setattr(solvers, "min_norm_weights", lambda gramian: alone.append(1) or original(gramian))
    batches = _gramian_batches()
    for gramians in batches:
        solvers.min_norm_weights_of_runs(gramians.numpy())
    runs = sum(len(gramians) for gramians in batches)
    # both paths are taken, so the equality test above covers both
    assert 0 < len(alone) < runs


def test_solvers_batched_across_their_runs_step_as_alone_bit_for_bit(table):
    # four CAGrad runs (its runs are solved together from 4 up), two of each other solver
    df, schema = table
    specs = [("cagrad", {"c": c}) for c in (0.4, 0.4, 0.8, 0.2)] + [
        (spec, {}) for spec in ("nash-mtl", "nash-mtl", "mgda-ub", "mgda-ub", "upgrad", "upgrad")
    ]
    configs = [
        TrainConfig(batch_size=64, hidden=18, layers=2, seed=r % 3, method=spec, method_options=options)
        for r, (spec, options) in enumerate(specs)
    ]
    stacked = StackedTrainer(df, schema, configs)
    alone = [Trainer(df, schema, c) for c in configs]
    for _ in range(6):
        records = stacked.step()
        for record, trainer in zip(records, alone, strict=True):
            assert record.converged == trainer.step().converged
    for r, trainer in enumerate(alone):
        for name, p in trainer.model.named_parameters():
            assert torch.equal(p, stacked.state.params[name][r]), (r, name)
