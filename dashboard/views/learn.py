"""The learn view: a guided lesson on overlooked columns, on a small table built so that
plain training overlooks one column and a multi-task method brings it back.

Four stages: guess which column the model will ignore; watch plain training ignore it;
switch on the fix and watch the column come back; look at why, in the plane of two
columns' gradients. One fragment, re-run every REFRESH_SECONDS while a run plays, trains
and redraws the live panel. Everything a link should carry (stage, columns of the
plane, the fix, seed, presenter mode) lives in a ``LessonSetup`` mirrored into the page's
address, so a teacher can hand the class the exact same lesson.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from core.errors import DataError, TrainingError
from core.lesson import (
    LESSON_COLUMNS,
    LESSON_METHODS,
    LESSON_STEPS,
    LESSON_TARGET,
    MAX_SEED,
    PLAIN,
    STAGES,
    LessonRun,
    LessonSetup,
    column_plane,
)
from core.metrics import ColumnScore
from core.trainer import StepRecord
from dashboard.charts.lesson import (
    METHOD_LABELS,
    NEAR_ZERO,
    alignment_bars,
    alignment_reading,
    conflict_curves,
    conflict_reading,
    cosine_grid,
    cosine_reading,
    curve_reading,
    error_curves,
    method_label,
    pair_trend,
    plane_figure,
    plane_reading,
    possessive,
    signed,
    verdict_reading,
)

SESSION_KEY = "lesson"
VIEW_PARAMETER = "view"
VIEW_VALUE = "learn"
REFRESH_SECONDS = 0.5
TRAINING_SECONDS = 0.3  # of each refresh; the rest draws the panel
_PLOTLY_CONFIG = {"displaylogo": False, "displayModeBar": False}

COLUMN_STORIES = {
    "visitors": "how many people came that day, in the thousands (a count)",
    "temperature": "the day's temperature in °C (a real number)",
    "region": "where the store is, one of six regions (a category)",
}
FIX_STORIES = {
    "imtl-g": "IMTL-G combines the gradients so that the step makes **the same angle with every column's "
    "gradient**, then gives it the length the sum would have had. However long one gradient is, "
    "it cannot drown the others.",
    "mgda-ub": "MGDA-UB steps along **the shortest weighted average** of the column gradients (the point of "
    "their convex hull closest to 0): a direction that improves every column, at the pace of the "
    "one that is hardest to improve.",
    "pcgrad": "PCGrad looks at each pair of columns; where two gradients **conflict** (cosine below 0) it "
    "removes from each the part that opposes the other, then adds them up.",
}
GEOMETRY_STORIES = {
    PLAIN: "The plain sum is the diagonal of the parallelogram: it leans towards the longer gradient, "
    "however little the other column counts.",
    "pcgrad": "PCGrad only acts on **conflict**: if the angle is above 90°, each gradient loses the part that "
    "points against the other. Below 90° it is the plain sum.",
    "mgda-ub": "MGDA-UB takes the point of the segment between the two tips that is closest to 0 (switch on "
    "*true lengths* to see it). That favours the **shorter** gradient, often entirely.",
    "imtl-g": "IMTL-G bisects the angle between the two gradients: equal angles to both, whatever their "
    "lengths. Neither column is favoured.",
}
PRESENTER_CSS = """
<style>
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.32rem; line-height: 1.55; }
[data-testid="stMarkdownContainer"] h3 { font-size: 2.1rem; }
[data-testid="stMarkdownContainer"] h4 { font-size: 1.6rem; }
[data-testid="stCaptionContainer"] p { font-size: 1.12rem; }
[data-testid="stTable"] td, [data-testid="stTable"] th { font-size: 1.2rem; }
[data-testid="stWidgetLabel"] p { font-size: 1.2rem; }
</style>
"""


@dataclass
class LessonState:
    setup: LessonSetup
    run: LessonRun
    guess: str | None = None
    playing: bool = False
    link_problems: list[str] = field(default_factory=list)
    message: str | None = None  # why training stopped, if it stopped itself


# --- the link ---------------------------------------------------------------------------


def _write_link(state: LessonState) -> None:
    st.query_params.update({VIEW_PARAMETER: VIEW_VALUE, **state.setup.to_query()})


# --- the state --------------------------------------------------------------------------


def get_lesson() -> LessonState:
    """This session's lesson, set up from the address on its first visit."""
    if SESSION_KEY not in st.session_state:
        setup, problems = LessonSetup.from_query(st.query_params.to_dict())
        state = LessonState(setup, LessonRun(setup.seed), link_problems=problems)
        st.session_state[SESSION_KEY] = state
        _prepare_stage(state)
    return st.session_state[SESSION_KEY]


def _complete(state: LessonState, method: str) -> bool:
    curve = state.run.curves.get(method)
    return bool(curve) and curve[-1].step >= LESSON_STEPS


def _prepare_stage(state: LessonState) -> None:
    """Make the runs the current stage shows: earlier stages' runs are replayed to the
    end at once (the same seed gives the same run), the current stage's run plays live."""
    stage, fix = state.setup.stage, state.setup.method
    earlier = {2: [], 3: [PLAIN], 4: [PLAIN, fix]}.get(stage, [])
    live = {2: PLAIN, 3: fix}.get(stage)
    state.playing = False
    try:
        for method in earlier:
            if not _complete(state, method):
                with st.spinner(f"Replaying {LESSON_STEPS} steps of {_run_name(method)}…"):
                    state.run.run_to_end(method)
        if live is not None and not _complete(state, live):
            state.run.start(live)
            state.playing = True
    except TrainingError as error:
        state.message = str(error)


def _go_to(state: LessonState, stage: int) -> None:
    state.setup = replace(state.setup, stage=stage)
    state.message = None
    _prepare_stage(state)
    _write_link(state)


def _start_over(state: LessonState) -> None:
    state.guess = None
    state.run = LessonRun(state.setup.seed)
    _go_to(state, 1)


def _change_setup(state: LessonState, field_name: str, widget_key: str) -> None:
    """A setting changed by its widget. A new seed means new runs; a new fix, a new fix run."""
    state.setup = replace(state.setup, **{field_name: st.session_state[widget_key]})
    if field_name == "seed":
        state.run = LessonRun(state.setup.seed)
    if field_name in ("seed", "method"):
        _prepare_stage(state)
    _write_link(state)


def _bind(key: str, value) -> None:
    """Give widget ``key`` the lesson's value on every run, before it is drawn. The lesson
    is the one truth: a change goes into it through the widget's callback first, and a
    widget that was not drawn for a while (another stage, a step without a chart)
    cannot come back with a stale value of its own."""
    st.session_state[key] = value


# --- the page -----------------------------------------------------------------------------


def render() -> None:
    state = get_lesson()
    _write_link(state)
    if state.setup.presenter:
        st.html(PRESENTER_CSS)
    _header(state)
    if state.link_problems:
        st.warning(
            "This link had values the lesson cannot use, so their defaults are shown: "
            + "; ".join(state.link_problems)
            + ".",
            icon=":material/link_off:",
        )
    if state.message:
        st.error(state.message, icon="⚠️")
    # presenting, the charts get more room: the text is read out, the charts are what the room looks at
    text, panel = st.columns([1, 2] if state.setup.presenter else [2, 3], gap="large")
    stage = state.setup.stage
    with text:
        {1: _guess_text, 2: _plain_text, 3: _fix_text, 4: _why_text}[stage](state)
        if not state.setup.presenter:
            _settings(state)
    with panel:
        if stage == 1:
            _table_preview(state)
        elif stage == 4:
            _why_panel(state)
        else:
            st.fragment(_live, run_every=REFRESH_SECONDS if state.playing else None)(state)


def _header(state: LessonState) -> None:
    title, toggle = st.columns([5, 1], vertical_alignment="center")
    steps = [
        f":blue-background[**{n} · {name}**]" if n == state.setup.stage else f"{n} · {name}"
        for n, name in STAGES.items()
    ]
    title.markdown("#### Learn: why a model overlooks a column &nbsp;&nbsp; " + " → ".join(steps))
    _bind("lesson_presenter", state.setup.presenter)
    toggle.toggle(
        "Presenter mode",
        key="lesson_presenter",
        on_change=_change_setup,
        args=(state, "presenter", "lesson_presenter"),
        help="Larger text, no settings; the address keeps the lesson's setup to share with a class.",
    )


def _run_name(method: str) -> str:
    return "plain training" if method == PLAIN else method_label(method)


def _next_button(label: str, key: str, on_click, *args, disabled: bool = False) -> None:
    st.button(
        label,
        key=key,
        type="primary",
        icon=":material/arrow_forward:",
        icon_position="right",
        on_click=on_click,
        args=args,
        disabled=disabled,
    )


# --- stage 1: guess ---------------------------------------------------------------------------


def _guess_text(state: LessonState) -> None:
    st.markdown("### Why would a model ignore a column?")
    st.markdown(
        "A VAE learns to rebuild every column of a table from a short code. All the columns share the "
        "network's weights (the encoder and the decoder's trunk), and each pulls them its own way; plain "
        "training moves them along the **sum** of those pulls, the columns' gradients. When one column pulls "
        "much harder than another, the weaker one can be **overlooked**: the model does no better on it than "
        "always guessing its mean or its most common class."
    )
    st.markdown("Each row of the table on the right is one day at one store of a chain:")
    st.markdown("\n".join(f"- **{name}**: {COLUMN_STORIES[name]}" for name in LESSON_COLUMNS))
    _bind("lesson_guess", state.guess)
    st.radio(
        "Your guess: which column will plain training overlook?",
        LESSON_COLUMNS,
        index=None,
        key="lesson_guess",
        horizontal=True,
        on_change=_remember_guess,
        args=(state,),
    )
    _next_button("Train without help", "lesson_train_plain", _go_to, state, 2, disabled=state.guess is None)
    if state.guess is None:
        st.caption("Make your guess first.")


def _remember_guess(state: LessonState) -> None:
    state.guess = st.session_state["lesson_guess"]


def _table_preview(state: LessonState) -> None:
    table = state.run.table
    st.markdown(f"**The table** · {len(table):,} days")
    st.table(table.head(8).style.format({"visitors": "{:,.0f}", "temperature": "{:.1f}"}))
    counts = table[LESSON_TARGET].value_counts(normalize=True)
    st.caption(f"{LESSON_TARGET}: " + " · ".join(f"{region} {share:.0%}" for region, share in counts.items()))


# --- stage 2: plain training ---------------------------------------------------------------------


def _plain_text(state: LessonState) -> None:
    st.markdown("### Plain training")
    st.markdown(
        f"The model trains for {LESSON_STEPS} steps. Each step moves the shared weights along the "
        "plain **sum** of the three columns' gradients, computed on all the training rows at once."
    )
    if not _complete(state, PLAIN):
        st.caption("Training… watch the error of each column and how each step lines up with them.")
        return
    scores = state.run.evaluations[PLAIN].scores
    overlooked = [s.name for s in scores if s.overlooked]
    if state.guess is None:
        st.info("You made no guess this time.", icon=":material/help:")
    elif state.guess in overlooked:
        st.success(f"You guessed **{state.guess}**: right, it is overlooked.", icon=":material/check_circle:")
    else:
        actual = " and ".join(overlooked) if overlooked else "no column"
        st.info(f"You guessed **{state.guess}**; the overlooked column is **{actual}**.", icon=":material/info:")
    st.markdown(_why_overlooked(state))
    fix = method_label(state.setup.method)
    _next_button(f"Switch on {fix}", "lesson_switch_on", _go_to, state, 3)


def _why_overlooked(state: LessonState) -> str:
    names = state.run.names
    norms = state.run.latest[PLAIN].diagnostics.norms
    longest = names[int(norms.argmax())]
    target = names.index(LESSON_TARGET)
    ratio = norms.max() / norms[target] if norms[target] > 0 else float("inf")
    now = pair_trend(state.run.pair_cosines(PLAIN, longest, LESSON_TARGET))[0]
    angle = (
        f"at right angles to it (cosine {signed(now)} over the last steps): {longest} does not fight "
        f"{LESSON_TARGET}, it **drowns it out**"
        if abs(now) <= NEAR_ZERO
        else f"at cosine {signed(now)} to it over the last steps"
    )
    return (
        f"**Why?** visitors counts thousands of people a day, and a likelihood on counts that large is "
        f"very sharp, so its gradient is long. At the last step {possessive(longest)} gradient was "
        f"**{ratio:,.0f}×** as long as {possessive(LESSON_TARGET)}, and {angle}. Their sum is "
        f"{possessive(longest)} pull with next to nothing of {possessive(LESSON_TARGET)} in it. See how the "
        "step lines up with each column, and the arrows in the plane of two columns."
    )


# --- stage 3: the fix -----------------------------------------------------------------------------


def _fix_text(state: LessonState) -> None:
    fix = state.setup.method
    st.markdown(f"### The fix: {method_label(fix)}")
    st.markdown(FIX_STORIES[fix])
    st.markdown(
        "The model starts again from **the very same initial weights**; only the way the "
        "gradients are combined differs. Watch the cosine between visitors and region: once region "
        "has a say, the two compete for the same latent code."
    )
    if not _complete(state, fix):
        st.caption(f"Training with {method_label(fix)}…")
        return
    k = state.run.names.index(LESSON_TARGET)
    before = state.run.evaluations[PLAIN].scores[k]
    after = state.run.evaluations[fix].scores[k]
    change = f"{possessive(LESSON_TARGET)} error went from {before.error:.2f} to {after.error:.2f}"
    others = [s.name for s in state.run.evaluations[fix].scores if s.overlooked and s.name != LESSON_TARGET]
    if after.overlooked:
        st.warning(f"{change}: with {method_label(fix)} it is still overlooked.", icon=":material/warning:")
    elif others:
        st.warning(
            f"{change}, but now {' and '.join(others)} {'is' if len(others) == 1 else 'are'} overlooked: "
            f"{method_label(fix)} overcorrects.",
            icon=":material/warning:",
        )
    else:
        st.success(f"{change}: it is no longer overlooked, and no other column is.", icon=":material/check_circle:")
    first, second = state.setup.columns
    st.markdown(conflict_reading({fix: state.run.pair_cosines(fix, first, second)}, first, second))
    _next_button("Why it works", "lesson_why", _go_to, state, 4)


# --- stage 4: why it works --------------------------------------------------------------------------


def _why_text(state: LessonState) -> None:
    st.markdown("### Why it works")
    st.markdown(
        "Take one step of training and look at two columns at a time, in the plane their gradients "
        "span. Pick a way of combining them to see the direction it takes."
    )
    method = st.session_state.get("lesson_geometry_method", state.setup.method)
    st.markdown(GEOMETRY_STORIES[method])
    st.button("Start over", key="lesson_start_over", icon=":material/restart_alt:", on_click=_start_over, args=(state,))


def _why_panel(state: LessonState) -> None:
    fix = state.setup.method
    runs = {PLAIN: "last step of plain training", fix: f"last step with {method_label(fix)}"}
    left, right = st.columns(2)
    with left:
        shown_run = st.segmented_control(
            "Step", list(runs), key="lesson_geometry_run", default=PLAIN, required=True, format_func=runs.get
        )
    with right:
        method = st.segmented_control(
            "Combine by",
            [PLAIN, *LESSON_METHODS],
            key="lesson_geometry_method",
            default=fix,
            required=True,
            format_func=METHOD_LABELS.get,
        )
    _plane(state, state.run.latest.get(shown_run), method, "lesson_plane_why")
    _summary(state)


def _summary(state: LessonState) -> None:
    fix = state.setup.method
    if not (_complete(state, PLAIN) and _complete(state, fix)):
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


# --- the live panel (stages 2 and 3) -------------------------------------------------------------------


def _live(state: LessonState) -> None:
    # Draw first, then train: while a refresh trains, what it drew stays crisp instead
    # of greying out as elements waiting to be redrawn.
    _panel(state)
    if state.playing:
        _train_a_little(state)
        if not state.playing:
            # The run ended: redraw the whole page, without the timer, so the text moves on.
            st.rerun()


def _panel(state: LessonState) -> None:
    method = PLAIN if state.setup.stage == 2 else state.setup.method
    done = state.run.latest[method].step if method in state.run.latest else 0
    st.progress(done / LESSON_STEPS, text=f"{_run_name(method)}: step {done} of {LESSON_STEPS}")
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
                alignment_reading(names, diagnostics.direction_cosines, method),
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


def _train_a_little(state: LessonState) -> None:
    started = time.perf_counter()
    try:
        while not state.run.finished and time.perf_counter() - started < TRAINING_SECONDS:
            state.run.advance(1)
    except TrainingError as error:
        state.message = str(error)
        state.playing = False
    if state.run.finished:
        state.playing = False


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
    _bind(f"{key}_first", setup.columns[0])
    _bind(f"{key}_second", setup.columns[1])
    first, second = st.columns(2)
    first.selectbox("Plane of column", LESSON_COLUMNS, key=f"{key}_first", on_change=_change_columns, args=(state, key))
    second.selectbox("and column", LESSON_COLUMNS, key=f"{key}_second", on_change=_change_columns, args=(state, key))
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


def _change_columns(state: LessonState, key: str) -> None:
    columns = (st.session_state[f"{key}_first"], st.session_state[f"{key}_second"])
    state.setup = replace(state.setup, columns=columns)
    _write_link(state)


def _chart(state: LessonState, figure, key: str, reading: str) -> None:
    if state.setup.presenter:
        figure.update_layout(font=dict(size=16), title_font_size=19, height=int(figure.layout.height * 1.12))
    st.plotly_chart(figure, key=key, config=_PLOTLY_CONFIG)
    _reading(reading)


def _reading(text: str) -> None:
    st.caption(f":material/visibility: {text}")


# --- settings (hidden in presenter mode) -------------------------------------------------------------


def _settings(state: LessonState) -> None:
    with st.expander("Lesson settings", icon=":material/tune:"):
        _bind("lesson_method", state.setup.method)
        _bind("lesson_seed", state.setup.seed)
        st.selectbox(
            "The fix",
            LESSON_METHODS,
            key="lesson_method",
            format_func=METHOD_LABELS.get,
            on_change=_change_setup,
            args=(state, "method", "lesson_method"),
            help="The method stage 3 switches on. The lesson is tuned for IMTL-G; the others "
            "show how differently methods behave on the same table.",
        )
        st.number_input(
            "Seed",
            key="lesson_seed",
            min_value=0,
            max_value=MAX_SEED,
            step=1,
            on_change=_change_setup,
            args=(state, "seed", "lesson_seed"),
            help="The model's initial weights and the noise of its latent samples. The table stays the same.",
        )
        query = urlencode({VIEW_PARAMETER: VIEW_VALUE, **state.setup.to_query()}, safe=",")
        link = f"{st.context.url or ''}?{query}"
        st.caption("This page's address holds the lesson's setup: share it and others open the same step.")
        st.code(link, language=None)
