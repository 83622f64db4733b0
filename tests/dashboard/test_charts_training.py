"""Figure builders of the train view, checked against independent computations
(pandas rolling means, explicit loops, plotly's own colour interpolation)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from plotly.colors import find_intermediate_color, hex_to_rgb

from core.metrics import ColumnScore
from core.schema import Column, ColumnType
from dashboard.charts.common import ALIGNED_BLUE, CONFLICT_RED
from dashboard.charts.training import (
    OVERLOOKED_COLOUR,
    SOURCE_COLOURS,
    conflict_counts,
    cosine_heatmap,
    drawn_points,
    error_table,
    gradient_bars,
    loss_change,
    loss_curves,
    marginal_chart,
    marginal_grid,
    marginal_shares,
)

NAMES = ["age", "income", "colour"]
finite = st.floats(-50, 50, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    losses=arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 4)), elements=finite),
    window=st.integers(1, 12),
)
def test_loss_change_is_a_trailing_mean_minus_the_first_point(losses, window):
    expected = pd.DataFrame(losses).rolling(window, min_periods=1).mean().to_numpy() - losses[0]
    np.testing.assert_allclose(loss_change(losses, window), expected, atol=1e-9)


@settings(max_examples=20, deadline=None)
@given(losses=arrays(np.float64, (12, 3), elements=finite), shift=finite)
def test_loss_change_ignores_a_constant_shift_of_one_column(losses, shift):
    # a change of units adds a constant log-Jacobian to a column's NLL: the curve must not move
    shifted = losses.copy()
    shifted[:, 1] += shift
    np.testing.assert_allclose(loss_change(shifted, 3), loss_change(losses, 3), atol=1e-9)


def test_loss_change_refuses_empty_input_and_zero_window():
    with pytest.raises(ValueError):
        loss_change(np.zeros((0, 3)), 1)
    with pytest.raises(ValueError):
        loss_change(np.zeros((4, 3)), 0)


def test_loss_curves_plot_the_change_and_put_overlooked_columns_first_and_thicker():
    steps = np.arange(1, 81)
    losses = np.random.default_rng(0).normal(size=(80, 3)).cumsum(axis=0)
    fig = loss_curves(steps, losses, NAMES, overlooked=["colour"], uirevision="keep")
    assert [t.name for t in fig.data] == ["colour", "age", "income"]
    window = 2  # 80 points, smoothed over a fortieth of them
    for trace in fig.data:
        k = NAMES.index(trace.name)
        np.testing.assert_allclose(trace.y, loss_change(losses, window)[:, k])
        np.testing.assert_array_equal(trace.x, steps)
    widths = {t.name: t.line.width for t in fig.data}
    assert widths["colour"] > widths["age"] == widths["income"]
    assert fig.data[0].legendgroup == "overlooked" and fig.data[1].legendgroup != "overlooked"
    assert fig.layout.uirevision == "keep"
    assert "nats" in fig.layout.yaxis.title.text


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3000), max_points=st.integers(2, 500))
def test_drawn_points_are_few_evenly_spread_and_keep_both_ends(n, max_points):
    shown = drawn_points(n, max_points)
    assert len(shown) <= max_points and shown[0] == 0 and shown[-1] == n - 1
    assert np.all(np.diff(shown) > 0)
    if n <= max_points:
        assert len(shown) == n
    else:
        gaps = np.diff(shown)
        assert len(shown) == max_points and gaps.max() - gaps.min() <= 1


def test_long_histories_are_smoothed_in_full_and_drawn_thinned():
    steps = np.arange(1, 2001)
    losses = np.random.default_rng(2).normal(size=(2000, 3))
    fig = loss_curves(steps, losses, NAMES)
    shown = drawn_points(2000)
    expected = loss_change(losses, 50)[shown]  # smoothed over a fortieth of all 2000 points
    for trace in fig.data:
        np.testing.assert_array_equal(trace.x, steps[shown])
        np.testing.assert_allclose(trace.y, expected[:, NAMES.index(trace.name)])


def test_a_single_step_is_drawn_as_points():
    fig = loss_curves(np.array([1]), np.zeros((1, 3)), NAMES)
    assert all(t.mode == "markers" for t in fig.data)


def _colour_at(colourscale, value: float) -> tuple:
    """plotly's colour for ``value`` on a [-1, 1] scale, by linear interpolation."""
    position = (value + 1) / 2
    stops = [(p, hex_to_rgb(c)) for p, c in colourscale]
    for (p0, c0), (p1, c1) in itertools.pairwise(stops):
        if p0 <= position <= p1:
            return find_intermediate_color(c0, c1, (position - p0) / (p1 - p0))
    raise AssertionError("value outside the scale")


def test_cosine_heatmap_has_a_fixed_diverging_scale_with_conflicts_in_red():
    rng = np.random.default_rng(1)
    grads = rng.normal(size=(5, 8))
    unit = grads / np.linalg.norm(grads, axis=1, keepdims=True)
    cosines = unit @ unit.T
    names = [f"c{i}" for i in range(5)]
    fig = cosine_heatmap(cosines, names)
    heat = fig.data[0]
    assert (heat.zmin, heat.zmax, heat.zmid) == (-1, 1, 0)
    assert _colour_at(heat.colorscale, -1) == hex_to_rgb(CONFLICT_RED)
    assert _colour_at(heat.colorscale, 1) == hex_to_rgb(ALIGNED_BLUE)
    conflicts = sum(cosines[i, j] < 0 for i, j in itertools.combinations(range(5), 2))
    assert f"{conflicts} of 10 pairs" in fig.layout.title.text
    drawn = np.asarray(heat.z, dtype=np.float64)
    off_diagonal = ~np.eye(5, dtype=bool)
    np.testing.assert_array_equal(drawn[off_diagonal], cosines[off_diagonal])
    assert np.isnan(np.diag(drawn)).all()


def test_conflict_counts_span_all_pairs_and_bridge_skipped_steps():
    fig = conflict_counts(np.arange(4), np.array([3, np.nan, 2, 5]), n_columns=6)
    assert tuple(fig.layout.yaxis.range) == (0, 15)
    assert fig.data[0].connectgaps


def test_gradient_bars_show_norms_on_a_log_axis_and_weights_with_overlooked_in_red():
    norms, weights = np.array([0.5, 20.0, 3.0]), np.array([1.0, 0.2, 1.8])
    fig = gradient_bars(NAMES, norms, weights, overlooked=["income"])
    norm_bars, weight_bars = fig.data
    np.testing.assert_array_equal(norm_bars.x, norms)
    np.testing.assert_array_equal(weight_bars.x, weights)
    assert list(norm_bars.y) == NAMES
    assert fig.layout.xaxis.type == "log"
    assert [c == OVERLOOKED_COLOUR for c in norm_bars.marker.color] == [False, True, False]


def test_class_shares_follow_the_schema_categories():
    column = Column("colour", ColumnType.CATEGORICAL, categories=("blue", "green", "red"))
    data = pd.Series(["red", "red", "blue", None, "green", "red"])
    model = pd.Series(["blue", "blue", "blue", "green"])
    shares = marginal_shares(column, {"data": data, "samples": model})
    by_source = {s: part.sort_values("position") for s, part in shares.groupby("source")}
    assert list(by_source["data"]["label"]) == ["blue", "green", "red"]
    observed = data.dropna()
    assert list(by_source["data"]["share"]) == [sum(observed == c) / len(observed) for c in ("blue", "green", "red")]
    assert list(by_source["samples"]["share"]) == [0.75, 0.25, 0.0]


def test_numeric_codes_match_their_classes_whatever_the_number_type():
    column = Column("level", ColumnType.ORDINAL, categories=(1, 2, 3))
    shares = marginal_shares(
        column, {"data": pd.Series([1.0, 3.0, 3.0, np.nan]), "reconstruction": pd.Series([1, 1, 2], dtype="Int64")}
    )
    data = shares[shares.source == "data"].sort_values("position")["share"].tolist()
    assert data == pytest.approx([1 / 3, 0, 2 / 3])


def test_numeric_bins_span_the_data_and_catch_the_model_outside_it():
    column = Column("x", ColumnType.REAL)
    data = pd.Series([0.0, 1.0, 2.0, 3.0, 4.0, np.nan])
    model = pd.Series([-10.0, 0.5, 2.5, 99.0])
    shares = marginal_shares(column, {"data": data, "reconstruction": model}, max_bins=4)

    # four equal bins over [0, 4], the last one closed: by hand
    def bin_of(v):
        return min(3, max(0, int(np.clip(v, 0, 4) // 1)))

    for source, values in (("data", data.dropna()), ("reconstruction", model)):
        got = shares[shares.source == source].sort_values("position")["share"].to_numpy()
        expected = np.bincount([bin_of(v) for v in values], minlength=4) / len(values)
        np.testing.assert_allclose(got, expected)
    assert shares[shares.source == "data"]["label"].iloc[0] == "0 – 1"


def test_a_constant_numeric_column_gets_one_bin():
    shares = marginal_shares(Column("x", ColumnType.COUNT), {"data": pd.Series([7, 7, 7])})
    assert shares["share"].tolist() == [1.0]


def test_marginal_chart_draws_the_data_as_bars_and_the_model_as_lines():
    column = Column("colour", ColumnType.CATEGORICAL, categories=("blue", "red"))
    shares = marginal_shares(
        column,
        {"data": pd.Series(["red", "blue"]), "reconstruction": pd.Series(["red"]), "samples": pd.Series(["blue"])},
    )
    fig = marginal_chart(column, shares, uirevision="m")
    kinds = {t.name: t.type for t in fig.data}
    assert kinds == {"data": "bar", "reconstruction": "scatter", "samples": "scatter"}
    assert fig.layout.uirevision == "m"


def test_marginal_grid_is_one_panel_per_column_with_independent_scales():
    shares = pd.concat(
        [
            marginal_shares(
                Column("x", ColumnType.REAL), {"data": pd.Series([1.0, 2.0]), "samples": pd.Series([1.5])}
            ).assign(column="x"),
            marginal_shares(
                Column("c", ColumnType.BINARY, categories=("no", "yes")),
                {"data": pd.Series(["no", "yes"]), "samples": pd.Series(["no"])},
            ).assign(column="c"),
        ]
    )
    spec = marginal_grid(shares).to_dict()  # validates against the Vega-Lite schema
    assert spec["facet"]["field"] == "column" and spec["facet"]["sort"] == ["x", "c"]
    assert spec["resolve"]["scale"] == {"x": "independent", "y": "independent"}
    assert spec["spec"]["layer"][0]["encoding"]["color"]["scale"]["range"] == list(SOURCE_COLOURS.values())


def _score(name, error, baseline, overlooked):
    return ColumnScore(name, ColumnType.REAL, error, baseline, overlooked, None)


def test_error_table_is_worst_first_with_trends_since_the_previous_evaluation():
    previous = [_score("a", 0.30, 0.3, True), _score("b", 0.10, 0.4, False), _score("c", 0.2, 0.0, False)]
    now = [_score("a", 0.29, 0.3, True), _score("b", 0.12, 0.4, False), _score("c", 0.2, 0.0, False)]
    table = error_table(now, previous)
    assert list(table["column"]) == ["a", "b", "c"]  # 0.29/0.3, 0.12/0.4, then no ratio (baseline 0)
    assert table["error / baseline"].iloc[0] == pytest.approx(0.29 / 0.3)
    assert np.isnan(table["error / baseline"].iloc[2])
    assert list(table["trend"]) == ["↓", "↑", "→"]
    np.testing.assert_allclose(table["change"], [0.29 - 0.30, 0.12 - 0.10, 0.0], atol=1e-12)
    assert list(table["overlooked"]) == [True, False, False]
    first = error_table(now)
    assert list(first["trend"]) == ["–", "–", "–"]


def test_hover_can_be_turned_off_for_live_redraws():
    column = Column("colour", ColumnType.BINARY, categories=("no", "yes"))
    shares = marginal_shares(column, {"data": pd.Series(["no", "yes"])})
    builders = [
        lambda hover: loss_curves(np.arange(3), np.zeros((3, 3)), NAMES, hover=hover),
        lambda hover: cosine_heatmap(np.eye(3), NAMES, hover=hover),
        lambda hover: conflict_counts(np.arange(3), np.zeros(3), 3, hover=hover),
        lambda hover: gradient_bars(NAMES, np.ones(3), np.ones(3), hover=hover),
        lambda hover: marginal_chart(column, shares, hover=hover),
    ]
    for build in builders:
        assert build(False).layout.hovermode is False
        assert build(True).layout.hovermode == "closest"


def test_gradient_bars_lay_out_their_panels_as_make_subplots_does():
    """The two panels are laid out by hand (make_subplots costs more than the rest of the
    figure on every refresh): the same axes, domains and titles as make_subplots gives."""
    from plotly.subplots import make_subplots

    titles = ("gradient norm (log scale)", "weight the method applied")
    reference = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04, subplot_titles=titles)
    fig = gradient_bars(NAMES, np.array([0.5, 20.0, 3.0]), np.array([1.0, 0.2, 1.8]))
    for axis in ("xaxis", "xaxis2", "yaxis", "yaxis2"):
        ours, theirs = fig.layout[axis], reference.layout[axis]
        assert ours.domain == pytest.approx(theirs.domain) and ours.anchor == theirs.anchor
    assert fig.layout.yaxis2.matches == reference.layout.yaxis2.matches == "y"
    for ours, theirs in zip(fig.layout.annotations, reference.layout.annotations, strict=True):
        assert (ours.text, ours.yanchor, ours.font.size) == (theirs.text, theirs.yanchor, theirs.font.size)
        assert (ours.x, ours.y) == pytest.approx((theirs.x, theirs.y))
    assert [(t.xaxis, t.yaxis) for t in fig.data] == [("x", "y"), ("x2", "y2")]
