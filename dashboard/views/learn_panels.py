"""The learn view's panels: what the right-hand side of each stage draws. Stages 2 and
3 draw a live panel, a fragment that trains a little and redraws on every refresh;
stage 1 the table, stage 4 the plane of two columns for the runs' last steps."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import DataError
from core.lesson import (
    LESSON_COLUMNS,
    LESSON_METHODS,
    LESSON_STEPS,
    LESSON_TARGET,
    PLAIN,
    column_plane,
    vanished_columns,
)
from core.metrics import ColumnScore
from core.trainer import StepRecord
from dashboard.charts.lesson import (
    METHOD_LABELS,
    alignment_bars,
    alignment_reading,
    conflict_curves,
    conflict_reading,
    cosine_grid,
    cosine_reading,
    curve_reading,
    error_curves,
    method_label,
    run_name,
    verdict_reading,
)
from dashboard.charts.plane import plane_figure, plane_reading
from dashboard.state.lesson import LessonState
from dashboard.widgets import PLOTLY_CONFIG, bind, setter

REFRESH_SECONDS = 0.5
TRAINING_SECONDS = 0.3  # of each refresh; the rest draws the panel
_CHART_CONFIG = {**PLOTLY_CONFIG, "displayModeBar": False}


def live_panel(state: LessonState) -> None:
    """Stages 2 and 3: the run of the stage, trained and redrawn while it plays."""
    st.fragment(_live, run_every=REFRESH_SECONDS if state.playing else None)(state)


def table_preview(state: LessonState) -> None:
    table = state.run.table
    st.markdown(f"**The table** · {len(table):,} days")
    st.table(table.head(8).style.format({"visitors": "{:,.0f}", "temperature": "{:.1f}"}))
    counts = table[LESSON_TARGET].value_counts(normalize=True)
    st.caption(f"{LESSON_TARGET}: " + " · ".join(f"{region} {share:.0%}" for region, share in counts.items()))


def why_panel(state: LessonState) -> None:
    fix = state.setup.method
    runs = {PLAIN: "last step of plain training", fix: f"last step with {method_label(fix)}"}
    left, right = st.columns(2)
    with left:
        shown_run = st.segmented_control(
            "Step", list(runs), key="lesson_geometry_run", default=PLAIN, required=True, format_func=runs.get
        )
    with right:
        st.segmented_control(
            "Combine by",
            [PLAIN, *LESSON_METHODS],
            **bind("lesson_geometry_method", state.shown_method, setter(state, "geometry_method")),
            required=True,
            format_func=METHOD_LABELS.get,
        )
    _plane(state, state.run.latest.get(shown_run), state.shown_method, "lesson_plane_why")
    _summary(state)


def _summary(state: LessonState) -> None:
    fix = state.setup.method
    if not (state.complete(PLAIN) and state.complete(fix)):
        return
    rows = []
    for before, after in zip(state.run.evaluations[PLAIN].scores, state.run.evaluations[fix].scores, strict=True):
        rows.append(
            {
                "column": before.name,
                "baseline": before.baseline_error,
                "plain sum": _scored(before),
                method_label(fix): _scored(after),
            }
        )
    st.markdown(f"**Errors after {LESSON_STEPS} steps** · validation rows · ⚠ overlooked")
    st.table(pd.DataFrame(rows).set_index("column").style.format({"baseline": "{:.3f}"}))


def _scored(score: ColumnScore) -> str:
    return f"{score.error:.3f}" + (" ⚠" if score.overlooked else "")


def _live(state: LessonState) -> None:
    # Draw first, then train: while a refresh trains, what it drew stays crisp instead
    # of greying out as elements waiting to be redrawn.
    _panel(state)
    if state.playing:
        state.train_for(TRAINING_SECONDS)
        if not state.playing:
            # The run ended: redraw the whole page, without the timer, so the text moves on.
            st.rerun()


def _panel(state: LessonState) -> None:
    method = PLAIN if state.setup.stage == 2 else state.setup.method
    done = state.run.latest[method].step if method in state.run.latest else 0
    st.progress(done / LESSON_STEPS, text=f"{run_name(method)}: step {done} of {LESSON_STEPS}")
    left, right = st.columns(2, gap="medium")
    record = state.run.latest.get(method)
    with left:
        _verdict(state, method)
        if record is not None:
            names, diagnostics = state.run.names, record.diagnostics
            _chart(
                state,
                alignment_bars(names, diagnostics.direction_cosines, method),
                "lesson_alignment",
                alignment_reading(names, diagnostics.direction_cosines, method, vanished_columns(diagnostics)),
            )
            _chart(
                state,
                cosine_grid(names, diagnostics.cosines),
                "lesson_cosines",
                cosine_reading(names, diagnostics.cosines),
            )
    with right:
        _curves(state)
        _conflict(state)
        _plane(state, record, method, "lesson_plane")


def _verdict(state: LessonState, method: str) -> None:
    evaluation = state.run.evaluations[method]
    step = state.run.curves[method][-1].step
    st.markdown(f"**Per-column error** · validation rows, step {step}")
    rows = [
        {
            "column": s.name,
            "error": s.error,
            "guessing": s.baseline_error,
            "verdict": "overlooked" if s.overlooked else "learnt",
        }
        for s in evaluation.scores
    ]
    table = pd.DataFrame(rows).set_index("column")
    st.table(table.style.format({"error": "{:.3f}", "guessing": "{:.3f}"}).apply(_overlooked_row, axis=1))
    _reading(verdict_reading(evaluation.scores))


def _overlooked_row(row: pd.Series) -> list[str]:
    colour = "background-color: rgba(214, 39, 40, 0.14)" if row["verdict"] == "overlooked" else ""
    return [colour] * len(row)


def _curves(state: LessonState) -> None:
    fix = state.setup.method
    shown = [PLAIN] if state.setup.stage == 2 else [PLAIN, fix]
    curves = {m: state.run.curves[m] for m in shown if m in state.run.curves}
    k = state.run.names.index(LESSON_TARGET)
    baseline = state.run.evaluations[PLAIN].scores[k].baseline_error
    _chart(
        state,
        error_curves(curves, state.run.names, LESSON_TARGET, baseline),
        "lesson_curves",
        curve_reading(curves, state.run.names, LESSON_TARGET, baseline),
    )


def _conflict(state: LessonState) -> None:
    """The cosine of the plane's two columns along the runs this stage shows."""
    first, second = state.setup.columns
    shown = [PLAIN] if state.setup.stage == 2 else [PLAIN, state.setup.method]
    cosines = {m: state.run.pair_cosines(m, first, second) for m in shown if m in state.run.cosines}
    _chart(state, conflict_curves(cosines, first, second), "lesson_conflict", conflict_reading(cosines, first, second))


def _plane(state: LessonState, record: StepRecord | None, method: str, key: str) -> None:
    setup = state.setup
    first, second = st.columns(2)
    first.selectbox(
        "Plane of column",
        LESSON_COLUMNS,
        **bind(f"{key}_first", setup.columns[0], lambda name: state.change(columns=(name, state.setup.columns[1]))),
    )
    second.selectbox(
        "and column",
        LESSON_COLUMNS,
        **bind(f"{key}_second", setup.columns[1], lambda name: state.change(columns=(state.setup.columns[0], name))),
    )
    true_lengths = st.toggle(
        "True lengths",
        key=f"{key}_lengths",
        help="On: arrows at their true lengths. Off: every arrow has the same length, "
        "so a very short gradient stays visible (its length is in its label).",
    )
    if record is None:
        st.caption("The arrows appear after the first step.")
        return
    try:
        plane = column_plane(record.diagnostics, state.run.names, *setup.columns)
    except DataError as error:
        st.info(str(error), icon=":material/info:")
        return
    _chart(
        state, plane_figure(plane, method, true_lengths, state.run.names), f"{key}_chart", plane_reading(plane, method)
    )


def _chart(state: LessonState, figure, key: str, reading: str) -> None:
    if state.setup.presenter:
        figure.update_layout(font=dict(size=16), title_font_size=19, height=int(figure.layout.height * 1.12))
    st.plotly_chart(figure, key=key, config=_CHART_CONFIG)
    _reading(reading)


def _reading(text: str) -> None:
    st.caption(f":material/visibility: {text}")
