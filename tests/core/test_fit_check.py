"""The fit check (core.fit_stats, core.fit_advice, core.fit_check): its distances against
scipy, and its verdict on a Poisson fitted to wide amounts against a well-fitted column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.column_types import SPECS
from core.fit_check import check_fit, verdict
from core.fit_stats import MISFIT_DISTANCE, fit_stats
from core.schema import Column, ColumnType, Schema
from core.trainer import TrainConfig, Trainer

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("shift, scale", [(0.0, 1.0), (0.3, 1.0), (0.0, 3.0), (2.0, 0.2)])
def test_the_ks_distance_is_scipys_two_sample_statistic(shift, scale):
    data, samples = RNG.normal(size=300), RNG.normal(shift, scale, size=1200)
    got = fit_stats("x", ColumnType.REAL, data, samples)
    assert got.distance == pytest.approx(stats.ks_2samp(data, samples).statistic, abs=1e-12)
    assert got.spread_ratio == pytest.approx(samples.std() / data.std())
    assert got.data_zeros is None  # negative data: no share of zeros


def test_the_class_distance_is_the_total_variation_of_the_shares():
    data = RNG.choice(4, size=500, p=[0.4, 0.3, 0.2, 0.1])
    samples = RNG.choice(4, size=800, p=[0.1, 0.2, 0.3, 0.4])
    got = fit_stats("c", ColumnType.CATEGORICAL, data, samples)
    shares = [np.mean(data == k) - np.mean(samples == k) for k in range(4)]
    assert got.distance == pytest.approx(0.5 * np.abs(shares).sum()) and got.misfit
    assert got.spread_ratio is None


def test_zeros_of_non_negative_data_count_negative_draws_of_a_non_negative_type_as_zeros():
    data = np.array([0.0, 0.0, 1.0, 2.0, 3.0])
    draws = np.array([-0.5, 0.0, 0.5, 1.5, 2.0, 2.5])
    positive = fit_stats("p", ColumnType.POSITIVE, data, draws)
    assert positive.data_zeros == pytest.approx(0.4) and positive.sample_zeros == pytest.approx(2 / 6)
    clipped = stats.ks_2samp(data, np.maximum(draws, 0)).statistic
    assert positive.distance == pytest.approx(clipped)


def test_each_type_names_a_fix_through_its_spec():
    narrow = fit_stats("amount", ColumnType.COUNT, RNG.lognormal(8, 1, 400), RNG.poisson(4000, 400))
    sentence = verdict(narrow).sentence
    assert narrow.misfit and "too narrow for an amount; try positive" in sentence
    assert sentence.startswith(f"samples spread {narrow.spread_ratio:.2g}x the data's")
    zeros = np.where(RNG.random(400) < 0.8, 0.0, RNG.lognormal(3, 1, 400))
    as_real = fit_stats("z", ColumnType.REAL, zeros, RNG.normal(zeros.mean(), zeros.std(), 400))
    assert as_real.misfit and "try positive" in verdict(as_real).sentence
    classes = fit_stats("c", ColumnType.BINARY, np.zeros(100), np.ones(100))
    assert "multi-objective" in verdict(classes).sentence
    good = fit_stats("g", ColumnType.REAL, RNG.normal(size=400), RNG.normal(size=400))
    assert not good.misfit and verdict(good).sentence.startswith("fits")
    assert all(callable(SPECS[t].fit_advice) for t in ColumnType)
    assert MISFIT_DISTANCE == 0.2


def _two_amounts(column_type: ColumnType) -> Trainer:
    """Two independent wide amounts and one latent dimension: at most one can be encoded."""
    rng = np.random.default_rng(0)
    n = 400
    table = pd.DataFrame(
        {
            "salary": np.round(np.exp(10.5 + 0.6 * rng.normal(size=n))),
            "balance": np.round(np.exp(8 + 1.0 * rng.normal(size=n))),
        }
    )
    schema = Schema((Column("salary", column_type), Column("balance", column_type)))
    config = TrainConfig(hidden=16, layers=2, batch_size=n, lr=1e-2, seed=0, latent=1, dropout=0.0)
    trainer = Trainer(table, schema, config)
    for _ in range(150):
        trainer.step()
    return trainer


@pytest.fixture(scope="module")
def poisson_on_amounts() -> Trainer:
    return _two_amounts(ColumnType.COUNT)


def test_a_poisson_fitted_to_a_wide_amount_is_misfit_and_told_to_try_positive(poisson_on_amounts):
    checks = {c.name: c for c in check_fit(poisson_on_amounts)}
    balance = checks["balance"]
    assert balance.misfit and balance.stats.spread_ratio < 0.5
    assert "a Poisson's variance equals its mean, too narrow for an amount; try positive" in balance.sentence
    assert balance.to_dict()["misfit"] is True


def test_the_same_amounts_as_positive_fit():
    checks = check_fit(_two_amounts(ColumnType.POSITIVE))
    assert [c.misfit for c in checks] == [False, False]
    assert all(c.stats.distance < MISFIT_DISTANCE / 2 for c in checks)
