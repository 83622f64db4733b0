"""Figures of the compare view: they draw exactly the numbers they are given, one colour
per configuration throughout, on shared axes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.charts.compare import (
    CONFIGURATION_PALETTE,
    column_error_bars,
    configuration_colours,
    error_heatmap,
    summary_bars,
    training_curves,
)

LABELS = ["none", "imtl-g", "pcgrad"]
COLUMNS = ["age", "income", "sex"]


@pytest.fixture
def scores():
    rng = np.random.default_rng(1)
    rows = [
        {
            "configuration": label,
            "column": column,
            "type": "real",
            "error": float(rng.uniform(0.05, 0.9)),
            "baseline_error": 0.5,
            "overlooked": False,
            "evaluated_at": 10,
        }
        for label in LABELS
        for column in COLUMNS
    ]
    frame = pd.DataFrame(rows)
    frame.loc[(frame.configuration == "pcgrad") & (frame.column == "sex"), "overlooked"] = True
    return frame


@pytest.fixture
def summary(scores):
    grouped = scores.groupby("configuration", sort=False)
    return pd.DataFrame(
        {
            "configuration": LABELS,
            "status": "running",
            "step": 10,
            "epoch": 0.5,
            "mean_error": grouped.error.mean().reindex(LABELS).to_numpy(),
            "worst_error": grouped.error.max().reindex(LABELS).to_numpy(),
            "worst_column": [grouped.get_group(l).set_index("column").error.idxmax() for l in LABELS],
            "overlooked": grouped.overlooked.sum().reindex(LABELS).to_numpy(),
            "evaluated_at": 10,
        }
    )


def test_each_configuration_keeps_one_distinct_colour():
    colours = configuration_colours([*LABELS, "a", "b", "c"])
    assert list(colours.values()) == list(CONFIGURATION_PALETTE)
    assert len(set(colours.values())) == 6


def test_column_bars_draw_each_configurations_errors_and_hatch_overlooked_columns(scores):
    fig = column_error_bars(scores, LABELS)
    assert [t.name for t in fig.data] == LABELS
    for trace in fig.data:
        expected = scores[scores.configuration == trace.name].set_index("column").error.reindex(COLUMNS)
        assert list(trace.x) == COLUMNS and np.array_equal(np.asarray(trace.y, dtype=float), expected.to_numpy())
        assert trace.marker.color == configuration_colours(LABELS)[trace.name]
        hatched = [shape == "/" for shape in trace.marker.pattern.shape]
        assert hatched == [trace.name == "pcgrad" and c == "sex" for c in COLUMNS]
    assert fig.layout.barmode == "group"


def test_summary_bars_share_one_error_axis_and_count_overlooked(summary):
    fig = summary_bars(summary)
    mean, worst, overlooked = fig.data
    assert list(mean.y) == pytest.approx(summary.mean_error) and list(worst.y) == pytest.approx(summary.worst_error)
    assert list(overlooked.y) == [0, 0, 1]
    assert fig.layout.yaxis.range == fig.layout.yaxis2.range
    assert fig.layout.yaxis.range[1] >= summary.worst_error.max()
    assert list(mean.marker.color) == [configuration_colours(LABELS)[l] for l in LABELS]
    assert list(worst.customdata) == list(summary.worst_column)


def test_training_curves_overlay_every_configuration_against_epochs():
    curves = pd.DataFrame(
        {
            "configuration": np.repeat(LABELS, 3),
            "step": np.tile([0, 5, 10], 3),
            "epoch": np.tile([0.0, 0.5, 1.0], 3),
            "mean_error": np.linspace(0.5, 0.1, 9),
        }
    )
    losses = pd.DataFrame(
        {
            "configuration": np.repeat(LABELS, 60),
            "step": np.tile(np.arange(1, 61), 3),
            "epoch": np.tile(np.arange(1, 61) / 60, 3),
            "loss": np.arange(180, dtype=float),
        }
    )
    fig = training_curves(curves, losses, LABELS)
    errors = [t for t in fig.data if t.xaxis == "x"]
    loss = [t for t in fig.data if t.xaxis == "x2"]
    assert [t.name for t in errors] == LABELS and [t.name for t in loss] == LABELS
    assert list(errors[1].y) == pytest.approx(curves.mean_error[3:6])
    # the smoothed loss is the trailing mean over a thirtieth of the points
    window = round(60 / 30)
    expected = pd.Series(np.arange(60, 120, dtype=float)).rolling(window, min_periods=1).mean()
    assert list(loss[1].y) == pytest.approx(expected)
    assert [t.line.color for t in errors] == [t.line.color for t in loss]


def test_heatmap_is_columns_by_configurations_and_marks_overlooked_cells(scores):
    fig = error_heatmap(scores, LABELS)
    heat = fig.data[0]
    assert list(heat.x) == LABELS and list(heat.y) == COLUMNS
    expected = scores.pivot(index="column", columns="configuration", values="error").loc[COLUMNS, LABELS]
    assert np.array_equal(np.asarray(heat.z, dtype=float), expected.to_numpy())
    marked = np.char.startswith(np.asarray(heat.text, dtype=str), "●")
    assert marked.sum() == 1 and marked[COLUMNS.index("sex"), LABELS.index("pcgrad")]
    assert heat.zmin == 0
