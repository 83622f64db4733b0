"""The compare view: 2 to 6 configurations trained side by side on the session's table.

The set-up (drawn on full reruns): each configuration's model, method (weighting then
projection), learning rate and batch size; the seed and the number of epochs they
share; Start. Set-up and comparison live in the session's ``CompareState``
(dashboard.state.compare); the comparison runs on the table and schema it was started
with, in a worker process of the server's pool (``core.workers.remote_comparison``), which
trains it while the page shows it -- always stepping the runs that are furthest behind, so
the runs move forward together; configurations of one model and batch size step together,
stacked in one model.

One fragment, re-run every REFRESH_SECONDS while any run is active, reads the comparison
from its worker and redraws the run table and the charts. Each run's Pause,
Resume and Cancel buttons live in the fragment; when a click or the end of training
changes whether anything is active, the whole page is redrawn (the timer with it).

The link (dashboard.links): Start writes the set-up into the page's query string, and a
new session opened on such a link starts with that set-up, ready to Start. A parameter
that cannot be used is named in a one-line message and its default is used instead.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core.comparison_view import CANCELLED, DIVERGED, FINISHED, PAUSED, RUNNING
from core.configurations import MAX_CONFIGURATIONS, MIN_CONFIGURATIONS, differences_table
from core.workers.remote_comparison import RemoteComparison
from dashboard.charts.compare import (
    column_error_bars,
    configuration_colours,
    error_heatmap,
    summary_bars,
    training_curves,
)
from dashboard.links import MAX_EPOCHS, MAX_SEED, compare_query, query_text
from dashboard.state.compare import CompareState, ConfigurationChoice, base_config, get_compare
from dashboard.state.train import REFRESH_SECONDS, DashboardState, get_state
from dashboard.widgets import (
    PLOTLY_CONFIG,
    LabelVisibility,
    download_buttons,
    method_pickers,
    setter,
    training_inputs,
    whole_number_input,
)

STATUS_TEXT = {
    RUNNING: ":material/play_arrow: running",
    PAUSED: ":material/pause: paused",
    CANCELLED: ":material/close: cancelled",
    FINISHED: ":material/check: finished",
    DIVERGED: ":material/warning: diverged",
}


def render() -> None:
    state = get_state()
    table = state.table
    compare = get_compare()  # the first visit follows the page's link, which may open another table
    if state.table is not table:
        st.rerun()  # the page's header above names the table: redraw it
    _setup(state, compare)
    comparison = compare.comparison
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


# --- the set-up -------------------------------------------------------------------------


def _setup(state: DashboardState, compare: CompareState) -> None:
    base = base_config(state)
    with st.expander("Configurations", icon=":material/tune:", expanded=compare.comparison is None):
        top = st.columns([1, 1, 1, 3], vertical_alignment="bottom")
        counts = (MIN_CONFIGURATIONS, MAX_CONFIGURATIONS)
        whole_number_input(top[0], "How many", "cmp_count", compare.count, setter(compare, "count"), counts)
        whole_number_input(
            top[1],
            "Seed (shared)",
            "cmp_seed",
            compare.seed,
            setter(compare, "seed"),
            (0, MAX_SEED),
            help="Every configuration uses this seed: the same split, initial weights and batches.",
        )
        whole_number_input(
            top[2],
            "Epochs",
            "cmp_epochs",
            compare.epochs,
            setter(compare, "epochs"),
            (1, MAX_EPOCHS),
            help="Each run stops after this many passes over the training split.",
        )
        top[3].caption(
            f"On **{state.table.name}** ({len(state.table.data):,} rows), with the train view's model "
            f"sizes (latent {base.latent or 'auto'}, hidden {base.hidden} × {base.layers})."
        )
        for i, choice in enumerate(compare.choices[: compare.count]):
            _configuration_row(i, choice)
        st.button(
            "Start",
            key="cmp_start",
            type="primary",
            icon=":material/play_arrow:",
            on_click=_start,
            args=(state, compare),
            help="Train all configurations from step 0 (a running comparison is replaced).",
        )
    for place in ("link", "start"):
        if place in compare.messages:
            st.error(compare.messages[place], icon="⚠️")


def _configuration_row(i: int, choice: ConfigurationChoice) -> None:
    cells = st.columns([1.3, 1.3, 1.3, 1, 1])
    label: LabelVisibility = "visible" if i == 0 else "collapsed"
    keys = (f"cmp_model_{i}", f"cmp_lr_{i}", f"cmp_batch_{i}")
    training_inputs((cells[0], cells[3], cells[4]), keys, choice, partial(setattr, choice), label_visibility=label)
    method_keys = (f"cmp_weighting_{i}", f"cmp_projection_{i}")
    method_pickers(cells[1:3], method_keys, choice.method, setter(choice, "method"), label_visibility=label)


def _start(state: DashboardState, compare: CompareState) -> None:
    if compare.start(state) and (c := compare.comparison) is not None:
        st.query_params.update(compare_query(c.table_name, c.configs, c.seed, c.epochs))


# --- the comparison ----------------------------------------------------------------------


def _fairness(comparison: RemoteComparison) -> None:
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
    if comparison.stacked:
        st.caption(
            "Trained side by side in one stacked model: each step moves every run, with the numbers "
            "it would have trained alone."
        )
    else:
        st.caption(
            "Trained one step at a time, in turn: stacking needs one model, one architecture and one batch size, a "
            "multiple of 32 rows."
        )


def _live(comparison: RemoteComparison, ticking: bool) -> None:
    if comparison.active:
        comparison.refresh()
    if comparison.notice is not None:
        st.warning(comparison.notice, icon=":material/info:")
    if comparison.active != ticking:
        st.rerun()  # start or stop the refresh timer with the whole page
    summary = comparison.summary_frame()
    scores = comparison.scores_frame()
    _run_table(comparison, summary)
    labels = comparison.labels
    st.plotly_chart(summary_bars(summary), key="cmp_summary_chart", config=PLOTLY_CONFIG)
    st.plotly_chart(column_error_bars(scores, labels), key="cmp_columns_chart", config=PLOTLY_CONFIG)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.plotly_chart(
            training_curves(comparison.curves_frame(), comparison.losses_frame(), labels),
            key="cmp_curves_chart",
            config=PLOTLY_CONFIG,
        )
    with right:
        st.plotly_chart(error_heatmap(scores, labels), key="cmp_heatmap_chart", config=PLOTLY_CONFIG)


def _run_table(comparison: RemoteComparison, summary: pd.DataFrame) -> None:
    colours = configuration_colours(comparison.labels)
    every = ", ".join(sorted({f"{run.evaluate_every}" for run in comparison.runs}, key=int))
    st.markdown(f"**Runs** · validation scores, each run evaluated every {every} steps and at its end")
    for i, (run, row) in enumerate(zip(comparison.runs, summary.itertuples(), strict=True)):
        cells = st.columns([2.0, 1.1, 2.4, 1.1, 1.1, 1.0, 1.0], vertical_alignment="center")
        cells[0].markdown(f"<span style='color:{colours[run.label]}'>●</span> **{run.label}**", unsafe_allow_html=True)
        cells[1].markdown(STATUS_TEXT[run.status], help=run.message)
        cells[2].progress(
            min(1.0, run.progress),
            text=f"step {run.step_count:,} of {run.total_steps:,} · epoch {run.epoch:.2f}",
        )
        cells[3].metric("mean error", f"{row.mean_error:.4f}", label_visibility="collapsed" if i else "visible")
        cells[4].metric(
            "overlooked",
            f"{row.overlooked} of {len(comparison.names)}",
            label_visibility="collapsed" if i else "visible",
        )
        # (label, key, icon, action, enabled): Pause becomes Resume while the run is paused
        if run.status == PAUSED:
            pause = ("Resume", f"cmp_resume_{i}", ":material/play_arrow:", comparison.resume, True)
        else:
            pause = ("Pause", f"cmp_pause_{i}", ":material/pause:", comparison.pause, run.status == RUNNING)
        cancel = ("Cancel", f"cmp_cancel_{i}", ":material/close:", comparison.cancel, run.status in (RUNNING, PAUSED))
        for cell, (label, key, icon, action, enabled) in zip(cells[5:], (pause, cancel), strict=True):
            cell.button(label, key=key, icon=icon, on_click=action, args=(i,), disabled=not enabled)
    for run in comparison.runs:
        if run.status == DIVERGED:
            st.error(f"{run.label}: {run.message}", icon="⚠️")


# --- exports ----------------------------------------------------------------------------


def results_csv(comparison: RemoteComparison) -> str:
    """One row per configuration x column: the run's state and its latest validation scores."""
    with comparison.lock:
        state = comparison.summary_frame()[["configuration", "status", "step", "epoch"]]
        scores = comparison.scores_frame()
    return state.merge(scores, on="configuration").to_csv(index=False)


def _exports(comparison: RemoteComparison) -> None:
    """Downloads of the comparison as of this full page run. Files made here stay served
    until the next full run; a file made on click (a deferred download) is collected by
    the cleanup that ends each of the live part's refreshes, often before the browser
    fetches it. So while runs train, Update redraws the page to bring the files up to date."""
    # A plain bordered box, not an expander: the live part above redraws every second.
    with st.container(border=True):
        st.markdown("**:material/download: Export and share**")
        steps = ", ".join(f"{run.label} {run.step_count:,}" for run in comparison.runs)
        st.caption(
            f"Results at steps {steps}"
            + (" (Update for the latest)." if comparison.active else ".")
            + " This page's address reproduces the set-up: copy it from the address bar, or here."
        )
        st.code(query_text(st.query_params.to_dict()), language=None)
        cells = st.columns(3)
        name = f"{comparison.table_name}-comparison"
        files = [
            ("Results (CSV)", "cmp_export_csv", f"{name}.csv", "text/csv", results_csv(comparison)),
            ("Everything (JSON)", "cmp_export_json", f"{name}.json", "application/json", comparison.to_json()),
        ]
        download_buttons(cells[:2], files)
        cells[2].button(
            "Update",
            key="cmp_export_update",
            icon=":material/refresh:",
            disabled=not comparison.active,
            help="Bring the files up to the runs' latest steps.",
        )
