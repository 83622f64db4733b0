"""Table <-> tensors: network inputs, likelihood targets and the observed-cell mask.

Each feature is handled by the codec its type's spec names (``core.column_types``):
targets stay in the units the likelihoods model (original units for numerical
columns, class indices for class columns); inputs are what a network digests well
(standardised, log-transformed for skewed types, one-hot for classes). All
statistics come from the observed cells of the training split only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.cell_codecs import ColumnFit, plain_scalar
from core.column_types import SPECS
from core.errors import DataError
from core.likelihoods import TableLikelihood
from core.schema import Column, Schema


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
        self._codecs = tuple(SPECS[c.type].codec for c in self.features)
        for codec, column in zip(self._codecs, self.features, strict=True):
            codec.check(column)
        widths = [codec.input_width(c) for codec, c in zip(self._codecs, self.features, strict=True)]
        starts = np.cumsum([0, *widths])
        self.input_slices: tuple[slice, ...] = tuple(slice(int(a), int(b)) for a, b in itertools.pairwise(starts))
        self.input_dim = int(starts[-1])
        self._stats: dict[str, torch.Tensor] | None = None

    # --- fitting ----------------------------------------------------------------
    def fit(self, train_df: pd.DataFrame) -> TableEncoder:
        """Learn the statistics from the observed cells of the training split."""
        values = self._read(train_df)
        fits = []
        for j, (codec, column) in enumerate(zip(self._codecs, self.features, strict=True)):
            observed = values[:, j][~np.isnan(values[:, j])]
            if observed.size == 0:
                raise DataError(f"column {column.name!r} has no observed values in the training split")
            fits.append(codec.fit(column, observed))
        self._stats = {
            name: torch.tensor([getattr(fit, name) for fit in fits], dtype=torch.float64)
            for name in ("center", "scale", "baseline")
        }
        return self

    def _fitted_stats(self) -> dict[str, torch.Tensor]:
        if self._stats is None:
            raise RuntimeError("TableEncoder.fit must be called first")
        return self._stats

    def _fits(self) -> list[ColumnFit]:
        stats = self._fitted_stats()
        return [
            ColumnFit(stats["center"][j].item(), stats["scale"][j].item(), stats["baseline"][j].item())
            for j in range(len(self.features))
        ]

    # --- encoding -----------------------------------------------------------------
    def transform(self, df: pd.DataFrame) -> EncodedTable:
        fits = self._fits()
        values = self._read(df)
        observed = ~np.isnan(values)
        inputs = np.zeros((len(values), self.input_dim), dtype=np.float32)
        for j, (codec, column) in enumerate(zip(self._codecs, self.features, strict=True)):
            rows = observed[:, j]
            inputs[rows, self.input_slices[j]] = codec.inputs(column, values[rows, j], fits[j])
        targets = np.where(observed, values, 0.0)
        return EncodedTable(
            targets=torch.from_numpy(targets.astype(np.float32)),
            mask=torch.from_numpy(observed),
            inputs=torch.from_numpy(inputs),
        )

    def _read(self, df: pd.DataFrame) -> np.ndarray:
        """N x K float64: numerical values or class indices, NaN where missing."""
        out = np.empty((len(df), len(self.features)))
        for j, (codec, column) in enumerate(zip(self._codecs, self.features, strict=True)):
            if column.name not in df.columns:
                raise DataError(f"column {column.name!r} is missing from the table")
            out[:, j] = codec.read(column, df[column.name])
        return out

    # --- decoding -----------------------------------------------------------------
    def decode(self, targets: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray | None = None) -> pd.DataFrame:
        """Targets (N x K, tensor or array) back to original units and labels.

        Cells where ``mask`` is False (or the target is NaN) come back missing. Class
        values are rounded to the nearest class, so an ordinal mean maps to its
        nearest class; counts are rounded to integers.
        """
        values = _as_numpy(targets).astype(np.float64)
        missing = np.isnan(values) if mask is None else (~_as_numpy(mask).astype(bool)) | np.isnan(values)
        return pd.DataFrame(
            {
                column.name: codec.decode(column, values[:, j], missing[:, j])
                for j, (codec, column) in enumerate(zip(self._codecs, self.features, strict=True))
            }
        )

    # --- what models need -------------------------------------------------------------
    def likelihood(self) -> TableLikelihood:
        return TableLikelihood(
            [SPECS[c.type].likelihood(c, fit) for c, fit in zip(self.features, self._fits(), strict=True)]
        )

    def baseline_targets(self) -> torch.Tensor:
        """K targets of the trivial predictor: training mean (numerical) or mode class index."""
        return self._fitted_stats()["baseline"].float()

    # --- persistence --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain lists, strings and tensors: loadable with ``torch.load(weights_only=True)``."""
        stats = self._fitted_stats()
        features = [{**c.to_dict(), "categories": [plain_scalar(v) for v in c.categories]} for c in self.features]
        return {"features": features, **{name: t.clone() for name, t in stats.items()}}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> TableEncoder:
        encoder = cls(Schema(tuple(Column.from_dict(d) for d in state["features"])))
        encoder._stats = {name: state[name].double() for name in ("center", "scale", "baseline")}
        return encoder


def _as_numpy(values: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)
