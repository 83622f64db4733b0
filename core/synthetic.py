"""A small synthetic table with one column of each type and a known schema.

All columns depend on a shared two-dimensional latent variable, so a VAE can learn
something and the columns compete for it. Missing cells are scattered completely
at random.

``infer_schema`` recovers every type except the ordinal one, whose integer codes
it reads as categorical (values alone do not show that codes are ordered). With
fewer than a few hundred rows the count column may show too few distinct values
to be told apart from coded classes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.errors import DataError
from core.schema import Column, ColumnType, Schema

COLOURS = ("black", "blue", "green", "red", "white")
LEVELS = (1, 2, 3, 4, 5)
# latent thresholds cutting the ordinal's driver into LEVELS
_ORDINAL_CUTS = np.array([-1.2, -0.4, 0.4, 1.2])


def make_synthetic(n_rows: int = 1000, seed: int = 0, missing_rate: float = 0.05) -> tuple[pd.DataFrame, Schema]:
    """A table of ``n_rows`` rows (columns real, positive, count, categorical, ordinal, binary) and its true schema."""
    if n_rows < 1:
        raise DataError(f"n_rows must be at least 1, got {n_rows}")
    if not 0.0 <= missing_rate < 1.0:
        raise DataError(f"missing_rate must be in [0, 1), got {missing_rate}")
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_rows, 2))
    noise = rng.normal(size=(n_rows, 6))
    colour_logits = z @ rng.normal(scale=2.0, size=(2, len(COLOURS)))
    colour_probs = np.exp(colour_logits - colour_logits.max(axis=1, keepdims=True))
    colour_probs /= colour_probs.sum(axis=1, keepdims=True)
    colour = (colour_probs.cumsum(axis=1) > rng.random((n_rows, 1))).argmax(axis=1)
    frame = pd.DataFrame(
        {
            "real": np.round(3.0 * z[:, 0] - 1.5 * z[:, 1] + 0.5 * noise[:, 0], 4),
            "positive": np.round(np.exp(1.0 + 0.6 * z[:, 0] + 0.3 * z[:, 1] + 0.2 * noise[:, 1]), 4),
            "count": rng.poisson(np.exp(2.5 + 0.8 * z[:, 1])).astype(float),
            "categorical": np.array(COLOURS, dtype=object)[colour],
            "ordinal": np.array(LEVELS)[np.searchsorted(_ORDINAL_CUTS, z[:, 0] + 0.3 * noise[:, 2])].astype(float),
            "binary": np.where(z[:, 1] + 0.5 * noise[:, 3] > 0, "yes", "no").astype(object),
        }
    )
    hidden = rng.random(frame.shape) < missing_rate
    frame = frame.mask(hidden)
    schema = Schema(
        (
            Column("real", ColumnType.REAL, "synthetic: Gaussian in the latent"),
            Column("positive", ColumnType.POSITIVE, "synthetic: log-normal in the latent"),
            Column("count", ColumnType.COUNT, "synthetic: Poisson with a log-linear rate"),
            Column("categorical", ColumnType.CATEGORICAL, "synthetic: softmax of the latent", categories=COLOURS),
            Column("ordinal", ColumnType.ORDINAL, "synthetic: thresholded latent", categories=LEVELS),
            Column("binary", ColumnType.BINARY, "synthetic: thresholded latent", categories=("no", "yes")),
        )
    )
    return frame, schema
