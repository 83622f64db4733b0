"""The Train view's "Fix it" (a live race, then the winner trains on), its marginals drawn by the
chosen sampler, and the model bundle the export writes."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core import TableModel
from core.bundle import DEFAULT_SAMPLER, FILES
from core.trainer import TrainConfig
from dashboard.exports import bundle_zip
from dashboard.state import race as race_state
from dashboard.state.samples import SYNTHETIC_NAME, load_sample_table
from dashboard.state.train import DashboardState
from tests.dashboard.support import plotly_traces
from tests.paths import APP

SMALL = TrainConfig(hidden=8, layers=1, batch_size=256)


@pytest.fixture(autouse=True)
def short_race(monkeypatch):
    monkeypatch.setattr(race_state, "RACE_FINAL_STEPS", 48)


def _state() -> DashboardState:
    return DashboardState(load_sample_table(SYNTHETIC_NAME), SMALL)


def test_fix_it_races_the_candidates_live_then_trains_on_with_the_winner():
    state = _state()
    for _ in range(3):
        state.step_once()
    state.fix_it()
    assert state.playing and state.race is not None
    picture = state.current_race()
    assert picture is not None and picture.winner is None and picture.rounds_done == 0
    assert len(picture.curves) == 8 and all(c.eliminated_in is None for c in picture.curves)
    steps_per_epoch = state.trainer.steps_per_epoch
    assert picture.round_ends[-1] * steps_per_epoch >= race_state.RACE_FINAL_STEPS
    # every candidate starts from the run's initial weights, not from where the run had got to
    assert all(c.step_count == 0 for c in state.race.candidates)

    state.train(n_steps=8 * picture.round_ends[0] * steps_per_epoch)  # the whole first round
    middle = state.current_race()
    assert middle.rounds_done == 1 and 0 < middle.progress < 1
    out = [c for c in middle.curves if c.eliminated_in == 1]
    assert len(out) == 4 and all(len(c.epochs) == picture.round_ends[0] for c in out)

    while state.race is not None:
        state.train(n_steps=200)
    record = state.race_result
    assert record is not None and state.trainer.method == record.winner and record.margin >= 0
    assert state.playing  # training goes on, with the winner's trainer
    reached = state.trainer.step_count
    state.train(n_steps=5)
    assert state.trainer.step_count == reached + 5


def test_reset_or_a_new_table_ends_a_race():
    state = _state()
    state.fix_it()
    state.reset()
    assert state.race is None and state.current_race() is None
    state.fix_it()
    state.load_sample(SYNTHETIC_NAME)
    assert state.race is None


def test_the_marginals_draw_with_the_chosen_sampler():
    assert DEFAULT_SAMPLER == "mixture"
    state = _state()
    state.train(n_steps=40)
    marginals = state.current_marginals()
    assert list(marginals.samples.columns) == state.names and not marginals.samples.isna().to_numpy().any()
    for column in state.trainer.features:
        if column.type.is_discrete_class:
            assert set(marginals.samples[column.name]) <= set(column.categories)


def test_the_export_is_a_bundle_that_loads(tmp_path):
    state = _state()
    state.train(n_steps=20)
    archive = zipfile.ZipFile(io.BytesIO(bundle_zip(state.trainer, state.table.name, None)))
    assert sorted(archive.namelist()) == sorted(FILES)
    archive.extractall(tmp_path)
    model = TableModel.load(tmp_path)
    filled = model.impute(state.table.data)
    assert not filled[state.names].isna().to_numpy().any()
    # the bundle is a snapshot: the run trains on, the bundle's network stays as exported
    before = model.sample(30, seed=1)
    state.train(n_steps=20)
    assert model.sample(30, seed=1).equals(before)


def test_the_train_view_draws_the_race_and_the_fix_it_button():
    at = AppTest.from_file(APP, default_timeout=240)
    at.run()
    state = at.session_state["dashboard"]
    state.load_sample(SYNTHETIC_NAME)
    at.run()
    assert at.button(key="fix_it").label == "Fix it"
    state.fix_it()
    state.pause()  # the fragment draws the race once, without the refresh timer
    state.train(n_steps=8 * state.race.schedule[0] * state.trainer.steps_per_epoch)
    at.run()
    assert not at.exception, at.exception
    assert at.button(key="fix_it").disabled
    traces = plotly_traces(at, "race_chart")
    assert len(traces) == 8
    grey = [t for t in traces if t["line"]["color"] == "#b8b8b8"]
    assert len(grey) == 4 and all("out in round 1" in t["name"] for t in grey)
    assert np.isfinite(np.asarray(traces[-1]["y"], dtype=float)).all()


def test_fix_it_on_a_full_server_says_so_and_the_run_goes_on(monkeypatch):
    import gc

    from core.workers.pool import default_pool

    state = _state()
    state.step_once()
    gc.collect()  # earlier tests' sessions give their places back first
    monkeypatch.setattr(default_pool(), "max_sessions", default_pool().sessions)
    state.fix_it()
    assert state.race is None and "the most it allows" in state.messages["train"]
    state.step_once()
    assert state.trainer.step_count == 2
