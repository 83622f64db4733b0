"""The dashboard run by streamlit's AppTest: the script as a user's session runs it,
widgets clicked through the test API, the session state read back."""

from __future__ import annotations

import time
import tomllib

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.samples import SAMPLES
from core.schema import ColumnType
from core.trainer import TrainConfig
from dashboard.state.samples import SYNTHETIC_NAME, load_sample_table
from dashboard.state.train import DashboardState
from dashboard.views.data import apply_schema_edits, receive_upload
from tests.dashboard.support import plotly_traces
from tests.paths import APP, REPO

TIMEOUT = 240


def open_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def state_of(at: AppTest):
    return at.session_state["dashboard"]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def show_view(at: AppTest, view: str) -> AppTest:
    at.segmented_control(key="view").set_value(view).run()
    assert not at.exception, at.exception
    return at


def test_opens_on_the_adult_sample_ready_to_train():
    at = open_app()
    state = state_of(at)
    expected = "Adult" if SAMPLES["Adult"].path.exists() else "synthetic"
    assert state.table.name == expected
    assert f"Overlooked columns · {expected}" in at.markdown[0].value
    assert metric(at, "Step") == "0"
    assert at.button(key="play").label == "Play"
    # the verdict is there before any training: one row per column, with the untrained model's errors
    verdict = at.dataframe[0].value
    assert sorted(verdict["column"]) == sorted(state.names)
    assert not at.error


def test_step_trains_and_draws_the_loss_curves():
    at = open_app()
    click(at, "step")
    assert metric(at, "Step") == "1"
    click(at, "step")
    assert metric(at, "Step") == "2"
    state = state_of(at)
    traces = plotly_traces(at, "loss_chart")
    assert sorted(t["name"] for t in traces) == sorted(state.names)
    for trace in traces:
        assert list(trace["x"]) == [1, 2]
        assert trace["y"][0] == 0  # the change since the first step starts at zero
    # the curves are the recorded per-column losses as a change since the first step
    # (two points are too few to be smoothed)
    losses = state.steps.field("column_losses")
    for trace in traces:
        col = state.names.index(trace["name"])
        assert trace["y"][1] == pytest.approx(losses[1, col] - losses[0, col])


def test_the_conflicts_over_time_keep_the_diagnosed_steps_when_the_history_is_thinned(monkeypatch):
    """The worker computes a step's diagnostics only where read (the step each refresh fetches,
    the steps before an evaluation); thinning the every-step history must not drop them."""
    import dashboard.state.train as train_state

    monkeypatch.setattr(train_state, "HISTORY_CAPACITY", 8)
    state = DashboardState(load_sample_table(SYNTHETIC_NAME), TrainConfig(hidden=8, layers=1))
    state.steps_per_refresh = 37
    state.play()
    for _ in range(12):
        state.refresh()
    state.pause()
    now = state.snapshot()
    assert len(now.steps) <= 8 and now.step >= 12 * 37  # the every-step history was thinned
    assert len(now.conflict_steps) >= 4 and not np.isnan(now.conflicts).any()
    assert now.conflict_steps[-1] == state.latest.step and now.conflicts[-1] == state.latest.diagnostics.n_conflicts


def test_method_switch_applies_from_the_next_step_on_the_same_model():
    at = open_app()
    click(at, "step")
    state = state_of(at)
    trainer = state.trainer
    after_one = [p.detach().clone() for p in trainer.model.parameters()]
    at.selectbox(key="method_weighting").set_value("imtl-g").run()
    at.selectbox(key="method_projection").set_value("pcgrad").run()
    assert not at.exception
    assert state.trainer is trainer and trainer.method == "imtl-g+pcgrad"
    # switching did not touch the weights or the step counter
    assert all(
        np.array_equal(a.numpy(), p.detach().numpy())
        for a, p in zip(after_one, trainer.model.parameters(), strict=True)
    )
    click(at, "step")
    assert trainer.step_count == 2 and metric(at, "Step") == "2"
    assert list(state.steps.field("method")) == ["none", "imtl-g+pcgrad"]
    assert "imtl-g+pcgrad" in at.caption[0].value


def test_a_projection_alone_is_spelt_as_in_the_compare_view():
    at = open_app()
    at.selectbox(key="method_projection").set_value("pcgrad").run()
    assert not at.exception
    assert state_of(at).trainer.method == "pcgrad"
    assert any(c.value == "Training with **pcgrad**" for c in at.caption)
    # the compare view turns the same two choices into the same spec
    show_view(at, "Compare")
    at.selectbox(key="cmp_weighting_0").set_value("none").run()
    at.selectbox(key="cmp_projection_0").set_value("pcgrad").run()
    assert not at.exception and at.session_state["compare"].choices[0].method == "pcgrad"


def test_pending_model_settings_wait_for_apply_across_views():
    at = open_app()
    at.number_input(key="cfg_lr").set_value(0.01).run()
    assert state_of(at).pending_changes() == {"lr": 0.01}
    show_view(at, "Data")
    show_view(at, "Train")
    assert at.number_input(key="cfg_lr").value == 0.01
    assert any("Pending: lr 0.001 → 0.01" in i.value for i in at.info)
    click(at, "apply")
    assert state_of(at).config.lr == 0.01 and not state_of(at).pending_changes()
    assert at.button(key="apply").disabled


def test_reset_reproduces_the_same_numbers():
    at = open_app()
    for _ in range(3):
        click(at, "step")
    state = state_of(at)
    first = state.steps.field("column_losses")
    first_cosines = state.latest_cosines.copy()
    click(at, "reset")
    assert metric(at, "Step") == "0" and len(state.steps) == 0
    for _ in range(3):
        click(at, "step")
    np.testing.assert_array_equal(state.steps.field("column_losses"), first)
    np.testing.assert_array_equal(state.latest_cosines, first_cosines)


def test_a_malformed_upload_shows_its_message_and_keeps_the_table_and_run():
    at = open_app()
    click(at, "step")
    state = state_of(at)
    table, trainer = state.table, state.trainer
    show_view(at, "Data")
    at.file_uploader(key="upload").set_value(("ragged.csv", b"a,b,c\n1,2,3\n4,5\n", "text/csv")).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["ragged.csv: line 3 has 2 fields, but the header has 3"]
    assert state.table is table and state.trainer is trainer and trainer.step_count == 1


def test_a_good_upload_replaces_the_table():
    at = open_app()
    show_view(at, "Data")
    content = (REPO / "sample_data" / "CPS1985.csv").read_bytes()
    at.file_uploader(key="upload").set_value(("wages.csv", content, "text/csv")).run()
    assert not at.exception and not at.error
    state = state_of(at)
    assert state.table.name == "wages" and len(state.table.data) == 534
    assert state.trainer.step_count == 0


def test_an_impossible_type_override_is_refused_next_to_the_schema():
    at = open_app()
    state = state_of(at)
    schema = state.schema
    text_column = next(c.name for c in schema.features if c.type.is_discrete_class and c.n_classes > 2)
    assert not state.override_column(text_column, "binary")
    show_view(at, "Data")
    assert len(at.error) == 1
    assert text_column in at.error[0].value and "binary needs exactly 2" in at.error[0].value
    assert state.schema is schema and not state.schema_pending


def test_a_schema_edit_waits_for_apply():
    at = open_app()
    state = state_of(at)
    name = state.names[0]
    assert state.override_column(name, excluded=True)
    at.run()
    assert state.schema_pending and not at.button(key="apply").disabled
    click(at, "apply")
    assert name not in state.names and not state.schema_pending
    # the data view has its own Apply, and can discard an edit
    show_view(at, "Data")
    assert state.override_column(name, excluded=False)
    at.run()
    click(at, "discard_schema")
    assert state.schema is state.trainer.schema and name not in state.names
    assert state.override_column(name, excluded=False)
    at.run()
    click(at, "apply_schema")
    assert name in state.names and not state.schema_pending


def test_a_diverging_learning_rate_stops_playing_with_a_message_and_keeps_the_run():
    at = open_app()
    at.number_input(key="cfg_lr").set_value(10.0).run()
    assert not at.button(key="apply").disabled
    click(at, "apply")
    state = state_of(at)
    assert state.config.lr == 10.0
    trainer = state.trainer
    click(at, "play")
    # the worker trains on its own; each rerun's refresh fetches what it did, the rejected step included
    deadline = time.monotonic() + 60
    while state.playing and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    assert not state.playing
    assert len(at.error) == 1 and "Try a lower learning rate (now 10)" in at.error[0].value
    # the steps before the rejected one are kept, weights finite, and the page still works
    kept = trainer.step_count
    assert state.trainer is trainer and kept >= 1 and len(state.steps) == kept
    assert all(np.isfinite(p.detach().numpy()).all() for p in trainer.model.parameters())
    assert at.button(key="play").label == "Play" and metric(at, "Step") == f"{kept:,}"
    at.number_input(key="cfg_lr").set_value(0.001).run()
    click(at, "apply")
    click(at, "step")
    assert not at.error and state.trainer.step_count == 1


def test_another_sample_can_be_loaded():
    at = open_app()
    show_view(at, "Data")
    at.selectbox(key="sample_choice").set_value("Wine").run()
    click(at, "load_sample")
    state = state_of(at)
    assert state.table.name == "Wine" and len(state.table.data) == 6497
    assert "Overlooked columns · Wine" in at.markdown[0].value and not at.error


def test_the_page_states_the_upload_limit_the_server_enforces():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    at = open_app()
    show_view(at, "Data")
    limit = config["server"]["maxUploadSize"]
    assert f"up to {limit} MB" in at.file_uploader(key="upload").label
    assert config["client"]["showErrorDetails"] == "none"


def test_marginals_are_recomputed_every_few_refreshes_while_playing():
    state = DashboardState(load_sample_table(SYNTHETIC_NAME), TrainConfig(hidden=8, layers=1))
    first = state.current_marginals()
    assert first.step == 0 and state.current_marginals() is first
    rows = state.trainer.splits["val"]
    assert first.data.equals(state.table.data.iloc[rows][state.names].reset_index(drop=True))
    # a reconstruction is compared on the cells the data has
    np.testing.assert_array_equal(first.reconstruction.isna().to_numpy(), first.data.isna().to_numpy())
    assert len(first.samples) == len(rows)
    state.steps_per_refresh = 1
    state.play()
    seen = []
    for _ in range(6):
        state.refresh()
        seen.append(state.current_marginals().step)
    assert seen == [0, 0, 3, 3, 3, 6]
    state.pause()
    state.step_once()
    assert state.current_marginals().step == 7  # paused: always the current model


def test_schema_editor_edits_go_through_the_override_rules():
    state = DashboardState(load_sample_table(SYNTHETIC_NAME), TrainConfig(hidden=8, layers=1))
    names = state.schema.names
    real, colour = names.index("real"), names.index("categorical")
    edits = {"edited_rows": {real: {"excluded": True}, colour: {"type": "binary"}}}
    apply_schema_edits(state, edits)
    # the first edit is taken, the impossible second one is refused with its reason
    assert state.schema["real"].excluded and state.schema_pending
    assert state.schema["categorical"].type is ColumnType.CATEGORICAL
    assert "'categorical'" in state.messages["schema"] and "binary needs exactly 2" in state.messages["schema"]


def test_the_same_upload_sent_again_does_not_throw_the_run_away():
    """Chromium was seen sending the uploader's file again on later reruns, after the
    data view was gone: each time the table was read anew and training restarted at 0."""

    class Uploaded:
        def __init__(self, file_id: str):
            self.file_id, self.name = file_id, "wages.csv"

        def getvalue(self) -> bytes:
            return (REPO / "sample_data" / "CPS1985.csv").read_bytes()

    state = DashboardState(load_sample_table(SYNTHETIC_NAME), TrainConfig(hidden=8, layers=1))
    first = Uploaded("first")
    receive_upload(state, first)
    assert state.table.name == "wages"
    state.train(n_steps=3)
    trainer = state.trainer
    receive_upload(state, first)  # the same file again
    assert state.trainer is trainer and trainer.step_count == 3
    receive_upload(state, None)  # the upload removed: nothing to read
    assert state.trainer is trainer
    receive_upload(state, Uploaded("second"))  # a new upload, even of the same bytes, is read
    assert state.trainer is not trainer and state.trainer.step_count == 0
