"""The compare view: 2 to 6 configurations trained side by side on the session's table.

The set-up (drawn on full reruns): each configuration's model, method (weighting then
projection), learning rate and batch size; the seed and the number of epochs they
share; Start. The comparison, a ``core.compare.Comparison``, then lives in the session
under COMPARISON_KEY, on the table and schema it was started with.

One fragment, re-run every REFRESH_SECONDS while any run is active, trains for about
TRAINING_SECONDS -- always stepping the run that is furthest behind, so the runs move
forward together -- then redraws the run table and the charts. Each run's Pause,
Resume and Cancel buttons live in the fragment; when a click or the end of training
changes whether anything is active, the whole page is redrawn (the timer with it).

The link: Start writes the set-up into the page's query string (``view``, ``cfg``,
``data``, ``seed``, ``epochs``), and a new session opened on such a link starts with
that set-up, ready to Start. A parameter that cannot be used is named in a one-line
message and its default is used instead.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from core.compare import (
    CANCELLED,
    DIVERGED,
    FINISHED,
    MAX_CONFIGURATIONS,
    MIN_CONFIGURATIONS,
    PAUSED,
    RUNNING,
    Comparison,
    differences_table,
    encode_configurations,
    parse_configurations,
)
from core.errors import DataError
from core.models import MODEL_DESCRIPTIONS, MODELS
from core.mtl import METHODS, PROJECTION, WEIGHTING
from core.trainer import TrainConfig
from dashboard.charts.compare import (
    column_error_bars,
    configuration_colours,
    error_heatmap,
    summary_bars,
    training_curves,
)
from dashboard.state import REFRESH_SECONDS, DashboardState, get_state, sample_names

COMPARISON_KEY = "comparison"
MESSAGES_KEY = "compare_messages"
LINK_READ_KEY = "compare_link_read"
TRAINING_SECONDS = 0.6  # of each REFRESH_SECONDS: the rest draws the page
DEFAULT_METHODS = ("none", "imtl-g", "pcgrad", "mgda-ub", "imtl-g+pcgrad", "gradnorm")
DEFAULT_COUNT = 3
DEFAULT_EPOCHS = 5
MAX_EPOCHS = 2000
WEIGHTINGS = [name for name, cls in METHODS.items() if cls.kind == WEIGHTING]
PROJECTIONS = ["none"] + [name for name, cls in METHODS.items() if cls.kind == PROJECTION]
STATUS_TEXT = {
    RUNNING: ":material/play_arrow: running",
    PAUSED: ":material/pause: paused",
    CANCELLED: ":material/close: cancelled",
    FINISHED: ":material/check: finished",
    DIVERGED: ":material/warning: diverged",
}
_PLOTLY_CONFIG = {"displaylogo": False}


def render() -> None:
    state = get_state()
    messages = st.session_state.setdefault(MESSAGES_KEY, {})
    if not st.session_state.get(LINK_READ_KEY):
        st.session_state[LINK_READ_KEY] = True
        table = state.table
        _read_link(state, messages)
        if state.table is not table:
            st.rerun()  # the page's header above names the table: redraw it
    _setup(state, messages)
    comparison: Comparison | None = st.session_state.get(COMPARISON_KEY)
    if comparison is None:
        st.info(
            "Choose 2 to 6 configurations and press **Start**: they train side by side on the same "
            "table, split, seed and initial weights.",
            icon=":material/compare_arrows:",
        )
        return
    _fairness(comparison)
    live = st.fragment(_live, run_every=REFRESH_SECONDS if comparison.active else None)
    live(comparison, comparison.active)
    _exports(comparison)


# --- the link -------------------------------------------------------------------------


def _read_link(state: DashboardState, messages: dict) -> None:
    """Set the widgets from the query string; each bad parameter gets a message and its default."""
    params = st.query_params
    problems = []
    if "data" in params and params["data"] != state.table.name:
        name = params["data"]
        if name not in sample_names():
            problems.append(f"data {name!r} is not a bundled sample; comparing on {state.table.name!r}")
        elif not state.load_sample(name):
            problems.append(f"data {name!r} could not be opened ({state.messages.get('data')})")
    seed = _whole_number(params, "seed", 0, 2**31 - 1, problems)
    epochs = _whole_number(params, "epochs", 1, MAX_EPOCHS, problems)
    if seed is not None:
        st.session_state["cmp_seed"] = seed
    if epochs is not None:
        st.session_state["cmp_epochs"] = epochs
    if "cfg" in params:
        try:
            configs = parse_configurations(params["cfg"], _base_config(state))
        except DataError as error:
            problems.append(f"cfg: {error}")
        else:
            _set_widgets(configs)
    if problems:
        messages["link"] = "The link could not be used as it is: " + "; ".join(problems) + ". Defaults are used."


def _whole_number(params, name: str, low: int, high: int, problems: list[str]) -> int | None:
    if name not in params:
        return None
    text = params[name]
    if not text.strip().isdigit() or not low <= int(text) <= high:
        problems.append(f"{name} must be a whole number from {low} to {high}, got {text!r}")
        return None
    return int(text)


def _write_link(comparison: Comparison) -> None:
    st.query_params.update(
        {
            "view": "compare",
            "cfg": encode_configurations(comparison.configs),
            "data": comparison.table_name,
            "seed": str(comparison.seed),
            "epochs": str(comparison.epochs),
        }
    )


# --- the set-up -------------------------------------------------------------------------


def _base_config(state: DashboardState) -> TrainConfig:
    """What the configurations share with the train view's model (sizes, beta, device...)."""
    return replace(state.config, method_options=dict(state.config.method_options))


def _set_widgets(configs: list[TrainConfig]) -> None:
    st.session_state["cmp_count"] = len(configs)
    for i, config in enumerate(configs):
        weighting, projection = _method_parts(config.method)
        st.session_state.update(
            {
                f"cmp_model_{i}": config.model,
                f"cmp_weighting_{i}": weighting,
                f"cmp_projection_{i}": projection,
                f"cmp_lr_{i}": float(config.lr),
                f"cmp_batch_{i}": int(config.batch_size),
            }
        )


def _init_widget(key: str, value) -> None:
    """A widget's first value comes from here; after that the widget owns it."""
    if key not in st.session_state:
        st.session_state[key] = value


def _setup(state: DashboardState, messages: dict) -> None:
    base = _base_config(state)
    _init_widget("cmp_count", DEFAULT_COUNT)
    _init_widget("cmp_seed", int(base.seed))
    _init_widget("cmp_epochs", DEFAULT_EPOCHS)
    with st.expander("Configurations", icon=":material/tune:", expanded=st.session_state.get(COMPARISON_KEY) is None):
        top = st.columns([1, 1, 1, 3], vertical_alignment="bottom")
        top[0].number_input(
            "How many", key="cmp_count", min_value=MIN_CONFIGURATIONS, max_value=MAX_CONFIGURATIONS, step=1
        )
        top[1].number_input(
            "Seed (shared)",
            key="cmp_seed",
            min_value=0,
            max_value=2**31 - 1,
            step=1,
            help="Every configuration uses this seed: the same split, initial weights and batches.",
        )
        top[2].number_input(
            "Epochs",
            key="cmp_epochs",
            min_value=1,
            max_value=MAX_EPOCHS,
            step=1,
            help="Each run stops after this many passes over the training split.",
        )
        top[3].caption(
            f"On **{state.table.name}** ({len(state.table.data):,} rows), with the train view's model "
            f"sizes (latent {base.latent or 'auto'}, hidden {base.hidden} × {base.layers})."
        )
        for i in range(int(st.session_state["cmp_count"])):
            _configuration_row(i, base)
        st.button(
            "Start",
            key="cmp_start",
            type="primary",
            icon=":material/play_arrow:",
            on_click=_start,
            args=(state, messages),
            help="Train all configurations from step 0 (a running comparison is replaced).",
        )
    for place in ("link", "start"):
        if place in messages:
            st.error(messages[place], icon="⚠️")


def _configuration_row(i: int, base: TrainConfig) -> None:
    _init_widget(f"cmp_model_{i}", base.model)
    weighting, projection = _method_parts(DEFAULT_METHODS[i])
    _init_widget(f"cmp_weighting_{i}", weighting)
    _init_widget(f"cmp_projection_{i}", projection)
    _init_widget(f"cmp_lr_{i}", float(base.lr))
    _init_widget(f"cmp_batch_{i}", int(base.batch_size))
    cells = st.columns([1.3, 1.3, 1.3, 1, 1])
    label = "visible" if i == 0 else "collapsed"
    cells[0].selectbox(
        "Model",
        list(MODELS),
        key=f"cmp_model_{i}",
        label_visibility=label,
        format_func=lambda m: f"{m} – {MODEL_DESCRIPTIONS[m]}",
    )
    cells[1].selectbox("Weighting", WEIGHTINGS, key=f"cmp_weighting_{i}", label_visibility=label)
    cells[2].selectbox("Projection", PROJECTIONS, key=f"cmp_projection_{i}", label_visibility=label)
    cells[3].number_input(
        "Learning rate",
        key=f"cmp_lr_{i}",
        min_value=1e-6,
        max_value=1e3,
        step=1e-4,
        format="%g",
        label_visibility=label,
    )
    cells[4].number_input(
        "Batch size", key=f"cmp_batch_{i}", min_value=2, max_value=100_000, step=32, label_visibility=label
    )


def _chosen_configs(state: DashboardState) -> list[TrainConfig]:
    base = _base_config(state)
    configs = []
    for i in range(int(st.session_state["cmp_count"])):
        method = _method_spec(st.session_state[f"cmp_weighting_{i}"], st.session_state[f"cmp_projection_{i}"])
        configs.append(
            replace(
                base,
                model=st.session_state[f"cmp_model_{i}"],
                method=method,
                lr=float(st.session_state[f"cmp_lr_{i}"]),
                batch_size=int(st.session_state[f"cmp_batch_{i}"]),
                seed=int(st.session_state["cmp_seed"]),
                method_options=dict(base.method_options),
            )
        )
    return configs


def _method_parts(spec: str) -> tuple[str, str]:
    """A method spec as (weighting, projection) for the two select boxes."""
    if spec in PROJECTIONS:
        return "none", spec
    weighting, projection = ([*spec.split("+"), "none"])[:2]
    return weighting, projection


def _method_spec(weighting: str, projection: str) -> str:
    """The inverse of ``_method_parts``: "none" parts are left out ("none" + "pcgrad" is "pcgrad")."""
    return "+".join(part for part in (weighting, projection) if part != "none") or "none"


def _start(state: DashboardState, messages: dict) -> None:
    messages.pop("link", None)
    try:
        comparison = Comparison(
            state.table.name,
            state.table.data,
            state.trainer.schema,
            _chosen_configs(state),
            epochs=int(st.session_state["cmp_epochs"]),
        )
    except DataError as error:
        messages["start"] = str(error)
        return
    messages.pop("start", None)
    st.session_state[COMPARISON_KEY] = comparison
    _write_link(comparison)


# --- the comparison ----------------------------------------------------------------------


def _fairness(comparison: Comparison) -> None:
    full, notes = comparison.fairness()
    text = " ".join(notes)
    if full:
        st.success(text, icon=":material/balance:")
    else:
        st.warning("Fairness holds only in part. " + text, icon=":material/balance:")
    differences = differences_table(comparison.configs)
    st.markdown(
        f"**What differs** · on {comparison.table_name}, seed {comparison.seed}, {comparison.epochs} "
        f"epoch{'s' if comparison.epochs != 1 else ''}"
    )
    if differences.empty:
        st.caption("Nothing: the configurations are identical (a check of determinism).")
    else:
        st.dataframe(differences, key="cmp_differences", width="content")


def _live(comparison: Comparison, ticking: bool) -> None:
    if comparison.active:
        comparison.advance(seconds=TRAINING_SECONDS)
    if comparison.active != ticking:
        st.rerun()  # start or stop the refresh timer with the whole page
    summary = comparison.summary_frame()
    scores = comparison.scores_frame()
    _run_table(comparison, summary)
    labels = comparison.labels
    st.plotly_chart(summary_bars(summary), key="cmp_summary_chart", config=_PLOTLY_CONFIG)
    st.plotly_chart(column_error_bars(scores, labels), key="cmp_columns_chart", config=_PLOTLY_CONFIG)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.plotly_chart(
            training_curves(comparison.curves_frame(), comparison.losses_frame(), labels),
            key="cmp_curves_chart",
            config=_PLOTLY_CONFIG,
        )
    with right:
        st.plotly_chart(error_heatmap(scores, labels), key="cmp_heatmap_chart", config=_PLOTLY_CONFIG)


def _run_table(comparison: Comparison, summary: pd.DataFrame) -> None:
    colours = configuration_colours(comparison.labels)
    every = ", ".join(sorted({f"{run.evaluate_every}" for run in comparison.runs}, key=int))
    st.markdown(f"**Runs** · validation scores, each run evaluated every {every} steps and at its end")
    for i, (run, row) in enumerate(zip(comparison.runs, summary.itertuples(), strict=True)):
        cells = st.columns([2.0, 1.1, 2.4, 1.1, 1.1, 1.0, 1.0], vertical_alignment="center")
        cells[0].markdown(f"<span style='color:{colours[run.label]}'>●</span> **{run.label}**", unsafe_allow_html=True)
        cells[1].markdown(STATUS_TEXT[run.status], help=run.message)
        cells[2].progress(
            min(1.0, run.progress),
            text=f"step {run.trainer.step_count:,} of {run.total_steps:,} · epoch {run.trainer.epoch:.2f}",
        )
        cells[3].metric("mean error", f"{row.mean_error:.4f}", label_visibility="collapsed" if i else "visible")
        cells[4].metric(
            "overlooked",
            f"{row.overlooked} of {len(comparison.names)}",
            label_visibility="collapsed" if i else "visible",
        )
        if run.status == PAUSED:
            cells[5].button(
                "Resume", key=f"cmp_resume_{i}", icon=":material/play_arrow:", on_click=comparison.resume, args=(i,)
            )
        else:
            cells[5].button(
                "Pause",
                key=f"cmp_pause_{i}",
                icon=":material/pause:",
                on_click=comparison.pause,
                args=(i,),
                disabled=run.status != RUNNING,
            )
        cells[6].button(
            "Cancel",
            key=f"cmp_cancel_{i}",
            icon=":material/close:",
            on_click=comparison.cancel,
            args=(i,),
            disabled=run.status not in (RUNNING, PAUSED),
        )
    for run in comparison.runs:
        if run.status == DIVERGED:
            st.error(f"{run.label}: {run.message}", icon="⚠️")


# --- exports ----------------------------------------------------------------------------


def results_csv(comparison: Comparison) -> str:
    """One row per configuration x column: the run's state and its latest validation scores."""
    with comparison.lock:
        state = comparison.summary_frame()[["configuration", "status", "step", "epoch"]]
        scores = comparison.scores_frame()
    return state.merge(scores, on="configuration").to_csv(index=False)


def _exports(comparison: Comparison) -> None:
    """Downloads of the comparison as of this full page run. Files made here stay served
    until the next full run; a file made on click (a deferred download) is collected by
    the cleanup that ends each of the live part's refreshes, often before the browser
    fetches it. So while runs train, Update redraws the page to bring the files up to date."""
    # A plain bordered box, not an expander: the live part above redraws every second.
    with st.container(border=True):
        st.markdown("**:material/download: Export and share**")
        steps = ", ".join(f"{run.label} {run.trainer.step_count:,}" for run in comparison.runs)
        st.caption(
            f"Results at steps {steps}"
            + (" (Update for the latest)." if comparison.active else ".")
            + " This page's address reproduces the set-up: copy it from the address bar, or here."
        )
        st.code("?" + urlencode(st.query_params.to_dict(), safe=":,"), language=None)
        cells = st.columns(3)
        name = f"{comparison.table_name}-comparison"
        cells[0].download_button(
            "Results (CSV)",
            key="cmp_export_csv",
            file_name=f"{name}.csv",
            mime="text/csv",
            data=results_csv(comparison),
            on_click="ignore",
        )
        cells[1].download_button(
            "Everything (JSON)",
            key="cmp_export_json",
            file_name=f"{name}.json",
            mime="application/json",
            data=comparison.to_json(),
            on_click="ignore",
        )
        cells[2].button(
            "Update",
            key="cmp_export_update",
            icon=":material/refresh:",
            disabled=not comparison.active,
            help="Bring the files up to the runs' latest steps.",
        )
