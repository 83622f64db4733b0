"""Each column type described once: what the library does with a column of that type.

``SPECS[t]`` gives, for every ``ColumnType`` ``t``:

- ``likelihood``: builds the column's likelihood from its fitted statistics;
- ``codec``: how cells become targets and network inputs (its ``input_transform``:
  standardised, log1p then standardised, or one-hot) and targets become cells again;
- ``metric``: how its reconstruction error is measured (``core.metrics``);
- ``chart``: how the dashboard draws its marginal (bars per class, or a histogram);
- ``fit_advice``: what to try when its samples do not fit its data (``core.fit_advice``).

What a type is independently of any model (its HI-VAE name, whether it holds
classes, which values it accepts) lives next to ``ColumnType`` in ``core.schema``,
which ``inference`` and ``io`` read without loading torch; ``spec.traits`` gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from core.cell_codecs import ClassCodec, Codec, ColumnFit, NumberCodec
from core.fit_advice import Advice, class_advice, count_advice, positive_advice, real_advice
from core.likelihoods import (
    BinaryLikelihood,
    CategoricalLikelihood,
    ColumnLikelihood,
    CountLikelihood,
    OrdinalLikelihood,
    PositiveLikelihood,
    RealLikelihood,
)
from core.schema import Column, ColumnType, TypeTraits


class Metric(StrEnum):
    """How a column's reconstruction error is measured (computed in ``core.metrics``)."""

    NORMALISED_RMSE = "normalised RMSE"  # RMSE / (max - min) of the true values
    ERROR_RATE = "error rate"
    # the error rate, and the mean |class shift| / number of classes (HI-VAE's ordinal score)
    ERROR_RATE_AND_CLASS_SHIFT = "error rate and class shift"

    @property
    def reports_class_shift(self) -> bool:
        return self is Metric.ERROR_RATE_AND_CLASS_SHIFT


class ChartKind(StrEnum):
    """How the dashboard draws a column's marginal."""

    HISTOGRAM = "histogram"  # shares of bins over the data's range
    CLASS_BARS = "class bars"  # shares of each category, in class order


@dataclass(frozen=True)
class ColumnTypeSpec:
    """What the library does with a column of one type (see the module docstring)."""

    type: ColumnType
    likelihood: Callable[[Column, ColumnFit], ColumnLikelihood]
    codec: Codec
    metric: Metric
    chart: ChartKind
    fit_advice: Advice

    @property
    def traits(self) -> TypeTraits:
        return self.type.traits


STANDARDISED = NumberCodec("standardised", lambda x: x)
# Log1p for skewed non-negative types: their likelihoods accept zeros (positive models 1 + x).
LOG1P_STANDARDISED = NumberCodec("log1p, then standardised", np.log1p)
WHOLE_LOG1P_STANDARDISED = NumberCodec("log1p, then standardised", np.log1p, whole=True)
ONE_HOT = ClassCodec()


def _real(column: Column, fit: ColumnFit) -> ColumnLikelihood:
    return RealLikelihood(fit.center, fit.scale)


def _positive(column: Column, fit: ColumnFit) -> ColumnLikelihood:
    # the input's statistics are those of log(1 + x), on which the LogNormal lives
    return PositiveLikelihood(fit.center, fit.scale)


def _count(column: Column, fit: ColumnFit) -> ColumnLikelihood:
    return CountLikelihood(fit.baseline)


def _categorical(column: Column, fit: ColumnFit) -> ColumnLikelihood:
    return CategoricalLikelihood(len(column.categories))


def _ordinal(column: Column, fit: ColumnFit) -> ColumnLikelihood:
    return OrdinalLikelihood(len(column.categories))


def _binary(column: Column, fit: ColumnFit) -> ColumnLikelihood:
    return BinaryLikelihood()


SPECS: dict[ColumnType, ColumnTypeSpec] = {
    spec.type: spec
    for spec in (
        # type, likelihood, codec (with its network-input transform), metric, chart, fit advice
        ColumnTypeSpec(ColumnType.REAL, _real, STANDARDISED, Metric.NORMALISED_RMSE, ChartKind.HISTOGRAM, real_advice),
        ColumnTypeSpec(
            ColumnType.POSITIVE,
            _positive,
            LOG1P_STANDARDISED,
            Metric.NORMALISED_RMSE,
            ChartKind.HISTOGRAM,
            positive_advice,
        ),
        ColumnTypeSpec(
            ColumnType.COUNT,
            _count,
            WHOLE_LOG1P_STANDARDISED,
            Metric.NORMALISED_RMSE,
            ChartKind.HISTOGRAM,
            count_advice,
        ),
        ColumnTypeSpec(
            ColumnType.CATEGORICAL, _categorical, ONE_HOT, Metric.ERROR_RATE, ChartKind.CLASS_BARS, class_advice
        ),
        ColumnTypeSpec(
            ColumnType.ORDINAL,
            _ordinal,
            ONE_HOT,
            Metric.ERROR_RATE_AND_CLASS_SHIFT,
            ChartKind.CLASS_BARS,
            class_advice,
        ),
        ColumnTypeSpec(ColumnType.BINARY, _binary, ONE_HOT, Metric.ERROR_RATE, ChartKind.CLASS_BARS, class_advice),
    )
}
