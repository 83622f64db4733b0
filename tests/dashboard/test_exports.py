"""The dashboard's downloads: histories as CSV/JSON, per-column metrics, and the model
weights as bytes that restore the run."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from core.history import History
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer
from dashboard.exports import histories_json, history_frame, metrics_frame

NAMES = ["a", "b"]


def _history() -> History:
    history = History(8)
    for i in range(20):
        history.append(
            step=i, method="none", loss=float(i) / 2, conflicts=None if i % 3 else i, column_losses=np.array([i, -i])
        )
    return history


def test_history_frame_spreads_per_column_fields_over_named_columns():
    history = _history()
    frame = history_frame(history, NAMES)
    assert list(frame.columns) == ["step", "method", "loss", "conflicts", "column_losses[a]", "column_losses[b]"]
    np.testing.assert_array_equal(frame["step"], history.field("step"))
    np.testing.assert_array_equal(frame["column_losses[a]"], history.field("step"))
    np.testing.assert_array_equal(frame["column_losses[b]"], -history.field("step"))
    round_trip = pd.read_csv(io.StringIO(frame.to_csv(index=False)))
    np.testing.assert_allclose(round_trip["loss"], frame["loss"])


def test_histories_json_is_valid_json_with_nulls_for_missing_numbers():
    steps, evaluations = _history(), History(4)
    evaluations.append(step=0, mean_error=0.5, errors=np.array([0.4, math.nan]))
    document = json.loads(histories_json(steps, evaluations, NAMES))
    assert document["columns"] == NAMES
    assert [row["step"] for row in document["steps"]] == steps.field("step").tolist()
    conflicts = [row["conflicts"] for row in document["steps"]]
    assert all((c is None) == (s % 3 != 0) for c, s in zip(conflicts, steps.field("step"), strict=True))
    assert document["evaluations"] == [{"step": 0, "mean_error": 0.5, "errors[a]": 0.4, "errors[b]": None}]


@pytest.fixture(scope="module")
def trainer():
    df, schema = make_synthetic(n_rows=300, seed=0)
    run = Trainer(df, schema, TrainConfig(batch_size=32, hidden=8, layers=1, method="pcgrad"))
    for _ in range(3):
        run.step()
    return run


def test_metrics_frame_has_one_row_per_column(trainer):
    evaluation = trainer.evaluate("val")
    frame = metrics_frame(evaluation)
    assert list(frame["column"]) == [c.name for c in trainer.features]
    assert frame["error"].tolist() == pytest.approx([s.error for s in evaluation.scores], nan_ok=True)
    assert set(frame["split"]) == {"val"}


def test_state_bytes_restore_the_run_exactly(trainer):
    state = torch.load(io.BytesIO(trainer.state_bytes()), weights_only=False)
    df, schema = make_synthetic(n_rows=300, seed=0)
    # a fresh model built from the checkpoint's config, then given its weights and optimizer state
    restored = Trainer(df, schema, TrainConfig.from_dict({**state["config"], "method": "none"}))
    restored.load_state_dict(state)
    assert restored.step_count == trainer.step_count and restored.method == "pcgrad"
    assert restored.step().loss == trainer.step().loss
