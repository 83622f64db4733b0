"""The learn view: a guided lesson on overlooked columns, on a small table built so that
plain training overlooks one column and a multi-task method brings it back.

Four stages: guess which column the model will ignore; watch plain training ignore it;
switch on the fix and watch the column come back; look at why, in the plane of two
columns' gradients. The text of each stage is drawn here, its panel by learn_panels.
Everything a link should carry (stage, columns of the plane, the fix, seed, presenter
mode) lives in the session's ``LessonState`` (dashboard.state.lesson), mirrored into
the page's address, so a teacher can hand the class the exact same lesson.
"""

from __future__ import annotations

import streamlit as st

from core.lesson import LESSON_COLUMNS, LESSON_METHODS, LESSON_STEPS, LESSON_TARGET, MAX_SEED, PLAIN, STAGES
from dashboard.charts.lesson import (
    METHOD_LABELS,
    NEAR_ZERO,
    conflict_reading,
    method_label,
    pair_trend,
    possessive,
    signed,
)
from dashboard.links import lesson_query, query_text
from dashboard.state.lesson import LessonState, get_lesson
from dashboard.views.learn_panels import live_panel, table_preview, why_panel
from dashboard.widgets import bind, setter

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


def render() -> None:
    state = get_lesson()
    state.mirror()
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
            table_preview(state)
        elif stage == 4:
            why_panel(state)
        else:
            live_panel(state)


def _header(state: LessonState) -> None:
    title, toggle = st.columns([5, 1], vertical_alignment="center")
    steps = [
        f":blue-background[**{n} · {name}**]" if n == state.setup.stage else f"{n} · {name}"
        for n, name in STAGES.items()
    ]
    title.markdown("#### Learn: why a model overlooks a column &nbsp;&nbsp; " + " → ".join(steps))
    toggle.toggle(
        "Presenter mode",
        **bind("lesson_presenter", state.setup.presenter, lambda presenter: state.change(presenter=presenter)),
        help="Larger text, no settings; the address keeps the lesson's setup to share with a class.",
    )


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
    st.radio(
        "Your guess: which column will plain training overlook?",
        LESSON_COLUMNS,
        index=None,
        **bind("lesson_guess", state.guess, setter(state, "guess")),
        horizontal=True,
    )
    _next_button("Train without help", "lesson_train_plain", state.go_to, 2, disabled=state.guess is None)
    if state.guess is None:
        st.caption("Make your guess first.")


# --- stage 2: plain training ---------------------------------------------------------------------


def _plain_text(state: LessonState) -> None:
    st.markdown("### Plain training")
    st.markdown(
        f"The model trains for {LESSON_STEPS} steps. Each step moves the shared weights along the "
        "plain **sum** of the three columns' gradients, computed on all the training rows at once."
    )
    if not state.complete(PLAIN):
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
    _next_button(f"Switch on {fix}", "lesson_switch_on", state.go_to, 3)


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
    if not state.complete(fix):
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
    _next_button("Why it works", "lesson_why", state.go_to, 4)


# --- stage 4: why it works --------------------------------------------------------------------------


def _why_text(state: LessonState) -> None:
    st.markdown("### Why it works")
    st.markdown(
        "Take one step of training and look at two columns at a time, in the plane their gradients "
        "span. Pick a way of combining them to see the direction it takes."
    )
    st.markdown(GEOMETRY_STORIES[state.shown_method])
    st.button("Start over", key="lesson_start_over", icon=":material/restart_alt:", on_click=state.start_over)


# --- settings (hidden in presenter mode) -------------------------------------------------------------


def _settings(state: LessonState) -> None:
    with st.expander("Lesson settings", icon=":material/tune:"):
        st.selectbox(
            "The fix",
            LESSON_METHODS,
            **bind("lesson_method", state.setup.method, lambda method: state.change(method=method)),
            format_func=METHOD_LABELS.get,
            help="The method stage 3 switches on. The lesson is tuned for IMTL-G; the others "
            "show how differently methods behave on the same table.",
        )
        st.number_input(
            "Seed",
            **bind("lesson_seed", state.setup.seed, lambda seed: state.change(seed=int(seed))),
            min_value=0,
            max_value=MAX_SEED,
            step=1,
            help="The model's initial weights and the noise of its latent samples. The table stays the same.",
        )
        link = f"{st.context.url or ''}{query_text(lesson_query(state.setup))}"
        st.caption("This page's address holds the lesson's setup: share it and others open the same step.")
        st.code(link, language=None)
