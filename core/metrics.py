"""Reconstruction / imputation error per column, and which columns are overlooked.

Errors follow the paper (see PAPER.md, "Evaluation"):

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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.schema import Column, ColumnType

OVERLOOK_RATIO = 0.9


@dataclass(frozen=True)
class ColumnScore:
    name: str
    type: ColumnType
    error: float
    baseline_error: float
    overlooked: bool
    shift_error: float | None  # ordinal columns only


def score_columns(features: Sequence[Column], true_targets, pred_targets, mask, baseline_targets) -> list[ColumnScore]:
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
    is_ordinal = column.type is ColumnType.ORDINAL
    if truth.size == 0:
        return ColumnScore(column.name, column.type, math.nan, math.nan, False, math.nan if is_ordinal else None)
    guess = np.full_like(truth, baseline)
    if column.type.is_numerical:
        spread = truth.max() - truth.min()
        scale = spread if spread > 0 else 1.0
        error, baseline_error = _rmse(truth, pred) / scale, _rmse(truth, guess) / scale
    else:
        error, baseline_error = _error_rate(truth, pred), _error_rate(truth, guess)
    shift = float(np.mean(np.abs(np.rint(pred) - truth)) / column.n_classes) if is_ordinal else None
    overlooked = baseline_error > 0 and error >= OVERLOOK_RATIO * baseline_error
    return ColumnScore(column.name, column.type, error, baseline_error, bool(overlooked), shift)


def _rmse(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def _error_rate(truth: np.ndarray, pred: np.ndarray) -> float:
    # Class predictions may come as floats (e.g. an ordinal mean): the nearest class counts.
    return float(np.mean(np.rint(pred) != truth))


def _as_array(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)
