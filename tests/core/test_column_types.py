"""The per-type specification (core.column_types) and the type traits next to ColumnType (core.schema)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core.cell_codecs import ClassCodec, ColumnFit, NumberCodec
from core.column_types import SPECS, ChartKind, Metric
from core.encoding import TableEncoder
from core.inference import type_conflict
from core.likelihoods import (
    BinaryLikelihood,
    CategoricalLikelihood,
    CountLikelihood,
    OrdinalLikelihood,
    PositiveLikelihood,
    RealLikelihood,
)
from core.schema import TRAITS, Column, ColumnType, parse_type, read_hivae_types, type_from_hivae
from core.synthetic import make_synthetic

# Written out by hand, independently of SPECS: what each type must get.
EXPECTED = {
    ColumnType.REAL: ("real", RealLikelihood, "standardised", Metric.NORMALISED_RMSE, ChartKind.HISTOGRAM),
    ColumnType.POSITIVE: (
        "pos",
        PositiveLikelihood,
        "log1p, then standardised",
        Metric.NORMALISED_RMSE,
        ChartKind.HISTOGRAM,
    ),
    ColumnType.COUNT: (
        "count",
        CountLikelihood,
        "log1p, then standardised",
        Metric.NORMALISED_RMSE,
        ChartKind.HISTOGRAM,
    ),
    ColumnType.CATEGORICAL: ("cat", CategoricalLikelihood, "one-hot", Metric.ERROR_RATE, ChartKind.CLASS_BARS),
    ColumnType.ORDINAL: (
        "ordinal",
        OrdinalLikelihood,
        "one-hot",
        Metric.ERROR_RATE_AND_CLASS_SHIFT,
        ChartKind.CLASS_BARS,
    ),
    ColumnType.BINARY: ("cat", BinaryLikelihood, "one-hot", Metric.ERROR_RATE, ChartKind.CLASS_BARS),
}
CATEGORIES = {ColumnType.CATEGORICAL: ("a", "b", "c"), ColumnType.ORDINAL: (1, 2, 3, 4), ColumnType.BINARY: ("n", "y")}


def _column(column_type: ColumnType) -> Column:
    return Column(column_type.value, column_type, categories=CATEGORIES.get(column_type, ()))


def test_every_column_type_has_complete_traits_and_spec():
    assert set(TRAITS) == set(ColumnType) == set(SPECS) == set(EXPECTED)
    for column_type, spec in SPECS.items():
        assert spec.type is column_type and spec.traits is TRAITS[column_type]
        assert spec.traits.hivae_name and isinstance(spec.traits.is_class, bool)
        assert isinstance(spec.metric, Metric) and isinstance(spec.chart, ChartKind)
        assert callable(spec.likelihood) and spec.codec.input_transform


@pytest.mark.parametrize("column_type", list(ColumnType))
def test_each_type_gets_its_likelihood_input_transform_metric_and_chart(column_type):
    hivae_name, likelihood_class, input_transform, metric, chart = EXPECTED[column_type]
    spec = SPECS[column_type]
    column = _column(column_type)
    likelihood = spec.likelihood(column, ColumnFit(center=1.5, scale=2.0, baseline=3.0))
    assert type(likelihood) is likelihood_class
    assert (spec.traits.hivae_name, spec.codec.input_transform, spec.metric, spec.chart) == (
        hivae_name,
        input_transform,
        metric,
        chart,
    )
    # class types: one input and (multi-class) one output per class; numerical: one input
    is_class = column_type.is_discrete_class
    assert isinstance(spec.codec, ClassCodec if is_class else NumberCodec)
    assert spec.codec.input_width(column) == (len(column.categories) if is_class else 1)
    if column_type in (ColumnType.CATEGORICAL, ColumnType.ORDINAL):
        assert likelihood.n_params == len(column.categories)


def test_the_likelihoods_are_built_with_the_fitted_statistics():
    fit = ColumnFit(center=1.5, scale=2.0, baseline=3.0)
    real = SPECS[ColumnType.REAL].likelihood(_column(ColumnType.REAL), fit)
    positive = SPECS[ColumnType.POSITIVE].likelihood(_column(ColumnType.POSITIVE), fit)
    count = SPECS[ColumnType.COUNT].likelihood(_column(ColumnType.COUNT), fit)
    zero = torch.zeros(1, 2)
    assert (real.distribution(zero).loc.item(), real.distribution(zero).scale.item()) == pytest.approx((1.5, 2.002))
    # the positive likelihood lives on log(1 + x), whose statistics the input standardises with
    shifted = positive.shifted_distribution(zero)
    assert (shifted.loc.item(), shifted.scale.item()) == pytest.approx((1.5, 2.002))
    # the count's rate starts at the training mean
    assert count.distribution(zero[:, :1]).rate.item() == pytest.approx(3.0)


def test_the_encoder_builds_each_columns_likelihood_from_its_spec():
    frame, schema = make_synthetic(300, seed=1)
    likelihood = TableEncoder(schema).fit(frame).likelihood()
    assert [type(c) for c in likelihood.columns] == [EXPECTED[c.type][1] for c in schema.features]


@pytest.mark.parametrize("column_type", list(ColumnType))
def test_hivae_names_round_trip(column_type):
    n_classes = TRAITS[column_type].n_classes or (3 if column_type.is_discrete_class else None)
    cell = "" if n_classes is None else str(n_classes)
    row = f"{column_type.hivae_name},{n_classes or 1},{cell}"
    assert read_hivae_types(f"type,dim,nclass\n{row}\n") == [(column_type, n_classes)]
    assert type_from_hivae(column_type.hivae_name, n_classes) is column_type


def test_hivae_cat_is_binary_with_two_classes_and_categorical_otherwise():
    assert type_from_hivae("cat", 2) is ColumnType.BINARY
    assert type_from_hivae("cat", 5) is ColumnType.CATEGORICAL
    assert type_from_hivae("cat") is ColumnType.CATEGORICAL
    assert parse_type("cat") is ColumnType.CATEGORICAL and parse_type("pos") is ColumnType.POSITIVE
    assert type_from_hivae("nope") is None


# A column of each type, and one each type cannot be: text for the numerical types, a
# value their checks refuse, and a single class for the class types (binary: three).
IMPOSSIBLE = {
    ColumnType.REAL: [["a", "b", "c"]],
    ColumnType.POSITIVE: [["a", "b", "c"], [1.5, -0.5, 2.0]],
    ColumnType.COUNT: [["a", "b", "c"], [1.0, 2.5, 3.0], [3.0, -1.0, 2.0]],
    ColumnType.CATEGORICAL: [["a", "a", "a"]],
    ColumnType.ORDINAL: [[2, 2, 2]],
    ColumnType.BINARY: [["a", "a", "a"], ["a", "b", "c"]],
}


@pytest.mark.parametrize("column_type", list(ColumnType))
def test_each_types_validity_rule_accepts_its_own_column_and_refuses_an_impossible_one(column_type):
    frame, _ = make_synthetic(300, seed=2)  # one column of each type, named after it
    assert type_conflict(frame[column_type.value], column_type) is None
    for values in IMPOSSIBLE[column_type]:
        assert type_conflict(pd.Series(values, name="x"), column_type)


def test_a_violation_names_the_smallest_value_that_fails_the_first_failing_check():
    count = TRAITS[ColumnType.COUNT]
    assert count.violation(np.array([3.0, -2.0, 0.5, -1.0])) == "it holds 0.5, which is not a whole number"
    assert count.violation(np.array([3.0, -2.0, 0.0, -7.0])) == "it holds -7, and counts cannot be negative"
    assert count.violation(np.array([0.0, 4.0])) is None
    assert TRAITS[ColumnType.POSITIVE].violation(np.array([0.0, 2.5])) is None  # zeros are fine: 1 + x
    assert TRAITS[ColumnType.REAL].violation(np.array([-1e9, 0.5])) is None
