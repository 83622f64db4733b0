"""How a column's cells become likelihood targets and network inputs, and targets become cells again.

Targets stay in the units the likelihoods model: original units for numerical
columns, class indices for class columns. Inputs are what a network digests well:
numbers standardised after an optional transform (log1p for skewed types), classes
one-hot. Every statistic comes from the observed cells of the training split.

A codec handles one family of types; ``core.column_types`` says which codec (with
which input transform) each type uses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataError
from core.schema import Column


@dataclass(frozen=True)
class ColumnFit:
    """What the encoder learns of one column from the observed cells of the training split."""

    center: float  # subtracted from the transformed value in the network input
    scale: float  # what that difference is divided by
    baseline: float  # the trivial predictor in target units: the mean, or the most common class index


class Codec(ABC):
    """Cells of one column <-> targets (float, NaN where missing) and network inputs."""

    input_transform: str  # how the network sees a value, in words

    @abstractmethod
    def check(self, column: Column) -> None:
        """DataError when ``column`` cannot be encoded at all, whatever the data."""

    @abstractmethod
    def input_width(self, column: Column) -> int:
        """How many network inputs the column takes."""

    @abstractmethod
    def read(self, column: Column, series: pd.Series) -> np.ndarray:
        """Targets of ``series``, NaN where missing; DataError naming a cell the type cannot hold."""

    @abstractmethod
    def fit(self, column: Column, observed: np.ndarray) -> ColumnFit:
        """The statistics of the (non-empty) observed targets of the training split."""

    @abstractmethod
    def inputs(self, column: Column, targets: np.ndarray, fit: ColumnFit) -> np.ndarray:
        """``len(targets) x input_width`` network inputs of observed targets."""

    @abstractmethod
    def decode(self, column: Column, targets: np.ndarray, missing: np.ndarray) -> pd.Series:
        """Targets back to cells in original units or labels, missing where ``missing``."""


class NumberCodec(Codec):
    """Numerical cells: the targets are the numbers; the input is ``(transform(x) - center) / scale``.

    ``whole`` targets are decoded to the nearest integer (predicted counts may be
    fractional, e.g. a Poisson mean).
    """

    def __init__(self, input_transform: str, transform: Callable[[np.ndarray], np.ndarray], whole: bool = False):
        self.input_transform = input_transform
        self.transform = transform
        self.whole = whole

    def check(self, column: Column) -> None:
        """Any numerical column can be encoded; its values are checked as they are read."""

    def input_width(self, column: Column) -> int:
        return 1

    def read(self, column: Column, series: pd.Series) -> np.ndarray:
        """The numbers the cells hold, read as the column says (``Column.cells``: a percent
        string is its number, a missing word is missing)."""
        values, present = column.cells.read_numbers(series)
        not_numbers = present & ~np.isfinite(values)
        if not_numbers.any():
            raise DataError(
                f"column {column.name!r} ({column.type.value}) holds "
                f"{plain_scalar(series[not_numbers].iloc[0])!r}, which is not a finite number"
            )
        violation = column.type.traits.violation(values[present])
        if violation:
            raise DataError(f"column {column.name!r} is {column.type.value}, but {violation}")
        return values

    def fit(self, column: Column, observed: np.ndarray) -> ColumnFit:
        transformed = self.transform(observed)
        return ColumnFit(float(transformed.mean()), usable_spread(transformed), float(observed.mean()))

    def inputs(self, column: Column, targets: np.ndarray, fit: ColumnFit) -> np.ndarray:
        return ((self.transform(targets) - fit.center) / fit.scale)[:, None]

    def decode(self, column: Column, targets: np.ndarray, missing: np.ndarray) -> pd.Series:
        if self.whole:
            return pd.Series(np.where(missing, np.nan, np.rint(targets))).astype("Int64")
        return pd.Series(np.where(missing, np.nan, targets))


class ClassCodec(Codec):
    """Class cells: the target is the index of the cell's label among the column's
    categories; the input is one-hot."""

    input_transform = "one-hot"

    def check(self, column: Column) -> None:
        class_lookup(column)

    def input_width(self, column: Column) -> int:
        return len(column.categories)

    def read(self, column: Column, series: pd.Series) -> np.ndarray:
        lookup = class_lookup(column)
        values, filled = column.cells.read(series, column.categories)
        unreadable = filled & values.isna().to_numpy()
        if unreadable.any():
            raise DataError(
                f"column {column.name!r} holds {plain_scalar(series[unreadable].iloc[0])!r}, "
                "which is not one of its categories"
            )
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        index_of_unique = np.empty(len(uniques))
        for u, label in enumerate(uniques):
            if label not in lookup:
                raise DataError(
                    f"column {column.name!r} holds {plain_scalar(label)!r}, which is not one of its categories"
                )
            index_of_unique[u] = lookup[label]
        out = np.full(len(series), np.nan)
        observed = codes >= 0
        out[observed] = index_of_unique[codes[observed]]
        return out

    def fit(self, column: Column, observed: np.ndarray) -> ColumnFit:
        mode = np.bincount(observed.astype(np.int64), minlength=len(column.categories)).argmax()
        return ColumnFit(0.0, 1.0, float(mode))

    def inputs(self, column: Column, targets: np.ndarray, fit: ColumnFit) -> np.ndarray:
        return np.eye(len(column.categories), dtype=np.float32)[targets.astype(np.int64)]

    def decode(self, column: Column, targets: np.ndarray, missing: np.ndarray) -> pd.Series:
        """Rounded to the nearest class, so that an ordinal mean maps to its nearest class."""
        index = np.clip(np.rint(np.where(missing, 0, targets)), 0, len(column.categories) - 1).astype(np.int64)
        labels = np.array(column.categories, dtype=object)[index]
        labels[missing] = None
        # From a list, pandas infers the dtype a read table would have had.
        return pd.Series(labels.tolist())


def class_lookup(column: Column) -> dict[Any, int]:
    """Label -> class index; DataError when the categories cannot be classes of ``column``."""
    labels = column.categories
    required = column.type.traits.n_classes
    if len(labels) == 0:
        raise DataError(f"column {column.name!r} is {column.type.value} but lists no categories")
    if required is not None and len(labels) != required:
        raise DataError(f"column {column.name!r} is {column.type.value} but lists {len(labels)} categories")
    if any(pd.isna(v) for v in labels):
        raise DataError(f"column {column.name!r} lists a missing value as a category")
    lookup = {label: i for i, label in enumerate(labels)}
    if len(lookup) != len(labels):
        raise DataError(f"column {column.name!r} lists the same category twice")
    return lookup


def usable_spread(values: np.ndarray) -> float:
    """The standard deviation, or 1 for a column that is constant at float32 precision.

    Inputs, targets and likelihoods are float32: a spread below the float32
    resolution of the values (relative 1e-6), or so small that its square
    underflows (1e-15), is rounding noise; dividing by it would blow up.
    """
    spread = float(values.std())
    return spread if spread > max(1e-6 * abs(float(values.mean())), 1e-15) else 1.0


def plain_scalar(value: Any) -> Any:
    """numpy scalars -> Python scalars: what ``weights_only`` loading accepts, and a readable repr."""
    return value.item() if isinstance(value, np.generic) else value
