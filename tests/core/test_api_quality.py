"""Column Shapes and Column Pair Trends against independent computations (scipy's KS test,
counting by hand, numpy's correlation)."""

from __future__ import annotations

import bisect
import math
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from core.errors import DataError
from core.quality import PAIR_BINS, column_shapes, ks_statistic, pair_trends, quality
from core.schema import Column, ColumnType

COLUMNS = (
    Column("x", ColumnType.REAL),
    Column("n", ColumnType.COUNT),
    Column("colour", ColumnType.CATEGORICAL, categories=("red", "green", "blue")),
    Column("level", ColumnType.ORDINAL, categories=(1, 2, 3)),
)


def _table(rng: np.random.Generator, n: int, shift: float, missing: float = 0.1) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, n)
    frame = pd.DataFrame(
        {
            "x": x,
            "n": rng.poisson(np.exp(1 + 0.3 * x)).astype(float),
            "colour": rng.choice(["red", "green", "blue"], n, p=[0.5 - shift / 10, 0.3, 0.2 + shift / 10]),
            "level": np.where(x > 0.5, 3, np.where(x > -0.5, 2, 1)).astype(float),
        }
    )
    return frame.mask(rng.random(frame.shape) < missing)


def _total_variation_by_counting(a: list, b: list) -> float:
    ca, cb = Counter(a), Counter(b)
    return 0.5 * sum(abs(ca[k] / len(a) - cb[k] / len(b)) for k in set(ca) | set(cb))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=40),
    st.lists(st.integers(-5, 5), min_size=1, max_size=40),
)
def test_ks_statistic_matches_scipy_with_ties(a, b):
    x, y = np.array(a, dtype=float), np.array(b, dtype=float)
    assert ks_statistic(x, y) == pytest.approx(ks_2samp(x, y, method="asymp").statistic, abs=1e-12)


def test_column_shapes_match_scipy_and_counting():
    rng = np.random.default_rng(0)
    real, synthetic = _table(rng, 400, 0.0), _table(rng, 300, 0.7)
    shapes = column_shapes(real, synthetic, COLUMNS)
    for name in ("x", "n"):
        expected = 1 - ks_2samp(real[name].dropna(), synthetic[name].dropna()).statistic
        assert shapes[name] == pytest.approx(expected, abs=1e-12)
    for name in ("colour", "level"):
        expected = 1 - _total_variation_by_counting(real[name].dropna().tolist(), synthetic[name].dropna().tolist())
        assert shapes[name] == pytest.approx(expected, abs=1e-12)
    assert min(shapes.values()) > 0 and max(shapes.values()) < 1


def test_pair_trends_match_independent_computations():
    rng = np.random.default_rng(1)
    real, synthetic = _table(rng, 500, 0.0), _table(rng, 400, 0.5)
    pairs = pair_trends(real, synthetic, COLUMNS)
    assert list(pairs) == [
        ("x", "n"),
        ("x", "colour"),
        ("x", "level"),
        ("n", "colour"),
        ("n", "level"),
        ("colour", "level"),
    ]

    both = real[["x", "n"]].dropna(), synthetic[["x", "n"]].dropna()
    r_real, r_synthetic = (np.corrcoef(t["x"], t["n"])[0, 1] for t in both)
    assert pairs[("x", "n")] == pytest.approx(1 - abs(r_real - r_synthetic) / 2, abs=1e-12)

    # A numerical column meets a class column: its values go into 10 equal-width bins of the real range.
    real_pair, synthetic_pair = real[["n", "colour"]].dropna(), synthetic[["n", "colour"]].dropna()
    low, high = real_pair["n"].min(), real_pair["n"].max()
    inner_edges = [low + (high - low) * i / PAIR_BINS for i in range(PAIR_BINS + 1)]

    def cells(t: pd.DataFrame) -> list:
        return [(bisect.bisect_right(inner_edges, v), c) for v, c in zip(t["n"], t["colour"], strict=True)]

    expected = 1 - _total_variation_by_counting(cells(real_pair), cells(synthetic_pair))
    assert pairs[("n", "colour")] == pytest.approx(expected, abs=1e-12)

    real_pair, synthetic_pair = real[["colour", "level"]].dropna(), synthetic[["colour", "level"]].dropna()
    expected = 1 - _total_variation_by_counting(
        list(zip(real_pair["colour"], real_pair["level"], strict=True)),
        list(zip(synthetic_pair["colour"], synthetic_pair["level"], strict=True)),
    )
    assert pairs[("colour", "level")] == pytest.approx(expected, abs=1e-12)


def test_a_table_against_itself_scores_one_and_the_means_skip_undefined_scores():
    rng = np.random.default_rng(2)
    real = _table(rng, 200, 0.0)
    same = quality(real, real.copy(), COLUMNS)
    assert same.column_shapes == pytest.approx(1.0) and same.pair_trends == pytest.approx(1.0)

    constant = real.assign(x=1.0)  # no correlation is defined with a constant column
    result = quality(constant, constant.copy(), COLUMNS)
    assert math.isnan(result.pairs[("x", "n")])
    assert result.pair_trends == pytest.approx(1.0)


def test_a_missing_column_is_a_data_error():
    rng = np.random.default_rng(3)
    real = _table(rng, 50, 0.0)
    with pytest.raises(DataError, match="'colour' is missing from the synthetic table"):
        quality(real, real.drop(columns="colour"), COLUMNS)
