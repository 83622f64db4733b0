"""Comparing configurations: labels and differences, the fairness statement (and that it
is true), the shareable configuration string, the live round-robin Comparison, and the
median summary of a grid."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace
from io import StringIO

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.comparison import CANCELLED, DIVERGED, FINISHED, PAUSED, RUNNING, Comparison
from core.configurations import (
    configuration_labels,
    differences_table,
    encode_configurations,
    fairness_notes,
    parse_configurations,
)
from core.errors import DataError
from core.grid import GridOutcome, runs_frame, summarize
from core.mtl import METHODS
from core.schema import Column, ColumnType
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer

SMALL = dict(hidden=8, layers=1, batch_size=32)


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=400, seed=0)


def _configs(*methods, **changes):
    return [TrainConfig(method=m, **{**SMALL, **changes}) for m in methods]


def _comparison(table, configs, epochs=2, **kw):
    data, schema = table
    return Comparison("synthetic", data, schema, configs, epochs=epochs, **kw)


# --- configurations -------------------------------------------------------------------


def test_labels_name_only_the_settings_that_differ():
    assert configuration_labels(_configs("none", "imtl-g", "pcgrad")) == ["none", "imtl-g", "pcgrad"]
    mixed = [TrainConfig(method="none"), TrainConfig(method="imtl-g", lr=0.01)]
    assert configuration_labels(mixed) == ["none · lr 0.001", "imtl-g · lr 0.01"]
    assert configuration_labels(_configs("none", "none", "imtl-g")) == ["none #1", "none #2", "imtl-g"]


def test_differences_table_lists_differing_settings_only():
    configs = [TrainConfig(method="none"), TrainConfig(method="imtl-g", lr=0.01, batch_size=64)]
    table = differences_table(configs)
    assert list(table.index) == ["method", "lr", "batch_size"]
    assert table.loc["lr"].tolist() == ["0.001", "0.01"]
    assert table.loc["batch_size"].tolist() == ["128", "64"]
    assert differences_table(_configs("none", "none")).empty


def test_fairness_says_when_only_the_method_differs():
    full, notes = fairness_notes(_configs("none", "imtl-g"), same_initial_weights=True)
    assert full and any("Only the gradient combination differs" in n for n in notes)
    assert any("same minibatches in the same order" in n for n in notes)
    full, notes = fairness_notes([*_configs("none", "imtl-g"), TrainConfig(method="pcgrad", lr=0.01, **SMALL)], True)
    assert not full and any("lr" in n and "not down to the gradient combination alone" in n for n in notes)
    full, notes = fairness_notes([TrainConfig(batch_size=64), TrainConfig(batch_size=128)], True)
    assert not full and any("minibatches differ" in n for n in notes)


@pytest.mark.parametrize("models, same_weights", [(("vae", "iwae", "dreg"), True), (("vae", "hivae"), False)])
def test_fairness_checks_the_initial_weights_when_models_differ(table, models, same_weights):
    comparison = _comparison(table, [TrainConfig(model=m, importance_samples=2, **SMALL) for m in models])
    full, notes = comparison.fairness()
    assert comparison.same_initial_weights is same_weights and not full
    assert any("draw their sampling noise in different patterns" in n for n in notes)
    assert any(
        ("same initial weights" if same_weights else "initial weights differ (different model)") in n for n in notes
    )
    assert any("same minibatches in the same order" in n for n in notes)


def test_what_the_fairness_note_promises_holds(table):
    """Same initial weights, same minibatches in the same order; the methods still differ."""
    comparison = _comparison(table, _configs("none", "imtl-g", "pcgrad"))
    assert comparison.same_initial_weights
    first = [p.detach().clone() for p in comparison.runs[0].trainer.model.parameters()]
    for run in comparison.runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(first, run.trainer.model.parameters(), strict=True))
    comparison.advance(steps=3 * 12)
    states = [run.trainer.batch_generator.get_state() for run in comparison.runs]
    assert all(torch.equal(states[0], s) for s in states[1:])
    assert all(run.trainer.step_count == 12 for run in comparison.runs)
    params = [torch.cat([p.detach().flatten() for p in run.trainer.model.parameters()]) for run in comparison.runs]
    assert not torch.equal(params[0], params[1])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["vae", "iwae", "dreg", "hivae"]),
            st.sampled_from([*list(METHODS), "imtl-g+pcgrad", "mgda-ub+graddrop"]),
            st.floats(1e-6, 1.0),
            st.integers(2, 4096),
        ),
        min_size=2,
        max_size=6,
    )
)
def test_configuration_string_round_trips(rows):
    configs = [TrainConfig(model=m, method=spec, lr=lr, batch_size=b) for m, spec, lr, b in rows]
    parsed = parse_configurations(encode_configurations(configs))
    for original, back in zip(configs, parsed, strict=True):
        assert (back.model, back.method, back.batch_size) == (original.model, original.method, original.batch_size)
        assert math.isclose(back.lr, original.lr, rel_tol=1e-5)


def test_configuration_string_without_batch_takes_the_base():
    parsed = parse_configurations("vae:none:0.001, iwae:imtl-g+pcgrad:0.01", TrainConfig(batch_size=64, seed=3))
    assert [(c.model, c.method, c.lr, c.batch_size, c.seed) for c in parsed] == [
        ("vae", "none", 0.001, 64, 3),
        ("iwae", "imtl-g+pcgrad", 0.01, 64, 3),
    ]
    # a link typed by hand with a bare "+" reaches the page as a space
    assert parse_configurations("vae:none:0.001,vae:imtl-g pcgrad:0.001")[1].method == "imtl-g+pcgrad"


@pytest.mark.parametrize(
    "text, named",
    [
        ("vae:none:0.001", "2 to 6"),
        (",".join(["vae:none:0.001"] * 7), "got 7"),
        ("vae:none:0.001,gan:none:0.001", "'gan'"),
        ("vae:none:0.001,vae:bogus:0.001", "'bogus'"),
        ("vae:none:0.001,vae:none:fast", "vae:none:fast"),
        ("vae:none:0.001,vae:none:-1", "vae:none:-1"),
        ("vae:none:0.001,vae:none:0.001:1", "batch size"),
        ("vae:none:0.001,vae:none", "model:method:lr"),
    ],
)
def test_bad_configuration_strings_raise_a_one_line_data_error(text, named):
    with pytest.raises(DataError) as caught:
        parse_configurations(text)
    message = str(caught.value)
    assert named in message and "\n" not in message


# --- the live comparison ---------------------------------------------------------------


def test_runs_step_together_with_the_results_of_runs_alone(table):
    data, schema = table
    configs = _configs("none", "imtl-g", "pcgrad")
    comparison = _comparison(table, configs, epochs=5, evaluate_every=5, evaluation_rows=None)
    assert comparison.stack is not None  # one model and batch size: the runs step stacked
    comparison.advance(steps=3 * 20)
    for config, run in zip(configs, comparison.runs, strict=True):
        alone = Trainer(data, schema, replace(config))
        losses = [alone.step().loss for _ in range(20)]
        assert np.array_equal(losses, run.losses.field("loss"))
        assert run.evaluated_at == 20
        evaluation = alone.evaluate("val")
        assert [s.error for s in evaluation.scores] == [s.error for s in run.evaluation.scores]


def test_runs_move_forward_together_in_epochs(table):
    configs = [TrainConfig(method="none", **{**SMALL, "batch_size": 16}), TrainConfig(method="imtl-g", **SMALL)]
    comparison = _comparison(table, configs)
    assert comparison.stack is None  # two batch sizes: stepped one by one
    comparison.advance(steps=30)
    small, large = comparison.runs
    assert small.trainer.step_count == 2 * large.trainer.step_count
    assert abs(small.progress - large.progress) <= 1 / large.total_steps


def test_pause_resume_and_cancel_act_on_one_run_only(table):
    comparison = _comparison(table, _configs("none", "imtl-g", "pcgrad"))
    comparison.pause(0)
    comparison.cancel(2)
    comparison.advance(steps=5)
    steps = [run.trainer.step_count for run in comparison.runs]
    assert steps == [0, 5, 0]
    assert [run.status for run in comparison.runs] == [PAUSED, RUNNING, CANCELLED]
    comparison.resume(0)
    comparison.resume(2)  # a cancelled run stays cancelled
    comparison.advance(steps=10)  # the resumed run catches up first, then they alternate
    first, second, cancelled = (run.trainer.step_count for run in comparison.runs)
    assert first + second == 15 and abs(first - second) <= 1 and cancelled == 0
    comparison.cancel(1)
    assert comparison.runs[1].evaluated_at == second  # its scores are those of the model it stopped with
    assert comparison.runs[2].status == CANCELLED


def test_runs_finish_after_their_epochs_and_then_advance_stops(table):
    comparison = _comparison(table, _configs("none", "imtl-g"), epochs=1)
    per_epoch = comparison.runs[0].trainer.steps_per_epoch
    done = comparison.advance(seconds=60)
    assert done == 2 * per_epoch
    assert all(run.status == FINISHED and run.evaluated_at == per_epoch for run in comparison.runs)
    assert not comparison.active and comparison.advance(steps=5) == 0


def test_a_diverging_run_stops_alone_and_says_why(table):
    configs = [*_configs("none", "imtl-g"), TrainConfig(method="pcgrad", lr=1000000.0, **SMALL)]
    comparison = _comparison(table, configs, epochs=1)
    comparison.advance(seconds=60)
    statuses = [run.status for run in comparison.runs]
    assert statuses == [FINISHED, FINISHED, DIVERGED]
    assert "learning rate" in comparison.runs[2].message
    assert comparison.summary_frame()["status"].tolist() == statuses


def test_frames_and_json_describe_every_configuration(table):
    comparison = _comparison(table, _configs("none", "imtl-g", "pcgrad"), evaluate_every=5)
    comparison.advance(steps=30)
    k = len(comparison.names)
    scores = comparison.scores_frame()
    assert len(scores) == 3 * k and set(scores["configuration"]) == {"none", "imtl-g", "pcgrad"}
    summary = comparison.summary_frame().set_index("configuration")
    for run in comparison.runs:
        errors = [s.error for s in run.evaluation.scores]
        assert summary.loc[run.label, "mean_error"] == pytest.approx(np.nanmean(errors))
        assert summary.loc[run.label, "worst_error"] == pytest.approx(np.nanmax(errors))
        assert summary.loc[run.label, "overlooked"] == sum(s.overlooked for s in run.evaluation.scores)
    curves = comparison.curves_frame()
    assert curves.groupby("configuration")["step"].apply(list).to_dict()["none"] == [0, 5, 10]
    document = json.loads(comparison.to_json())
    assert document["only_method_differs"] is True and document["columns"] == comparison.names
    assert [c["label"] for c in document["configurations"]] == ["none", "imtl-g", "pcgrad"]
    assert all(len(c["scores"]) == k and c["step"] == 10 for c in document["configurations"])


def test_a_comparison_needs_two_to_six_configurations_with_one_seed(table):
    with pytest.raises(DataError, match="2 to 6"):
        _comparison(table, _configs("none"))
    with pytest.raises(DataError, match="same seed"):
        _comparison(table, [TrainConfig(seed=0, **SMALL), TrainConfig(seed=1, **SMALL)])


# --- the grid's summary ------------------------------------------------------------------


def _outcome(method, seed, errors, stopped=None):
    features = [
        {"name": f"c{j}", "type": "real", "error": e, "baseline_error": 1.0, "overlooked": e >= 0.9}
        for j, e in enumerate(errors)
    ]
    metrics = {"features": features, **({"stopped_by": stopped} if stopped else {})}
    return GridOutcome(method, seed, metrics, 0.0)


def test_summary_takes_medians_over_finished_seeds():
    rng = np.random.default_rng(0)
    features = [Column(f"c{j}", ColumnType.REAL) for j in range(3)]
    errors = {(m, s): rng.uniform(0.1, 1.0, 3).tolist() for m in ("a", "b") for s in range(5)}
    outcomes = [_outcome(m, s, e, "diverged" if (m, s) == ("b", 4) else None) for (m, s), e in errors.items()]
    runs = runs_frame(outcomes, features)
    assert runs.columns.tolist() == ["method", "seed", "column", "type", "error", "baseline_error", "overlooked"]
    assert runs[(runs.method == "b") & (runs.seed == 4)]["error"].isna().all()
    summary = summarize(pd.read_csv(StringIO(runs.to_csv(index=False))), ["b", "a"]).set_index("method")
    assert list(summary.index) == ["b", "a"]
    for method, seeds in (("a", range(5)), ("b", range(4))):
        run_means = [statistics.fmean(errors[method, s]) for s in seeds]
        row = summary.loc[method]
        assert row["runs"] == len(seeds) and row["stopped"] == 5 - len(seeds)
        assert row["mean_error"] == pytest.approx(statistics.median(run_means))
        assert (row["mean_error_min"], row["mean_error_max"]) == pytest.approx((min(run_means), max(run_means)))
        assert row["worst_error"] == pytest.approx(statistics.median(max(errors[method, s]) for s in seeds))
        assert row["overlooked"] == statistics.median(sum(e >= 0.9 for e in errors[method, s]) for s in seeds)
        for j in range(3):
            assert row[f"error[c{j}]"] == pytest.approx(statistics.median(errors[method, s][j] for s in seeds))
