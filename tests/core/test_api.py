"""The fitted model a user holds: impute, sample, reconstruct, evaluate, and the method auto."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from core import TableModel
from core.api import HOLDOUT, holdout_split
from core.errors import DataError
from core.lesson import lesson_config, lesson_table
from core.schema import ColumnType
from core.synthetic import make_synthetic
from core.trainer import Trainer
from tests.paths import SAMPLES


@pytest.fixture(scope="module")
def synthetic_model() -> tuple[TableModel, pd.DataFrame]:
    table, schema = make_synthetic(600, seed=1, missing_rate=0.1)
    return TableModel(epochs=8, seed=0).fit(table, method="imtl-g", schema=schema), table


@pytest.fixture(scope="module")
def penguins_model() -> TableModel:
    return TableModel(epochs=6, seed=0).fit(SAMPLES / "penguins.csv", method="none")


def test_impute_fills_every_gap_and_changes_no_observed_cell(synthetic_model):
    model, table = synthetic_model
    assert table.isna().to_numpy().sum() > 100
    filled = model.impute(table)
    assert list(filled.columns) == list(table.columns) and filled.index.equals(table.index)
    assert not filled.isna().to_numpy().any()
    for name in table.columns:
        observed = table[name].notna()
        assert filled.loc[observed, name].tolist() == table.loc[observed, name].tolist(), name
    assert table.isna().to_numpy().sum() > 100  # the caller's table is left as it was


def test_impute_gives_original_units_and_labels_and_leaves_other_columns_alone(synthetic_model):
    model, table = synthetic_model
    extra = table.assign(note=["a", None] * (len(table) // 2)).set_axis(np.arange(len(table)) + 1000)
    filled = model.impute(extra)
    assert filled["note"].isna().sum() == len(table) // 2  # not a trained column: untouched
    for column in model.schema.features:
        values = filled[column.name]
        if column.type.is_discrete_class:
            assert set(values) <= set(column.categories)
        else:
            assert pd.api.types.is_float_dtype(values)
    assert (filled["positive"] >= 0).all() and (filled["count"] == filled["count"].round()).all()


def test_sample_gives_the_trained_columns_with_valid_values_of_every_type(synthetic_model):
    model, table = synthetic_model
    rows = model.sample(500, seed=3)
    assert len(rows) == 500 and list(rows.columns) == [c.name for c in model.schema.features]
    assert {c.type for c in model.schema.features} == set(ColumnType)
    assert not rows.isna().to_numpy().any()
    for column in model.schema.features:
        values = rows[column.name]
        if column.type.is_discrete_class:
            assert set(values) <= set(column.categories), column.name
        else:
            numbers = values.astype(float)
            assert np.isfinite(numbers).all()
            if column.type is not ColumnType.REAL:
                assert (numbers >= 0).all(), column.name
            if column.type is ColumnType.COUNT:
                assert (numbers == numbers.round()).all()
            # within the range of the training values (a subset of the table's rows), at float32 precision
            low, high = np.float32(table[column.name].min()), np.float32(table[column.name].max())
            assert low <= np.float32(numbers.min()) and np.float32(numbers.max()) <= high
    assert model.sample(50, seed=3).equals(model.sample(50, seed=3))
    assert not model.sample(50, seed=3).equals(model.sample(50, seed=4))
    assert list(model.sample(20, seed=0, sampler="prior").columns) == list(rows.columns)


def test_excluded_columns_are_absent_from_samples_and_reconstructions(penguins_model):
    table = pd.read_csv(SAMPLES / "penguins.csv")
    excluded = [c.name for c in penguins_model.schema.columns if c.excluded]
    assert excluded == ["rownames"]
    assert "rownames" not in penguins_model.sample(10).columns
    rebuilt = penguins_model.reconstruct(table)
    assert "rownames" not in rebuilt.columns and rebuilt.index.equals(table.index)
    assert not rebuilt.isna().to_numpy().any()


def test_evaluate_scores_the_given_table(penguins_model):
    table = pd.read_csv(SAMPLES / "penguins.csv")
    result = penguins_model.evaluate(table)
    assert [s.name for s in result.scores] == [c.name for c in penguins_model.schema.features]
    assert 0 < result.mean_error < 1
    assert all(0 <= s.error <= 1 for s in result.scores)


def test_bad_input_is_one_data_error(penguins_model):
    table = pd.read_csv(SAMPLES / "penguins.csv")
    with pytest.raises(DataError, match="lacks the trained column 'island'"):
        penguins_model.impute(table.drop(columns="island"))
    with pytest.raises(DataError, match="not one of its categories"):
        penguins_model.reconstruct(table.assign(island="Atlantis"))
    with pytest.raises(DataError, match="at least 1"):
        penguins_model.sample(0)
    with pytest.raises(DataError, match="not fitted"):
        TableModel().sample(5)
    with pytest.raises(DataError, match="unknown setting 'epoch'"):
        TableModel(epoch=3)


def test_auto_picks_what_a_full_comparison_picks_on_the_planted_lesson_table():
    """Plain training overlooks `region` on this table and IMTL-G learns it; the race, on half the
    length, must come to the choice that training every candidate to the end makes."""
    table, schema = lesson_table()
    candidates = ("none", "imtl-g", "pcgrad", "mgda-ub")
    for seed in (0, 1):
        config = lesson_config(seed)
        splits = holdout_split(len(table), seed, HOLDOUT)
        full = {}
        for method in candidates:
            trainer = Trainer(table, schema, replace(config, method=method), splits=splits)
            for _ in range(120):
                trainer.step()
            full[method] = trainer.evaluate("val").mean_error
        settings = {k: v for k, v in vars(config).items() if k != "method"}
        model = TableModel(epochs=120, race_epochs=60, candidates=candidates, **settings).fit(table, schema=schema)
        assert model.method == min(full, key=full.__getitem__) == "imtl-g"
        race = model.race
        assert race is not None and race["winner"] == "imtl-g" and race["margin"] > 0
        assert [r["epochs"] for r in race["rounds"]] == [30, 60]
        assert [len(r["validation_error"]) for r in race["rounds"]] == [4, 2]


def test_the_fitted_weights_are_those_of_the_best_validation_epoch():
    table, schema = make_synthetic(400, seed=5, missing_rate=0.05)
    model = TableModel(epochs=12, seed=2, lr=2e-2).fit(table, method="none", schema=schema)
    history = model.bundle.info["history"]
    assert [row["epoch"] for row in history] == list(range(1, 13))
    errors = [row["val_mean_error"] for row in history]
    assert errors.index(min(errors)) < 11  # the last epoch is not the best: an earlier one is restored
    validation = table.iloc[holdout_split(len(table), 2, HOLDOUT)["val"]]
    best = min(row["val_mean_error"] for row in history)
    assert model.evaluate(validation).mean_error == pytest.approx(best, rel=1e-6)
