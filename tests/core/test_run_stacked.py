"""Runs trained stacked: the same RunResults and grid files as each run alone."""

import json

import pytest

from core.grid import GridJob, GridTask, bundle_tasks, run_bundle, run_task
from core.io import load_table
from core.run import train_run
from core.run_stacked import stackable, train_runs
from core.synthetic import make_synthetic
from core.trainer import TrainConfig

SMALL = {"batch_size": 64, "hidden": 8, "layers": 1}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "synthetic.csv"
    make_synthetic(n_rows=400, seed=0)[0].to_csv(path, index=False)
    return load_table(path)


@pytest.mark.parametrize("model", ["vae", "hivae"])
def test_every_stacked_run_has_the_result_of_its_run_alone(table, model):
    """Seeds and methods mixed (a cocktail, a stateful method), a short last batch each
    epoch: metrics (test scores, history, verdicts) equal, as the trainer's state."""
    methods = ("none", "imtl-g+pcgrad", "gradnorm")
    configs = [TrainConfig(model=model, method=m, seed=s, **SMALL) for s in (0, 1) for m in methods]
    assert stackable(configs)
    stacked = train_runs(table, configs, epochs=2)
    for config, result in zip(configs, stacked, strict=True):
        alone = train_run(table, config, epochs=2)
        assert result.metrics() == alone.metrics()
        assert result.trainer.step_count == alone.trainer.step_count


def test_a_diverging_run_stops_alone_as_it_does_by_itself(table):
    configs = [TrainConfig(method=m, seed=0, lr=lr, **SMALL) for m, lr in (("none", 1e6), ("pcgrad", 1e-3))]
    stacked = train_runs(table, configs, epochs=2)
    for config, result in zip(configs, stacked, strict=True):
        assert result.metrics() == train_run(table, config, epochs=2).metrics()
    assert stacked[0].stopped_by is not None and stacked[1].stopped_by is None


def test_what_cannot_be_stacked_is_trained_alone(table):
    assert not stackable([TrainConfig(**SMALL)])
    assert not stackable([TrainConfig(method="auto", **SMALL), TrainConfig(**SMALL)])
    unaligned = {**SMALL, "batch_size": 100}  # no step of a stack would line up: one by one
    assert not stackable([TrainConfig(**unaligned), TrainConfig(seed=1, **unaligned)])
    configs = [TrainConfig(hidden=8, layers=1, batch_size=64), TrainConfig(hidden=4, layers=1, batch_size=64)]
    for config, result in zip(configs, train_runs(table, configs, epochs=1), strict=True):
        assert result.metrics() == train_run(table, config, epochs=1).metrics()


def test_a_grid_bundle_writes_what_its_runs_write_alone(table, tmp_path):
    job = GridJob(table, TrainConfig(**SMALL), 1, tmp_path / "stacked", False)
    tasks = [GridTask(m, s) for s in (0, 1) for m in ("none", "imtl-g")]
    assert bundle_tasks(tasks, workers=2) == [[tasks[0], tasks[2]], [tasks[1], tasks[3]]]
    assert [len(b) for b in bundle_tasks(tasks * 5, workers=1)] == [7, 7, 6]  # at most BUNDLE_RUNS
    outcomes = run_bundle(job, tasks)
    alone_job = GridJob(table, TrainConfig(**SMALL), 1, tmp_path / "alone", False)
    for task, outcome in zip(tasks, outcomes, strict=True):
        expected = run_task(alone_job, task)
        assert (outcome.method, outcome.seed, outcome.metrics) == (expected.method, expected.seed, expected.metrics)
        folder = f"runs/{task.method}_seed{task.seed}/metrics.json"
        assert json.loads((tmp_path / "stacked" / folder).read_text()) == expected.metrics
