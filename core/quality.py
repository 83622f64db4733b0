"""How closely synthetic rows follow real ones: Column Shapes and Column Pair Trends.

The two scores of SDV's quality report, computed on the schema's types, each in [0, 1]
(1: the same distribution):

- Column Shapes, per column: numerical (real, positive, count) -> 1 - the two-sample
  Kolmogorov-Smirnov statistic (the largest gap between the two empirical CDFs); class
  columns (categorical, ordinal, binary) -> 1 - the total variation distance between the
  two frequency tables (half the sum of the absolute differences).
- Column Pair Trends, per pair of columns: two numerical columns -> 1 - |r_real - r_synth| / 2
  with r Pearson's correlation; any other pair -> 1 - the total variation distance between
  the two joint frequency tables, numerical columns cut into ``PAIR_BINS`` equal-width bins
  whose edges come from the real values (synthetic values beyond them fall in an open bin
  at either end).

Missing cells are left out: a column is scored on its observed cells, a pair on the rows
where both are observed. A score that cannot be computed (no observed cells, or a constant
column in a correlation) is NaN and left out of the table's mean.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError
from core.schema import Column

PAIR_BINS = 10


@dataclass(frozen=True)
class Quality:
    """Both scores of a synthetic table against a real one, and their parts."""

    column_shapes: float  # mean of ``shapes``
    pair_trends: float  # mean of ``pairs``
    shapes: dict[str, float]  # per column
    pairs: dict[tuple[str, str], float]  # per pair of columns, in schema order


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[Column]) -> Quality:
    """Column Shapes and Column Pair Trends of ``synthetic`` against ``real`` over ``columns``."""
    shapes = column_shapes(real, synthetic, columns)
    pairs = pair_trends(real, synthetic, columns)
    return Quality(_mean(shapes.values()), _mean(pairs.values()), shapes, pairs)


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[Column]) -> dict[str, float]:
    _check_columns(real, synthetic, columns)
    return {c.name: shape_score(c, real[c.name], synthetic[c.name]) for c in columns}


def pair_trends(real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[Column]) -> dict[tuple[str, str], float]:
    _check_columns(real, synthetic, columns)
    return {(a.name, b.name): pair_score(a, b, real, synthetic) for a, b in itertools.combinations(columns, 2)}


def shape_score(column: Column, real: pd.Series, synthetic: pd.Series) -> float:
    if column.type.is_numerical:
        x, y = _numbers(real), _numbers(synthetic)
        return math.nan if x.size == 0 or y.size == 0 else 1.0 - ks_statistic(x, y)
    x_codes, y_codes, n = _joint_codes(real.dropna(), synthetic.dropna())
    return math.nan if x_codes.size == 0 or y_codes.size == 0 else 1.0 - total_variation(x_codes, y_codes, n)


def pair_score(first: Column, second: Column, real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    real_pair = real[[first.name, second.name]].dropna()
    synthetic_pair = synthetic[[first.name, second.name]].dropna()
    if real_pair.empty or synthetic_pair.empty:
        return math.nan
    if first.type.is_numerical and second.type.is_numerical:
        r_real = _pearson(_numbers(real_pair[first.name]), _numbers(real_pair[second.name]))
        r_synthetic = _pearson(_numbers(synthetic_pair[first.name]), _numbers(synthetic_pair[second.name]))
        return 1.0 - abs(r_real - r_synthetic) / 2.0
    codes = [_pair_codes(c, real_pair[c.name], synthetic_pair[c.name]) for c in (first, second)]
    (x1, y1, n1), (x2, y2, n2) = codes
    return 1.0 - total_variation(x1 * n2 + x2, y1 * n2 + y2, n1 * n2)


def ks_statistic(x: np.ndarray, y: np.ndarray) -> float:
    """The largest gap between the empirical CDFs of ``x`` and ``y`` (it is reached at a data point)."""
    x, y = np.sort(x), np.sort(y)
    points = np.concatenate([x, y])
    gap = np.searchsorted(x, points, side="right") / x.size - np.searchsorted(y, points, side="right") / y.size
    return float(np.abs(gap).max())


def total_variation(x_codes: np.ndarray, y_codes: np.ndarray, n_codes: int) -> float:
    """Half the L1 distance between the frequency tables of two samples of codes 0..n_codes-1."""
    p = np.bincount(x_codes, minlength=n_codes) / x_codes.size
    q = np.bincount(y_codes, minlength=n_codes) / y_codes.size
    return float(0.5 * np.abs(p - q).sum())


def _pair_codes(column: Column, real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Both samples of one column of a pair as codes 0..n-1: bins for numbers, labels otherwise."""
    if not column.type.is_numerical:
        return _joint_codes(real, synthetic)
    x, y = _numbers(real), _numbers(synthetic)
    edges = np.histogram_bin_edges(x, bins=PAIR_BINS)
    # np.digitize gives 0 below the first edge and len(edges) at or above the last one.
    return np.digitize(x, edges), np.digitize(y, edges), len(edges) + 1


def _joint_codes(real: pd.Series, synthetic: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels of both samples as codes over the union of their labels (equal values share a code)."""
    codes, uniques = pd.factorize(pd.concat([real, synthetic], ignore_index=True), use_na_sentinel=True)
    return codes[: len(real)], codes[len(real) :], len(uniques)


def _numbers(series: pd.Series) -> np.ndarray:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return values[~np.isnan(values)]


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    dx, dy = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / denominator if denominator > 0 else math.nan


def _mean(scores: Iterable[float]) -> float:
    values = [s for s in scores if not math.isnan(s)]
    return float(np.mean(values)) if values else math.nan


def _check_columns(real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[Column]) -> None:
    for frame, which in ((real, "real"), (synthetic, "synthetic")):
        missing = [c.name for c in columns if c.name not in frame.columns]
        if missing:
            raise DataError(f"column {missing[0]!r} is missing from the {which} table")
