"""Numeric inference from the values' shape (core.number_types, through core.inference)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.inference import infer_schema
from core.number_types import AMOUNT_DISPERSION, MIN_COUNT_LEVELS, count_shape
from core.schema import ColumnType

RNG = np.random.default_rng(7)


def _one(values, name="x"):
    return infer_schema(pd.DataFrame({name: values}))[name]


@pytest.mark.parametrize(
    "values, words",
    [
        (np.round(RNG.lognormal(10.5, 0.5, 400)), "typical value"),  # salaries
        (np.round(RNG.lognormal(5.0, 1.0, 400)), "variance"),  # prices in dollars: over-dispersed
        (np.where(RNG.random(400) < 0.8, 0, np.round(RNG.lognormal(7, 1, 400))), "an amount"),  # balances, 80 % zeros
        (RNG.integers(50, 81, 400) * 10, "multiple of 10"),  # amounts in round tens, little spread
    ],
)
def test_integer_amounts_are_positive_with_a_reason(values, words):
    column = _one(values)
    assert column.type is ColumnType.POSITIVE and words in column.reason and "log(1 + x)" in column.reason


@pytest.mark.parametrize(
    "values",
    [
        RNG.poisson(3.0, 400),  # visits: Poisson, 9+ distinct values, mode at 3
        RNG.negative_binomial(1, 0.3, 400),  # over-dispersed, decaying from 0
        np.minimum(RNG.geometric(0.35, 400), 15),  # years in a role from 1, thinning out
    ],
)
def test_small_counts_with_few_distinct_values_are_counts(values):
    assert len(np.unique(values)) >= MIN_COUNT_LEVELS
    column = _one(values)
    assert column.type is ColumnType.COUNT and "small counts" in column.reason


def test_over_dispersed_counts_stay_counts_below_the_amount_dispersion():
    visits = RNG.negative_binomial(0.5, 0.05, 2000)  # doctor visits: mean about 10, many zeros
    dispersion = visits.var() / visits.mean()
    assert 5 < dispersion < AMOUNT_DISPERSION and len(np.unique(visits)) > 20
    assert _one(visits).type is ColumnType.COUNT


@pytest.mark.parametrize(
    "values",
    [
        np.tile([1, 2, 5, 7, 9, 12, 15, 20, 30, 40], 30),  # codes with gaps
        np.tile(np.arange(1, 13), 30),  # months: flat
        np.concatenate([RNG.poisson(1.5, 300) + 1, np.full(40, 10)]).clip(1, 10),  # a 1..10 rating piling up at 10
        np.repeat(np.arange(0, 12), [300, 280, 40, 30, 90, 50, 40, 120, 30, 200, 30, 10]),  # job codes
    ],
)
def test_coded_classes_stay_categorical(values):
    column = _one(values)
    assert column.type is ColumnType.CATEGORICAL and "coded classes" in column.reason


def test_count_shape_needs_enough_levels_from_zero_or_one():
    assert count_shape(np.arange(5, 20, dtype=float), 5, 19) is None
    few = np.repeat(np.arange(6.0), [50, 30, 15, 8, 4, 2])
    assert count_shape(few, 0, 5) is None and _one(few).type is ColumnType.CATEGORICAL


def test_calendar_years_are_real_and_few_years_are_classes():
    built = _one(RNG.integers(1872, 2011, 300))
    assert built.type is ColumnType.REAL and "calendar years" in built.reason
    assert _one(np.tile([2007, 2008, 2009], 20)).type is ColumnType.CATEGORICAL


def test_non_negative_numbers_with_many_zeros_are_positive_and_a_stray_zero_is_not():
    income = np.where(RNG.random(300) < 0.3, 0.0, RNG.lognormal(3, 0.5, 300))
    column = _one(income)
    assert column.type is ColumnType.POSITIVE and "zeros" in column.reason
    measurement = np.append(RNG.normal(5.7, 1.1, 300).clip(3, None), 0.0)
    assert _one(measurement).type is ColumnType.REAL


def test_flipper_like_whole_measurements_keep_a_poisson_spread_and_stay_counts():
    lengths = np.round(RNG.normal(200, 14, 300))  # variance about the mean
    assert _one(lengths).type is ColumnType.COUNT


@pytest.mark.parametrize("huge", [1e300, -3e38, 5e19])
def test_numbers_beyond_float32_arithmetic_are_a_data_error_naming_the_column(huge):
    with pytest.raises(DataError, match=r"column 'big' holds .*beyond ±1e\+18"):
        _one([1.0, 2.0, huge, 4.0], "big")
