"""The Train view's error table tells why a column is overlooked, or that it is misfit."""

from __future__ import annotations

from core.io import LoadedTable
from core.lesson import LESSON_TARGET, lesson_config, lesson_table
from core.metrics import ColumnScore
from core.schema import ColumnType
from dashboard.charts.training import error_table
from dashboard.state.train import DashboardState


def test_the_error_table_has_one_sentence_per_column():
    scores = [
        ColumnScore("a", ColumnType.REAL, 0.2, 0.2, True, None),
        ColumnScore("b", ColumnType.REAL, 0.1, 0.2, False, None),
    ]
    table = error_table(scores, None, {"a": "drowned out: its gradient is 500x shorter than that of 'b'"})
    assert list(table["why"]) == ["drowned out: its gradient is 500x shorter than that of 'b'", ""]
    assert list(error_table(scores)["why"]) == ["", ""]


def test_the_live_state_explains_the_lessons_drowned_out_region():
    table, schema = lesson_table()
    state = DashboardState(LoadedTable("lesson", table, schema, None, None), lesson_config(0))
    state.train(n_steps=120)
    state.step_once()
    now = state.snapshot()
    assert set(now.verdicts) == set(now.names)
    assert now.verdicts[LESSON_TARGET].startswith("drowned out")
    assert LESSON_TARGET in now.evaluation.overlooked
