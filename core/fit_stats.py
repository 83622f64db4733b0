"""How far a column's samples lie from its data: the numbers of the fit check.

For one column, the observed values and the model's draws for the same rows give:

- ``distance``: the two-sample Kolmogorov-Smirnov statistic (numerical columns: the
  largest gap between the two empirical CDFs) or the total variation distance between
  the two class shares (class columns: half the sum of the absolute differences);
- ``spread_ratio``: the draws' standard deviation over the data's (numerical columns);
- ``data_zeros`` and ``sample_zeros``: the share of zeros in each (numerical columns
  whose data hold no negative value; draws below 0 count as 0 for a type that cannot
  hold them, as the samplers clip them).

A column is *misfit* when ``distance`` exceeds ``MISFIT_DISTANCE``: its samples do not
look like its data. That one threshold is used wherever a fit verdict is shown
(``metrics.json``, ``core train``'s summary, the dashboard's Train view). It lies above
the sampling noise of the distance on a few hundred rows (the two-sample KS statistic's
5 % critical value is about 0.12 at 250 rows) and below what a wrong likelihood family
gives (a Poisson on an amount spreads a fraction of the data's width: KS well above 0.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.quality import ks_statistic, total_variation
from core.schema import ColumnType

MISFIT_DISTANCE = 0.2


@dataclass(frozen=True)
class FitStats:
    """One column's samples against its data (see the module docstring)."""

    name: str
    type: ColumnType
    distance: float
    measure: str  # "KS" or "total variation"
    spread_ratio: float | None  # numerical columns with spread in the data
    data_zeros: float | None  # non-negative numerical data only
    sample_zeros: float | None
    n_data: int
    n_samples: int

    @property
    def misfit(self) -> bool:
        return self.distance > MISFIT_DISTANCE


def fit_stats(name: str, column_type: ColumnType, data: np.ndarray, samples: np.ndarray) -> FitStats:
    """The fit statistics of ``samples`` against ``data`` (target units: numbers, or class
    indices for class types; both without missing cells, neither empty)."""
    data, samples = np.asarray(data, dtype=np.float64), np.asarray(samples, dtype=np.float64)
    if column_type.is_discrete_class:
        n_codes = int(max(data.max(), samples.max())) + 1
        distance = total_variation(data.astype(np.int64), samples.astype(np.int64), n_codes)
        return FitStats(name, column_type, distance, "total variation", None, None, None, data.size, samples.size)
    non_negative = bool(data.min() >= 0)
    if non_negative and column_type.traits.violation(np.array([-1.0])) is not None:
        samples = np.maximum(samples, 0.0)
    spread = float(data.std())
    ratio = float(samples.std()) / spread if spread > 0 else None
    data_zeros = float(np.mean(data == 0)) if non_negative else None
    sample_zeros = float(np.mean(samples <= 0)) if non_negative else None
    distance = ks_statistic(data, samples)
    return FitStats(name, column_type, distance, "KS", ratio, data_zeros, sample_zeros, data.size, samples.size)


def describe(stats: FitStats) -> str:
    """The numbers in words: "KS 0.41, samples spread 0.2x the data's, zeros 82 % -> 5 %"."""
    parts = [f"{stats.measure} {stats.distance:.2f}"]
    if stats.spread_ratio is not None and math.isfinite(stats.spread_ratio):
        parts.append(f"samples spread {stats.spread_ratio:.2g}x the data's")
    if stats.data_zeros is not None and stats.sample_zeros is not None and stats.data_zeros > 0:
        parts.append(f"zeros {stats.data_zeros:.0%} in the data, {stats.sample_zeros:.0%} in the samples")
    return ", ".join(parts)
