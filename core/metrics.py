"""Reconstruction / imputation error per column, and which columns are overlooked.

Errors follow the paper's evaluation; each type's spec (``core.column_types``) names
its ``Metric``:

- numerical (real, positive, count): RMSE / (max - min) of the column's true values
  on the evaluated cells; when those values are all equal the range is taken as 1
  (plain RMSE), since there is no spread to normalise by;
- categorical and binary: error rate;
- ordinal: error rate (the primary error), and ``shift_error`` = mean |class shift| /
  number of classes (HI-VAE's ordinal score).

The table's score is the plain mean of the column errors. A column with no
evaluated cell has error NaN, is never overlooked and is left out of that mean.

Overlooked: a column is overlooked when the model is not clearly better than
guessing its marginal, i.e. ``error >= OVERLOOK_RATIO * baseline_error`` where the
baseline predicts every cell with the training mean (numerical) or the training
mode (class columns). If the baseline's error is 0, nothing can beat it and the
column cannot be overlooked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import torch

from core.column_types import SPECS, Metric
from core.schema import Column, ColumnType

OVERLOOK_RATIO = 0.9

# Tensors, arrays or nested lists of numbers.
ArrayLike: TypeAlias = torch.Tensor | np.ndarray | Sequence


@dataclass(frozen=True)
class ColumnScore:
    name: str
    type: ColumnType
    error: float
    baseline_error: float
    overlooked: bool
    shift_error: float | None  # ordinal columns only


def score_columns(
    features: Sequence[Column],
    true_targets: ArrayLike,
    pred_targets: ArrayLike,
    mask: ArrayLike,
    baseline_targets: ArrayLike,
) -> list[ColumnScore]:
    """Score each feature on the cells where ``mask`` is True.

    Targets are N x K in target units (see ``core.encoding``); ``baseline_targets`` is
    the K-vector of the trivial predictor. Tensors or arrays are accepted.
    """
    truth, pred = _as_array(true_targets), _as_array(pred_targets)
    evaluated = _as_array(mask).astype(bool)
    baseline = _as_array(baseline_targets).reshape(-1)
    k = len(features)
    if truth.shape != pred.shape or truth.shape != evaluated.shape or truth.ndim != 2 or truth.shape[1] != k:
        raise ValueError(
            f"targets, predictions and mask must all be N x {k}; got {truth.shape}, {pred.shape}, {evaluated.shape}"
        )
    if baseline.shape != (k,):
        raise ValueError(f"baseline_targets must have {k} entries; got {baseline.shape[0]}")
    return [
        _score_column(c, truth[evaluated[:, j], j], pred[evaluated[:, j], j], baseline[j])
        for j, c in enumerate(features)
    ]


def mean_error(scores: Sequence[ColumnScore]) -> float:
    """Plain mean of the column errors, over columns that had evaluated cells."""
    errors = [s.error for s in scores if not math.isnan(s.error)]
    return float(np.mean(errors)) if errors else math.nan


def _score_column(column: Column, truth: np.ndarray, pred: np.ndarray, baseline: float) -> ColumnScore:
    metric = SPECS[column.type].metric
    if truth.size == 0:
        no_shift = math.nan if metric.reports_class_shift else None
        return ColumnScore(column.name, column.type, math.nan, math.nan, False, no_shift)
    error_of = _ERROR[metric]
    error, baseline_error = error_of(truth, pred), error_of(truth, np.full_like(truth, baseline))
    shift = _class_shift(truth, pred, len(column.categories)) if metric.reports_class_shift else None
    overlooked = baseline_error > 0 and error >= OVERLOOK_RATIO * baseline_error
    return ColumnScore(column.name, column.type, error, baseline_error, bool(overlooked), shift)


def _normalised_rmse(truth: np.ndarray, pred: np.ndarray) -> float:
    spread = truth.max() - truth.min()
    return float(np.sqrt(np.mean((pred - truth) ** 2)) / (spread if spread > 0 else 1.0))


def _error_rate(truth: np.ndarray, pred: np.ndarray) -> float:
    # Class predictions may come as floats (e.g. an ordinal mean): the nearest class counts.
    return float(np.mean(np.rint(pred) != truth))


def _class_shift(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    return float(np.mean(np.abs(np.rint(pred) - truth)) / n_classes)


_ERROR: dict[Metric, Callable[[np.ndarray, np.ndarray], float]] = {
    Metric.NORMALISED_RMSE: _normalised_rmse,
    Metric.ERROR_RATE: _error_rate,
    Metric.ERROR_RATE_AND_CLASS_SHIFT: _error_rate,
}


def _as_array(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)
