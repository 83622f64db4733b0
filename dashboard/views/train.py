"""The train view: controls in the sidebar, the live run in the page.

One fragment, re-run while playing, fetches what the session's worker trained since the
last refresh (see dashboard/state/train.py) and redraws the live part (counters, the error
table, the charts): about every REFRESH_SECONDS on auto speed, back to back at a set speed.
Everything else -- controls, messages, exports -- is drawn on full reruns only, that is
after a click. While the server has no room for another training session, the page says so
and the rest of the app stays open.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from core.bundle import DEFAULT_SAMPLER
from core.fit_stats import MISFIT_DISTANCE
from core.schema import Column
from dashboard.charts.race import race_curves
from dashboard.charts.training import (
    GRID_BINS,
    MAX_BINS,
    conflict_counts,
    cosine_heatmap,
    error_table,
    gradient_bars,
    loss_curves,
    marginal_chart,
    marginal_grid,
    marginal_shares,
)
from dashboard.links import MAX_SEED
from dashboard.state.race import FIX_IT_HELP, RacePicture, race_summary
from dashboard.state.snapshot import Marginals, Snapshot
from dashboard.state.train import EVALUATION_ROWS, FRAGMENT_TIMER_SECONDS, REFRESH_SECONDS, DashboardState, get_state
from dashboard.views.train_exports import exports
from dashboard.widgets import PLOTLY_CONFIG, bind, method_pickers, training_inputs, whole_number_input

AUTO = "auto"
SPEEDS = (AUTO, 1, 2, 5, 10, 20, 50, 100, 200, 500)
PANELS = ("Gradients", "Marginals")


def render() -> None:
    state = get_state()
    _sidebar(state)
    if "train" in state.messages:
        st.error(state.messages["train"], icon="⚠️")
    if not state.training_available:
        st.info(
            "Training is not available to this session now; the Data, Compare and Learn views work as usual. "
            "Press **Play** or **Step** to try again.",
            icon=":material/hourglass_empty:",
        )
        return
    if state.race_result is not None:
        st.success(race_summary(state.race_result), icon=":material/emoji_events:")
    live = st.fragment(_live, run_every=_refresh_every(state))
    live(state)
    exports(state)


def _refresh_every(state: DashboardState) -> float | None:
    if not state.playing:
        return None
    free_running = state.steps_per_refresh is None and state.race is None
    return REFRESH_SECONDS if free_running else FRAGMENT_TIMER_SECONDS


# --- controls ---------------------------------------------------------------------


def _sidebar(state: DashboardState) -> None:
    bar = st.sidebar
    bar.markdown("#### Run")
    if state.playing:
        bar.button("Pause", key="pause", icon=":material/pause:", type="primary", width="stretch", on_click=state.pause)
    else:
        bar.button(
            "Play", key="play", icon=":material/play_arrow:", type="primary", width="stretch", on_click=state.play
        )
    steps = (
        ("Step", "step", ":material/skip_next:", state.step_once, "One training step, then a fresh evaluation."),
        (
            "Reset",
            "reset",
            ":material/restart_alt:",
            state.reset,
            "Back to step 0 with the same seed: the same initial weights and minibatches.",
        ),
    )
    for cell, (label, key, icon, on_click, explanation) in zip(bar.columns(2), steps, strict=True):
        cell.button(label, key=key, icon=icon, width="stretch", on_click=on_click, help=explanation)
    bar.select_slider(
        "Steps per refresh",
        SPEEDS,
        **bind("speed", state.steps_per_refresh or AUTO, lambda speed: _set_speed(state, speed)),
        help=f"auto: train without waiting for the page, which shows the new steps about every {REFRESH_SECONDS:g} s.",
    )

    bar.markdown("#### Method", help="Applies from the next step, on the same model.")
    method_pickers(
        (bar, bar), ("method_weighting", "method_projection"), state.trainer.method, state.set_method, explained=True
    )
    bar.caption(f"Training with **{state.trainer.method}**")
    fix = dict(key="fix_it", icon=":material/auto_fix_high:", help=FIX_IT_HELP, disabled=state.race is not None)
    bar.button("Fix it", width="stretch", on_click=state.fix_it, **fix)
    bar.markdown("#### Model", help="Changing these rebuilds the model: press Apply.")
    config, draft = state.config, state.draft
    model_cell = bar.container()  # above the two columns below
    left, right = bar.columns(2)
    edit = partial(_edit_draft, state)
    training_inputs((model_cell, left, right), ("cfg_model", "cfg_lr", "cfg_batch"), draft, edit)
    latent = int(draft.latent or 0)
    help_text = "0: half the number of columns (the paper's choice)."
    whole_number_input(
        left,
        "Latent size",
        "cfg_latent",
        latent,
        lambda n: state.edit_draft(latent=n or None),
        (0, 10_000),
        help=help_text,
    )
    whole_number_input(right, "Seed", "cfg_seed", draft.seed, lambda seed: state.edit_draft(seed=seed), (0, MAX_SEED))
    changes = state.pending_changes()
    if changes or state.schema_pending:
        pending = [f"{name} {getattr(config, name)} → {value}" for name, value in changes.items()]
        if state.schema_pending:
            pending.append("schema edited")
        bar.info(
            "Pending: " + "; ".join(pending) + ". Apply rebuilds the model (the run restarts).",
            icon=":material/pending:",
        )
    bar.button(
        "Apply",
        key="apply",
        type="primary" if changes or state.schema_pending else "secondary",
        width="stretch",
        disabled=not (changes or state.schema_pending),
        on_click=state.apply_draft,
    )
    if "config" in state.messages:
        bar.error(state.messages["config"], icon="⚠️")


def _edit_draft(state: DashboardState, name: str, value: object) -> None:
    state.edit_draft(**{name: value})


def _set_speed(state: DashboardState, speed: str | int) -> None:
    state.set_speed(None if speed == AUTO else int(speed))


# --- the live part ----------------------------------------------------------------


def _live(state: DashboardState) -> None:
    if state.playing:
        racing = state.race is not None
        state.refresh()
        if "train" in state.messages or (racing and state.race is None) or not state.training_available:
            # Training stopped itself (a rejected step), or the race is over: redraw the whole
            # page, with the message on top (and, after a race, the winner's method in the sidebar).
            st.rerun()
    race = state.current_race()
    if race is not None:
        _race(race)
        return
    now = state.snapshot()
    _counters(now)
    left, right = st.columns([1, 1], gap="medium")
    with left:
        _verdict(now)
    with right:
        _loss_chart(now)
    panel = st.segmented_control(
        "Panel", PANELS, key="train_panel", default=PANELS[0], required=True, label_visibility="collapsed"
    )
    if panel == "Marginals":
        _marginals(state, now)
    else:
        _gradients(now)


def _race(race: RacePicture) -> None:
    left = sum(c.eliminated_in is None for c in race.curves)
    st.progress(
        race.progress,
        text=f"Fix it: round {race.rounds_done + 1} of {len(race.round_ends)}, {left} of {len(race.curves)} "
        "candidates left (each round keeps the better half on validation error)",
    )
    st.plotly_chart(race_curves(race, uirevision="race", hover=False), key="race_chart", config=PLOTLY_CONFIG)


def _counters(now: Snapshot) -> None:
    evaluation, previous = now.evaluation, now.previous_evaluation
    cells = st.columns(6)
    cells[0].metric("Step", f"{now.step:,}")
    cells[1].metric("Epoch", f"{now.epoch:.2f}")
    rate = now.steps_per_second
    cells[2].metric(
        "Steps / s",
        f"{rate:.0f}" if now.playing and rate is not None else "–",
        help="Training speed while playing, charts included.",
    )
    delta = (evaluation.mean_error - previous.mean_error) if previous is not None else None
    cells[3].metric(
        "Validation error",
        f"{evaluation.mean_error:.4f}",
        delta=f"{delta:+.4f}" if delta is not None else None,
        delta_color="inverse",
        help="Mean over columns of the per-column error (the paper's Evaluation section), "
        f"on up to {EVALUATION_ROWS:,} validation rows.",
    )
    cells[4].metric(
        "Overlooked",
        f"{len(evaluation.overlooked)} of {len(now.names)}",
        help="Columns whose error is at least 0.9 × the error of predicting their mean or mode.",
    )
    conflicts = now.latest.diagnostics.n_conflicts if now.latest is not None else None
    cells[5].metric(
        "Conflicting pairs",
        "–" if conflicts is None else f"{conflicts}",
        help="Pairs of columns whose gradients point apart (cosine < 0) at the last step.",
    )


def _verdict(now: Snapshot) -> None:
    previous = now.previous_evaluation.scores if now.previous_evaluation is not None else None
    table = error_table(now.evaluation.scores, previous, now.verdicts)
    st.markdown(
        f"**Per-column error** · validation, step {now.evaluated_at:,}",
        help="Error: range-normalised RMSE for numbers, error rate for classes. Baseline: predicting "
        "every cell by the training mean or mode. Overlooked: error ≥ 0.9 × baseline. "
        "Trend: since the previous evaluation.",
    )
    styled = table.style.apply(_overlooked_rows, axis=1)
    st.dataframe(
        styled,
        hide_index=True,
        width="stretch",
        height=min(420, 38 + 35 * len(table)),
        column_order=["column", "type", "error", "baseline", "error / baseline", "overlooked", "trend", "why"],
        column_config={
            "column": st.column_config.TextColumn(pinned=True),
            "type": st.column_config.TextColumn(width="small"),
            "error": st.column_config.NumberColumn(width="small", format="%.4f"),
            "baseline": st.column_config.NumberColumn(width="small", format="%.4f"),
            "error / baseline": st.column_config.NumberColumn(
                "vs baseline",
                width="small",
                format="%.2f",
                help="Error ÷ baseline error. From 0.9 up the column is overlooked.",
            ),
            "overlooked": st.column_config.CheckboxColumn(width="small"),
            "trend": st.column_config.TextColumn(
                width="small", help="Since the previous evaluation: ↓ better, ↑ worse, → steady."
            ),
            "why": st.column_config.TextColumn(
                help=f"Why overlooked (or misfit: samples off by more than {MISFIT_DISTANCE:g})."
            ),
        },
    )


def _overlooked_rows(row: pd.Series) -> list[str]:
    colour = "background-color: rgba(214, 39, 40, 0.12)" if row["overlooked"] else ""
    return [colour] * len(row)


def _loss_chart(now: Snapshot) -> None:
    if len(now.steps) == 0:
        st.info(
            "Press **Play** or **Step** in the sidebar to train: the per-column loss curves appear here.",
            icon=":material/play_circle:",
        )
        return
    figure = loss_curves(
        now.steps,
        now.column_losses,
        now.names,
        now.evaluation.overlooked,
        uirevision=_revision(now, "loss"),
        hover=not now.playing,
    )
    st.plotly_chart(figure, key="loss_chart", config=PLOTLY_CONFIG)


def _gradients(now: Snapshot) -> None:
    if now.latest is None:
        st.caption("Gradient diagnostics appear after the first step.")
        return
    hover = not now.playing
    left, right = st.columns([1, 1], gap="medium")
    with left:
        if now.cosines is not None:
            st.plotly_chart(
                cosine_heatmap(now.cosines, now.names, uirevision=_revision(now, "cos"), hover=hover),
                key="cosine_chart",
                config=PLOTLY_CONFIG,
            )
    with right:
        d = now.latest.diagnostics
        st.plotly_chart(
            gradient_bars(
                now.names, d.norms, d.weights, now.evaluation.overlooked, uirevision=_revision(now, "bars"), hover=hover
            ),
            key="gradient_chart",
            config=PLOTLY_CONFIG,
        )
        st.plotly_chart(
            conflict_counts(
                now.conflict_steps, now.conflicts, len(now.names), uirevision=_revision(now, "conflicts"), hover=hover
            ),
            key="conflict_chart",
            config=PLOTLY_CONFIG,
        )


def _marginals(state: DashboardState, now: Snapshot) -> None:
    marginals = state.current_marginals()
    if marginals is None:
        st.caption("The marginals could not be computed; see the message above.")
        return
    names = [c.name for c in marginals.features]
    chosen = st.columns([1, 2])[0].selectbox("Column", names, key="marginal_column")
    column = marginals.features[names.index(chosen)]
    st.plotly_chart(
        marginal_chart(
            column, _shares(marginals, column), uirevision=_revision(now, f"marginal-{chosen}"), hover=not now.playing
        ),
        key="marginal_chart",
        config=PLOTLY_CONFIG,
    )
    st.caption(
        f"All columns · validation rows at step {marginals.step:,} · grey bars: data, blue: reconstruction "
        f"(each column's mode given the mean of q(z|x)), orange: samples ({DEFAULT_SAMPLER} sampler, as sample() draws)"
    )
    grid = pd.concat(
        [_shares(marginals, c, GRID_BINS).assign(column=c.name) for c in marginals.features], ignore_index=True
    )
    st.altair_chart(marginal_grid(grid), key="marginal_grid")


def _shares(marginals: Marginals, column: Column, max_bins: int = MAX_BINS) -> pd.DataFrame:
    return marginal_shares(
        column,
        {
            "data": marginals.data[column.name],
            "reconstruction": marginals.reconstruction[column.name],
            "samples": marginals.samples[column.name],
        },
        max_bins,
    )


def _revision(now: Snapshot, chart: str) -> str:
    """Zoom survives refreshes, but not a new run."""
    return f"{chart}-{now.table_name}-{now.run_number}"
