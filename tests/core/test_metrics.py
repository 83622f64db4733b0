"""Metrics against hand-computed values and an independent per-column reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.metrics import OVERLOOK_RATIO, mean_error, score_columns
from core.schema import Column, ColumnType

FEATURES = [
    Column("a", ColumnType.REAL),
    Column("b", ColumnType.COUNT),
    Column("c", ColumnType.CATEGORICAL, categories=("x", "y", "z")),
    Column("d", ColumnType.ORDINAL, categories=(1, 2, 3, 4)),
    Column("e", ColumnType.BINARY, categories=("no", "yes")),
    Column("f", ColumnType.POSITIVE),
]
#                  a  b  c  d  e  f
TRUTH = np.array(
    [[1, 0, 0, 0, 1, 5], [2, 2, 1, 1, 1, 5], [3, 4, 2, 2, 1, 5], [4, 4, 1, 3, 1, 5], [6, 10, 1, 3, 1, 5]], dtype=float
)
PRED = np.array(
    [[1, 0, 0, 0, 1, 1], [2, 2, 1, 1, 0, 1], [2, 4, 1, 3, 1, 1], [5, 4, 1, 3, 1, 1], [6, 0, 2, 1, 1, 1]], dtype=float
)
MASK = np.ones_like(TRUTH, dtype=bool)
MASK[4, 0] = False  # a: the last row is not evaluated
MASK[:, 5] = False  # f: nothing evaluated
BASELINE = np.array([2.5, 4, 1, 3, 1, 5], dtype=float)


def test_scores_match_hand_computed_values():
    scores = score_columns(FEATURES, TRUTH, PRED, MASK, BASELINE)
    by_name = {s.name: s for s in scores}

    a = by_name["a"]  # rows 0..3: truth 1,2,3,4 (range 3); errors 0,0,-1,1; baseline errors 1.5,.5,.5,1.5
    assert a.error == pytest.approx(math.sqrt(2 / 4) / 3)
    assert a.baseline_error == pytest.approx(math.sqrt(5 / 4) / 3)
    assert not a.overlooked and a.shift_error is None

    b = by_name["b"]  # range 10; errors 0,0,0,0,10; baseline errors 4,2,0,0,6
    assert b.error == pytest.approx(math.sqrt(100 / 5) / 10)
    assert b.baseline_error == pytest.approx(math.sqrt(56 / 5) / 10)
    assert b.overlooked

    c = by_name["c"]  # 2 of 5 wrong; the mode (1) is wrong on 2 of 5 too
    assert (c.error, c.baseline_error, c.overlooked) == (pytest.approx(0.4), pytest.approx(0.4), True)

    d = by_name["d"]  # 2 of 5 wrong with shifts 1 and 2 over 4 classes; the mode (3) is wrong on 3 of 5
    assert (d.error, d.baseline_error) == (pytest.approx(0.4), pytest.approx(0.6))
    assert d.shift_error == pytest.approx(3 / 5 / 4)
    assert not d.overlooked

    e = by_name["e"]  # the baseline is always right: nothing to beat, never overlooked
    assert (e.error, e.baseline_error, e.overlooked) == (pytest.approx(0.2), 0.0, False)

    f = by_name["f"]  # no evaluated cell
    assert math.isnan(f.error) and math.isnan(f.baseline_error) and not f.overlooked

    assert [s.type for s in scores] == [c.type for c in FEATURES]
    assert mean_error(scores) == pytest.approx(np.mean([a.error, b.error, 0.4, 0.4, 0.2]))


def test_tensors_and_arrays_give_the_same_scores():
    from_arrays = score_columns(FEATURES, TRUTH, PRED, MASK, BASELINE)
    from_tensors = score_columns(
        FEATURES,
        torch.tensor(TRUTH, dtype=torch.float32),
        torch.tensor(PRED, dtype=torch.float32),
        torch.tensor(MASK),
        torch.tensor(BASELINE, dtype=torch.float32),
    )
    for x, y in zip(from_arrays, from_tensors, strict=True):
        assert x.name == y.name and x.overlooked == y.overlooked
        np.testing.assert_allclose([x.error, x.baseline_error], [y.error, y.baseline_error], rtol=1e-6)


def test_constant_numerical_column_is_scored_by_plain_rmse():
    column = [Column("g", ColumnType.REAL)]
    truth = np.full((4, 1), 2.0)
    pred = np.array([[2.0], [3.0], [1.0], [2.0]])
    (score,) = score_columns(column, truth, pred, np.ones((4, 1), bool), np.array([2.0]))
    assert score.error == pytest.approx(math.sqrt(2 / 4))
    assert score.baseline_error == 0.0 and not score.overlooked


@pytest.mark.parametrize("factor,overlooked", [(1.0, True), (OVERLOOK_RATIO, True), (0.89, False), (0.5, False)])
def test_overlooked_exactly_when_error_reaches_the_ratio_of_the_baseline(factor, overlooked):
    column = [Column("h", ColumnType.REAL)]
    truth = np.array([[0.0], [2.0]])  # baseline 1 -> error 1 everywhere, range 2
    pred = truth + np.array([[factor], [-factor]])
    (score,) = score_columns(column, truth, pred, np.ones((2, 1), bool), np.array([1.0]))
    assert score.overlooked is overlooked


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError):
        score_columns(FEATURES, TRUTH, PRED[:, :3], MASK, BASELINE)
    with pytest.raises(ValueError):
        score_columns(FEATURES, TRUTH, PRED, MASK, BASELINE[:2])


# --- property: equal to an independent per-column reference -----------------------------------------
def reference_errors(kind, n_classes, truth, pred, baseline):
    """Straight from PAPER.md, one cell at a time."""
    if kind.is_numerical:
        spread = (max(truth) - min(truth)) or 1.0
        rmse = lambda p: math.sqrt(sum((pi - ti) ** 2 for pi, ti in zip(p, truth, strict=True)) / len(truth))  # noqa: E731
        return rmse(pred) / spread, rmse([baseline] * len(truth)) / spread, None
    wrong = lambda p: sum(pi != ti for pi, ti in zip(p, truth, strict=True)) / len(truth)  # noqa: E731
    shift = (
        sum(abs(pi - ti) for pi, ti in zip(pred, truth, strict=True)) / len(truth) / n_classes
        if kind is ColumnType.ORDINAL
        else None
    )
    return wrong(pred), wrong([baseline] * len(truth)), shift


@st.composite
def scored_tables(draw):
    n = draw(st.integers(1, 12))
    kinds = draw(st.lists(st.sampled_from(list(ColumnType)), min_size=1, max_size=6))
    features, truth, pred, baseline = [], [], [], []
    for j, kind in enumerate(kinds):
        if kind.is_numerical:
            values = st.integers(0, 50).map(float) if kind is ColumnType.COUNT else st.floats(-100, 100)
            features.append(Column(f"col{j}", kind))
        else:
            n_classes = 2 if kind is ColumnType.BINARY else draw(st.integers(2, 5))
            values = st.integers(0, n_classes - 1).map(float)
            features.append(Column(f"col{j}", kind, categories=tuple(range(n_classes))))
        truth.append(draw(st.lists(values, min_size=n, max_size=n)))
        pred.append(draw(st.lists(values, min_size=n, max_size=n)))
        baseline.append(draw(values))
    mask = draw(st.lists(st.lists(st.booleans(), min_size=len(kinds), max_size=len(kinds)), min_size=n, max_size=n))
    return features, np.array(truth).T, np.array(pred).T, np.array(mask), np.array(baseline)


@settings(max_examples=60, deadline=None)
@given(case=scored_tables())
def test_scores_equal_the_cell_by_cell_reference(case):
    features, truth, pred, mask, baseline = case
    scores = score_columns(features, truth, pred, mask, baseline)
    expected_errors = []
    for j, (column, score) in enumerate(zip(features, scores, strict=True)):
        rows = mask[:, j]
        if not rows.any():
            assert math.isnan(score.error) and not score.overlooked
            continue
        error, baseline_error, shift = reference_errors(
            column.type, column.n_classes, list(truth[rows, j]), list(pred[rows, j]), baseline[j]
        )
        assert score.error == pytest.approx(error, abs=1e-12)
        assert score.baseline_error == pytest.approx(baseline_error, abs=1e-12)
        assert (score.shift_error is None) == (shift is None)
        if shift is not None:
            assert score.shift_error == pytest.approx(shift, abs=1e-12)
        if abs(error - OVERLOOK_RATIO * baseline_error) > 1e-9:  # exactly at the ratio, rounding decides
            assert score.overlooked == (baseline_error > 0 and error > OVERLOOK_RATIO * baseline_error)
        expected_errors.append(error)
    if expected_errors:
        assert mean_error(scores) == pytest.approx(sum(expected_errors) / len(expected_errors))
    else:
        assert math.isnan(mean_error(scores))
