"""Table <-> tensors: network inputs, likelihood targets and the observed-cell mask.

Targets stay in the units the likelihoods model (original units for numerical
columns, class indices for class columns); inputs are what a network digests well
(standardised, log-transformed for skewed types, one-hot for classes). All
statistics come from the observed cells of the training split only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core.errors import DataError
from core.likelihoods import (
    BinaryLikelihood,
    CategoricalLikelihood,
    ColumnLikelihood,
    CountLikelihood,
    OrdinalLikelihood,
    PositiveLikelihood,
    RealLikelihood,
    TableLikelihood,
)
from core.schema import Column, ColumnType, Schema

# Numerical types are standardised on this scale in the inputs (and, for real and
# positive, in the likelihood's normalised raw space). Positive uses log1p, like
# count: its likelihood models 1 + x, so zeros are valid values.
_INPUT_SCALE = {
    ColumnType.REAL: lambda x: x,
    ColumnType.POSITIVE: np.log1p,
    ColumnType.COUNT: np.log1p,
}


@dataclass(frozen=True)
class EncodedTable:
    """One encoded table of N rows and K features (see docs/CONTRACTS.md)."""

    targets: torch.Tensor  # float32 N x K; 0 where missing
    mask: torch.Tensor  # bool N x K; True = observed
    inputs: torch.Tensor  # float32 N x D; 0 where missing


class TableEncoder:
    """Maps a DataFrame with the schema's feature columns to an ``EncodedTable`` and back."""

    def __init__(self, schema: Schema):
        self.features: tuple[Column, ...] = schema.features
        if not self.features:
            raise DataError("the schema has no feature columns (all columns are excluded)")
        self._class_index = {c.name: _class_lookup(c) for c in self.features if c.type.is_discrete_class}
        widths = [c.n_classes if c.type.is_discrete_class else 1 for c in self.features]
        starts = np.cumsum([0, *widths])
        self.input_slices: tuple[slice, ...] = tuple(slice(int(a), int(b)) for a, b in itertools.pairwise(starts))
        self.input_dim = int(starts[-1])
        self._stats: dict[str, torch.Tensor] | None = None

    # --- fitting ----------------------------------------------------------------
    def fit(self, train_df: pd.DataFrame) -> TableEncoder:
        """Learn the statistics from the observed cells of the training split."""
        values = self._read(train_df)
        k = len(self.features)
        center, scale, baseline = np.zeros(k), np.ones(k), np.zeros(k)
        for j, column in enumerate(self.features):
            observed = values[:, j][~np.isnan(values[:, j])]
            if observed.size == 0:
                raise DataError(f"column {column.name!r} has no observed values in the training split")
            if column.type.is_numerical:
                baseline[j] = observed.mean()
                scaled = _INPUT_SCALE[column.type](observed)
                center[j], scale[j] = scaled.mean(), _usable_spread(scaled)
            else:
                baseline[j] = np.bincount(observed.astype(np.int64), minlength=column.n_classes).argmax()
        self._stats = {
            "center": torch.from_numpy(center),
            "scale": torch.from_numpy(scale),
            "baseline": torch.from_numpy(baseline),
        }
        return self

    def _fitted_stats(self) -> dict[str, torch.Tensor]:
        if self._stats is None:
            raise RuntimeError("TableEncoder.fit must be called first")
        return self._stats

    # --- encoding -----------------------------------------------------------------
    def transform(self, df: pd.DataFrame) -> EncodedTable:
        stats = self._fitted_stats()
        values = self._read(df)
        observed = ~np.isnan(values)
        inputs = np.zeros((len(values), self.input_dim), dtype=np.float32)
        for j, column in enumerate(self.features):
            rows = observed[:, j]
            block = self.input_slices[j]
            if column.type.is_numerical:
                scaled = _INPUT_SCALE[column.type](values[rows, j])
                inputs[rows, block.start] = (scaled - stats["center"][j].item()) / stats["scale"][j].item()
            else:
                inputs[rows, block.start + values[rows, j].astype(np.int64)] = 1.0
        targets = np.where(observed, values, 0.0)
        return EncodedTable(
            targets=torch.from_numpy(targets.astype(np.float32)),
            mask=torch.from_numpy(observed),
            inputs=torch.from_numpy(inputs),
        )

    def _read(self, df: pd.DataFrame) -> np.ndarray:
        """N x K float64: numerical values or class indices, NaN where missing."""
        out = np.empty((len(df), len(self.features)))
        for j, column in enumerate(self.features):
            if column.name not in df.columns:
                raise DataError(f"column {column.name!r} is missing from the table")
            series = df[column.name]
            if column.type.is_numerical:
                out[:, j] = _read_numbers(column, series)
            else:
                out[:, j] = _read_classes(column, series, self._class_index[column.name])
        return out

    # --- decoding -----------------------------------------------------------------
    def decode(self, targets, mask=None) -> pd.DataFrame:
        """Targets (N x K, tensor or array) back to original units and labels.

        Cells where ``mask`` is False (or the target is NaN) come back missing. Class
        values are rounded to the nearest class, so an ordinal mean maps to its
        nearest class; counts are rounded to integers.
        """
        values = _as_numpy(targets).astype(np.float64)
        missing = np.isnan(values) if mask is None else (~_as_numpy(mask).astype(bool)) | np.isnan(values)
        columns = {}
        for j, column in enumerate(self.features):
            col, gone = values[:, j], missing[:, j]
            if column.type is ColumnType.COUNT:
                columns[column.name] = pd.Series(np.where(gone, np.nan, np.rint(col))).astype("Int64")
            elif column.type.is_numerical:
                columns[column.name] = pd.Series(np.where(gone, np.nan, col))
            else:
                index = np.clip(np.rint(np.where(gone, 0, col)), 0, column.n_classes - 1).astype(np.int64)
                labels = np.array(column.categories, dtype=object)[index]
                # From a list, pandas infers the dtype a read table would have had.
                columns[column.name] = pd.Series(np.where(gone, None, labels).tolist())
        return pd.DataFrame(columns)

    # --- what models need -------------------------------------------------------------
    def likelihood(self) -> TableLikelihood:
        stats = self._fitted_stats()
        return TableLikelihood(
            [
                _column_likelihood(c, stats["center"][j], stats["scale"][j], stats["baseline"][j])
                for j, c in enumerate(self.features)
            ]
        )

    def baseline_targets(self) -> torch.Tensor:
        """K targets of the trivial predictor: training mean (numerical) or mode class index."""
        return self._fitted_stats()["baseline"].float()

    # --- persistence --------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Plain lists, strings and tensors: loadable with ``torch.load(weights_only=True)``."""
        stats = self._fitted_stats()
        features = [{**c.to_dict(), "categories": [_plain(v) for v in c.categories]} for c in self.features]
        return {"features": features, **{name: t.clone() for name, t in stats.items()}}

    @classmethod
    def from_state_dict(cls, state: dict) -> TableEncoder:
        encoder = cls(Schema(tuple(Column.from_dict(d) for d in state["features"])))
        encoder._stats = {name: state[name].double() for name in ("center", "scale", "baseline")}
        return encoder


def _usable_spread(values: np.ndarray) -> float:
    """The standard deviation, or 1 for a column that is constant at float32 precision.

    Inputs, targets and likelihoods are float32: a spread below the float32
    resolution of the values (relative 1e-6), or so small that its square
    underflows (1e-15), is rounding noise; dividing by it would blow up.
    """
    spread = float(values.std())
    return spread if spread > max(1e-6 * abs(float(values.mean())), 1e-15) else 1.0


def _column_likelihood(column: Column, center, scale, baseline) -> ColumnLikelihood:
    kind = column.type
    if kind is ColumnType.REAL:
        return RealLikelihood(center, scale)
    if kind is ColumnType.POSITIVE:
        return PositiveLikelihood(center, scale)
    if kind is ColumnType.COUNT:
        return CountLikelihood(baseline)
    if kind is ColumnType.BINARY:
        return BinaryLikelihood()
    if kind is ColumnType.ORDINAL:
        return OrdinalLikelihood(column.n_classes)
    return CategoricalLikelihood(column.n_classes)


def _class_lookup(column: Column) -> dict:
    labels = column.categories
    if len(labels) == 0:
        raise DataError(f"column {column.name!r} is {column.type.value} but lists no categories")
    if column.type is ColumnType.BINARY and len(labels) != 2:
        raise DataError(f"column {column.name!r} is binary but lists {len(labels)} categories")
    if any(pd.isna(v) for v in labels):
        raise DataError(f"column {column.name!r} lists a missing value as a category")
    lookup = {label: i for i, label in enumerate(labels)}
    if len(lookup) != len(labels):
        raise DataError(f"column {column.name!r} lists the same category twice")
    return lookup


# What positive and count columns accept beyond finite numbers, and how to say so.
_VALID_NUMBERS = {
    ColumnType.POSITIVE: (lambda v: v >= 0, "positive columns need values >= 0"),
    ColumnType.COUNT: (lambda v: (v >= 0) & (v == np.round(v)), "count columns need whole numbers >= 0"),
}


def _read_numbers(column: Column, series: pd.Series) -> np.ndarray:
    present = series.notna().to_numpy()
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    not_numbers = present & ~np.isfinite(values)
    if not_numbers.any():
        raise DataError(
            f"column {column.name!r} ({column.type.value}) holds "
            f"{_plain(series[not_numbers].iloc[0])!r}, which is not a finite number"
        )
    if column.type not in _VALID_NUMBERS:
        return values
    accepts, rule = _VALID_NUMBERS[column.type]
    invalid = present & ~accepts(np.where(present, values, 1.0))
    if invalid.any():
        raise DataError(f"column {column.name!r} ({column.type.value}) holds {_plain(values[invalid][0])!r}; {rule}")
    return values


def _read_classes(column: Column, series: pd.Series, lookup: dict) -> np.ndarray:
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    index_of_unique = np.empty(len(uniques))
    for u, label in enumerate(uniques):
        if label not in lookup:
            raise DataError(f"column {column.name!r} holds {_plain(label)!r}, which is not one of its categories")
        index_of_unique[u] = lookup[label]
    out = np.full(len(series), np.nan)
    observed = codes >= 0
    out[observed] = index_of_unique[codes[observed]]
    return out


def _as_numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _plain(value):
    """numpy scalars -> Python scalars: what ``weights_only`` loading accepts, and a readable repr."""
    return value.item() if isinstance(value, np.generic) else value
