"""The learn view run by streamlit's AppTest: the lesson walked through stage by stage,
a shared link restored, a bad link answered with one line, presenter mode."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from core.lesson import LESSON_METHOD, LESSON_STEPS, LESSON_TARGET, PLAIN, LessonSetup
from dashboard.links import lesson_query
from tests.dashboard.support import plotly_traces
from tests.paths import APP

TIMEOUT = 240
# Each script run trains for a fraction of a second: enough runs to finish a lesson run.
MAX_REFRESHES = 200


def open_lesson(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"view": "learn", **params})
    at.run()
    assert not at.exception, at.exception
    return at


def lesson(at: AppTest):
    return at.session_state["lesson"]


def has_button(at: AppTest, key: str) -> bool:
    return any(b.key == key for b in at.button)


def refresh_until(at: AppTest, key: str) -> None:
    """Re-run the script (one live refresh each) until button ``key`` shows up."""
    for _ in range(MAX_REFRESHES):
        if has_button(at, key):
            return
        at.run()
        assert not at.exception, at.exception
    raise AssertionError(f"button {key!r} never appeared")


def click(at: AppTest, key: str) -> None:
    at.button(key=key).click().run()
    assert not at.exception, at.exception


def readings(at: AppTest) -> list[str]:
    return [c.value for c in at.caption if c.value.startswith(":material/visibility:")]


def test_the_lesson_walks_from_a_guess_to_the_fix_and_its_geometry():
    at = open_lesson()
    assert at.segmented_control(key="view").value == "Learn"
    assert any("Why would a model ignore a column?" in m.value for m in at.markdown)
    # no training before a guess
    assert at.button(key="lesson_train_plain").disabled
    at.radio(key="lesson_guess").set_value(LESSON_TARGET).run()
    assert not at.button(key="lesson_train_plain").disabled
    click(at, "lesson_train_plain")
    assert lesson(at).playing and at.query_params["lesson_step"] == "2"

    refresh_until(at, "lesson_switch_on")
    state = lesson(at)
    assert not state.playing and state.run.trainer.step_count == LESSON_STEPS
    assert f"You guessed **{LESSON_TARGET}**: right" in at.success[0].value
    assert f"{LESSON_TARGET} is overlooked" in " ".join(readings(at))
    # the live charts draw the run's own numbers
    k = state.run.names.index(LESSON_TARGET)
    (curve,) = plotly_traces(at, "lesson_curves")
    assert list(curve["y"]) == [p.errors[k] for p in state.run.curves[PLAIN]]
    (bars,) = plotly_traces(at, "lesson_alignment")
    np.testing.assert_allclose(bars["x"], state.run.latest[PLAIN].diagnostics.direction_cosines)
    assert at.button(key="lesson_switch_on").label == "Switch on IMTL-G"

    click(at, "lesson_switch_on")
    assert at.query_params["lesson_step"] == "3" and lesson(at).playing
    refresh_until(at, "lesson_why")
    assert "it is no longer overlooked" in at.success[0].value
    curves = plotly_traces(at, "lesson_curves")
    assert [c["name"] for c in curves] == ["plain sum", "IMTL-G"]
    assert curves[1]["y"][-1] < 0.5 * curves[0]["y"][-1]
    assert any("lines up equally with every column" in r for r in readings(at))
    # the pair's cosine along both runs: plain stays near 0, the fix dips into conflict and eases
    state = lesson(at)
    plain_cos, fix_cos = plotly_traces(at, "lesson_conflict")
    np.testing.assert_allclose(plain_cos["y"], state.run.pair_cosines(PLAIN, "visitors", LESSON_TARGET))
    np.testing.assert_allclose(fix_cos["y"], state.run.pair_cosines("imtl-g", "visitors", LESSON_TARGET))
    assert min(fix_cos["y"]) < -0.3
    assert any("Under IMTL-G, visitors and region conflicted" in m.value for m in at.markdown)

    click(at, "lesson_why")
    assert at.query_params["lesson_step"] == "4"
    assert any("IMTL-G picks the direction at equal angles" in r for r in readings(at))
    at.segmented_control(key="lesson_geometry_method").set_value("mgda-ub").run()
    assert any("MGDA-UB's closest point to 0" in r for r in readings(at))
    summary = at.table[0].value
    assert list(summary.columns) == ["baseline", "plain sum", "IMTL-G"]
    assert summary.loc[LESSON_TARGET, "plain sum"].endswith("⚠")
    assert not summary.loc[LESSON_TARGET, "IMTL-G"].endswith("⚠")

    click(at, "lesson_start_over")
    assert at.query_params["lesson_step"] == "1" and lesson(at).guess is None
    assert at.radio(key="lesson_guess").value is None


def test_a_shared_link_restores_its_setup_and_presenter_mode_hides_the_settings():
    shared = LessonSetup(stage=3, columns=("temperature", LESSON_TARGET), method="pcgrad", seed=2, presenter=True)
    at = open_lesson(**lesson_query(shared))
    state = lesson(at)
    assert state.setup == shared and not state.link_problems
    # the earlier stage's run was replayed to its end, the stage's own run plays live
    assert state.run.curves[PLAIN][-1].step == LESSON_STEPS and state.run.method == "pcgrad" and state.playing
    assert any(m.value == "### The fix: PCGrad" for m in at.markdown)
    assert at.toggle(key="lesson_presenter").value
    assert not at.expander and not any(n.key == "lesson_seed" for n in at.number_input)
    assert any("font-size" in h.proto.body for h in at.get("html"))
    refresh_until(at, "lesson_why")
    assert (at.selectbox(key="lesson_plane_first").value, at.selectbox(key="lesson_plane_second").value) == (
        "temperature",
        LESSON_TARGET,
    )
    assert dict(at.query_params) == lesson_query(shared)

    # leaving presenter mode brings the settings back, and the address follows
    at.toggle(key="lesson_presenter").set_value(False).run()
    assert at.expander and at.query_params["presenter"] == "0"
    at.number_input(key="lesson_seed").set_value(5).run()
    assert lesson(at).run.trainer.config.seed == 5 and at.query_params["lesson_seed"] == "5"


def test_a_bad_link_says_what_it_ignored_in_one_line_and_opens_on_the_defaults():
    at = open_lesson(lesson_step="9", lesson_columns="region,price", lesson_seed="-1")
    (warning,) = at.warning
    message = warning.value
    assert "\n" not in message
    for named in ("'9'", "'price'", "'-1'"):
        assert named in message
    assert lesson(at).setup == LessonSetup()
    assert any("Why would a model ignore a column?" in m.value for m in at.markdown)


def test_the_plane_s_columns_go_into_the_link_and_the_same_column_twice_is_refused():
    at = open_lesson(lesson_step="2")
    refresh_until(at, "lesson_switch_on")
    at.selectbox(key="lesson_plane_first").set_value("temperature").run()
    assert at.query_params["lesson_columns"] == f"temperature,{LESSON_TARGET}"
    assert any(r.startswith(":material/visibility: temperature's gradient") for r in readings(at))
    at.selectbox(key="lesson_plane_second").set_value("temperature").run()
    assert any("pick two different columns" in i.value for i in at.info)
    assert lesson(at).setup.method == LESSON_METHOD
