"""Why a column is overlooked (core.overlook_why): each verdict on a planted table that
produces it, and the rules on hand-made diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.diagnostics import GradientDiagnostics
from core.fit_check import check_fit
from core.lesson import LESSON_STEPS, LESSON_TARGET, lesson_config, lesson_table
from core.metrics import ColumnScore
from core.overlook_why import (
    CONFLICT_COSINE,
    DROWNED_RATIO,
    DiagnosticsWindow,
    Why,
    explain_overlooked,
)
from core.schema import Column, ColumnType, Schema
from core.trainer import TrainConfig, Trainer


def _train(trainer: Trainer, steps: int) -> DiagnosticsWindow:
    window = DiagnosticsWindow()
    for _ in range(steps):
        window.add(trainer.step().diagnostics)
    return window


def _whys(trainer: Trainer, window: DiagnosticsWindow) -> dict:
    evaluation = trainer.evaluate()
    names = [c.name for c in trainer.features]
    return explain_overlooked(names, evaluation.scores, window, check_fit(trainer))


def test_the_lessons_region_is_drowned_out_under_plain_training():
    table, schema = lesson_table()
    trainer = Trainer(table, schema, lesson_config(0))
    whys = _whys(trainer, _train(trainer, LESSON_STEPS))
    region = whys[LESSON_TARGET]
    assert region.why is Why.DROWNED
    assert "shorter than that of 'visitors'" in region.sentence and "right angles" in region.sentence


def test_the_lessons_region_is_in_conflict_while_imtl_g_starts_to_learn_it():
    table, schema = lesson_table()
    trainer = Trainer(table, schema, lesson_config(0))
    trainer.set_method("imtl-g")
    whys = _whys(trainer, _train(trainer, 15))
    region = whys[LESSON_TARGET]
    assert region.why is Why.CONFLICT and "'visitors'" in region.sentence


def test_a_poisson_on_an_amount_it_cannot_encode_is_overlooked_as_misfit():
    rng = np.random.default_rng(0)
    n = 400
    table = pd.DataFrame(
        {
            "salary": np.round(np.exp(10.5 + 0.6 * rng.normal(size=n))),
            "balance": np.round(np.exp(8 + 1.0 * rng.normal(size=n))),
        }
    )
    schema = Schema((Column("salary", ColumnType.COUNT), Column("balance", ColumnType.COUNT)))
    config = TrainConfig(hidden=16, layers=2, batch_size=n, lr=1e-2, seed=0, latent=1, dropout=0.0)
    trainer = Trainer(table, schema, config)
    whys = _whys(trainer, _train(trainer, 150))
    assert whys["balance"].why is Why.MISFIT and "try positive" in whys["balance"].sentence


def test_equally_loud_independent_columns_and_a_one_dimensional_code_are_none_of_these():
    rng = np.random.default_rng(0)
    n = 1000
    table = pd.DataFrame({name: rng.normal(size=n) for name in "abc"})
    schema = Schema(tuple(Column(name, ColumnType.REAL) for name in "abc"))
    config = TrainConfig(hidden=16, layers=2, latent=1, batch_size=n, lr=1e-2, dropout=0.0, seed=0)
    trainer = Trainer(table, schema, config)
    whys = _whys(trainer, _train(trainer, 120))
    assert whys and all(w.why is Why.NONE for w in whys.values())
    assert all("capacity" in w.sentence for w in whys.values())


# --- the rules on hand-made diagnostics --------------------------------------------------


def _diagnostics(norms, cosines, along) -> GradientDiagnostics:
    k = len(norms)
    return GradientDiagnostics(
        np.asarray(norms, float), np.asarray(cosines, float), 0, np.ones(k), np.asarray(along, float)
    )


def _scores(overlooked):
    return [ColumnScore(n, ColumnType.REAL, 1.0, 1.0, n in overlooked, None) for n in "abc"]


@pytest.mark.parametrize(
    "norms, cosines, along, why",
    [
        ([100.0, 100 / DROWNED_RATIO, 50.0], [[1, 0.1, 0], [0.1, 1, 0], [0, 0, 1]], [0.9, 0.1, 0.5], Why.DROWNED),
        ([100.0, 1.0, 50.0], [[1, 0.5, 0], [0.5, 1, 0], [0, 0, 1]], [0.9, 0.5, 0.5], Why.NONE),  # short, not orthogonal
        ([100.0, 50.0, 50.0], [[1, 0, 0], [0, 1, -0.5], [0, -0.5, 1]], [0.9, 0.3, 0.5], Why.CONFLICT),
        ([100.0, 50.0, 50.0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0.9, CONFLICT_COSINE - 0.01, 0.5], Why.CONFLICT),
        ([100.0, 50.0, 50.0], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], [0.9, 0.3, 0.5], Why.NONE),
    ],
)
def test_the_verdict_rules(norms, cosines, along, why):
    window = DiagnosticsWindow()
    window.add(_diagnostics(norms, cosines, along))
    got = explain_overlooked(list("abc"), _scores({"b"}), window)
    assert set(got) == {"b"} and got["b"].why is why


def test_the_window_averages_its_last_steps_and_skips_steps_without_cosines():
    window = DiagnosticsWindow(steps=2)
    for scale in (1.0, 2.0, 4.0):
        window.add(_diagnostics([scale, 1.0, 1.0], np.eye(3), [1.0, 1.0, 1.0]))
    window.add(GradientDiagnostics(np.array([6.0, 1, 1]), None, None, np.ones(3), np.ones(3)))
    assert len(window) == 2 and window.mean_norms()[0] == 5.0
    np.testing.assert_array_equal(window.mean_cosines(), np.eye(3))
    assert explain_overlooked(list("abc"), _scores(set()), window) == {}
