"""The compare view run by streamlit's AppTest: a link opens it set up, a 3-configuration
comparison starts and progresses (each script run is one refresh), runs pause and
cancel on their own, results export, and the numbers equal those of a run alone."""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from io import StringIO

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.trainer import Trainer
from core.workers.pool import default_pool
from dashboard.state.compare import base_config
from dashboard.views.compare import results_csv
from tests.paths import APP

TIMEOUT = 240
# A small bundled table, so that a few refreshes train several epochs.
LINK = {
    "view": "compare",
    "cfg": "vae:none:0.001:32,vae:imtl-g:0.001:32,vae:pcgrad:0.001:32",
    "data": "penguins",
    "seed": "3",
    "epochs": "200",
}


def open_link(params: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def refresh(at: AppTest, times: int = 1) -> None:
    for _ in range(times):
        at.run()
        assert not at.exception, at.exception


def steps(comparison) -> list[int]:
    return [run.step_count for run in comparison.runs]


def chart(at: AppTest, key: str) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")).proto.spec)


@pytest.fixture(scope="module")
def started():
    at = open_link(LINK)
    at.button(key="cmp_start").click().run()
    assert not at.exception, at.exception
    return at


def test_a_link_opens_the_view_set_up_on_its_table():
    at = open_link(LINK)
    assert at.segmented_control(key="view").value == "Compare"
    assert at.session_state["dashboard"].table.name == "penguins"
    assert not at.error
    set_up = [
        (
            at.selectbox(key=f"cmp_weighting_{i}").value,
            at.selectbox(key=f"cmp_projection_{i}").value,
            at.number_input(key=f"cmp_batch_{i}").value,
        )
        for i in range(3)
    ]
    assert set_up == [("none", "none", 32), ("imtl-g", "none", 32), ("none", "pcgrad", 32)]
    assert at.number_input(key="cmp_seed").value == 3 and at.number_input(key="cmp_epochs").value == 200
    assert at.session_state["compare"].comparison is None  # set up, not started


def test_a_bad_link_says_what_is_wrong_in_one_line_and_uses_defaults():
    at = open_link({"view": "compare", "cfg": "vae:none:0.001,vae:bogus:0.001", "seed": "-4", "data": "nowhere"})
    assert len(at.error) == 1
    message = at.error[0].value
    assert "\n" not in message and "'bogus'" in message and "seed" in message and "'nowhere'" in message
    assert at.number_input(key="cmp_count").value == 3 and at.number_input(key="cmp_seed").value == 0
    assert at.selectbox(key="cmp_weighting_1").value == "imtl-g"


def test_start_trains_three_configurations_together_and_writes_the_link(started):
    at = started
    comparison = at.session_state["compare"].comparison
    assert [run.label for run in comparison.runs] == ["none", "imtl-g", "pcgrad"]
    assert {key: at.query_params[key] for key in LINK} == LINK
    before = steps(comparison)
    refresh(at, 2)
    after = steps(comparison)
    assert all(b < a for b, a in zip(before, after, strict=True)) and max(after) - min(after) <= 1
    assert "Only the gradient combination differs" in at.success[0].value
    assert "same minibatches in the same order" in at.success[0].value
    assert list(at.dataframe[0].value.index) == ["method"]
    assert comparison.stacked and any("one stacked model" in c.value for c in at.caption)


def test_the_charts_show_every_configuration_on_shared_axes(started):
    at = started
    refresh(at)
    comparison = at.session_state["compare"].comparison
    labels = ["none", "imtl-g", "pcgrad"]
    bars = chart(at, "cmp_columns_chart")["data"]
    assert [t["name"] for t in bars] == labels
    assert all(t["x"] == comparison.names for t in bars)
    curves = chart(at, "cmp_curves_chart")["data"]
    assert sorted({t["name"] for t in curves}) == sorted(labels)
    heatmap = chart(at, "cmp_heatmap_chart")["data"][0]
    assert heatmap["x"] == labels and heatmap["y"] == comparison.names
    summary = chart(at, "cmp_summary_chart")["data"]
    assert len(summary) == 3 and all(t["x"] == labels for t in summary)


def test_pause_and_cancel_act_on_one_run(started):
    at = started
    comparison = at.session_state["compare"].comparison
    assert comparison.active, "the runs finished before they could be paused: give the test more epochs"
    at.button(key="cmp_pause_0").click().run()
    paused_at = comparison.runs[0].step_count
    others = steps(comparison)[1:]
    refresh(at, 2)
    assert comparison.runs[0].step_count == paused_at and comparison.runs[0].status == "paused"
    assert all(now > before for now, before in zip(steps(comparison)[1:], others, strict=True))
    at.button(key="cmp_cancel_2").click().run()
    assert comparison.runs[2].status == "cancelled" and at.button(key="cmp_cancel_2").disabled
    at.button(key="cmp_resume_0").click().run()
    assert comparison.runs[0].status in ("running", "finished")


def test_runs_finish_and_export_with_the_numbers_of_runs_alone(started):
    at = started
    comparison = at.session_state["compare"].comparison
    refresh(at)
    while comparison.active:  # the rest of the epochs without a page per refresh
        comparison.advance(seconds=5)
    refresh(at)
    assert ":material/check: finished" in [m.value for m in at.markdown]
    assert [run.status for run in comparison.runs] == ["finished", "finished", "cancelled"]
    state = at.session_state["dashboard"]
    for run in comparison.runs:
        alone = Trainer(state.table.data, state.trainer.schema, replace(run.config))
        for _ in range(run.step_count):
            alone.step()
        expected = [s.error for s in alone.evaluate("val", max_rows=2000).scores]
        assert [s.error for s in run.evaluation.scores] == expected
    frame = pd.read_csv(StringIO(results_csv(comparison)))
    assert len(frame) == 3 * len(comparison.names)
    assert set(frame.status) == {"finished", "cancelled"}
    document = json.loads(comparison.to_json())
    assert document["table"] == "penguins" and document["seed"] == 3
    assert [c["status"] for c in document["configurations"]] == ["finished", "finished", "cancelled"]
    assert {b.key for b in at.get("download_button")} >= {"cmp_export_csv", "cmp_export_json"}


def test_differing_learning_rates_are_flagged_as_partly_fair():
    at = open_link({**LINK, "cfg": "vae:none:0.001:32,vae:imtl-g:0.01:32"})
    at.button(key="cmp_start").click().run()
    assert not at.exception
    assert "Fairness holds only in part" in at.warning[0].value and "lr" in at.warning[0].value
    assert at.dataframe[0].value.loc["lr"].tolist() == ["0.001", "0.01"]


def test_the_set_up_is_kept_while_another_view_is_shown():
    at = open_link(LINK)
    at.number_input(key="cmp_count").set_value(4).run()
    at.number_input(key="cmp_lr_3").set_value(0.02).run()
    for view in ("Train", "Compare"):
        at.segmented_control(key="view").set_value(view).run()
        assert not at.exception, at.exception
    assert at.number_input(key="cmp_count").value == 4 and at.number_input(key="cmp_lr_3").value == 0.02
    assert at.number_input(key="cmp_seed").value == 3  # still the link's
    compare = at.session_state["compare"]
    configs = compare.configs(base_config(at.session_state["dashboard"]))
    assert [c.method for c in configs] == ["none", "imtl-g", "pcgrad", "mgda-ub"] and configs[3].lr == 0.02


def test_a_full_server_refuses_a_comparison_in_one_line_and_keeps_the_set_up(monkeypatch):
    at = open_link(LINK)
    training = default_pool()
    gc.collect()  # earlier tests' sessions give their places back first, as a full pool's open makes them
    monkeypatch.setattr(training, "max_sessions", training.sessions)  # every place taken
    at.button(key="cmp_start").click().run()
    assert not at.exception, at.exception
    assert at.session_state["compare"].comparison is None
    assert any("the most it allows" in e.value for e in at.error)
    assert at.number_input(key="cmp_count").value == 3
