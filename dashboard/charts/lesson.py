"""Figures of the learn view, each with its reading: one plain sentence saying what the
figure shows right now, built from the same numbers as the figure.

Colours follow the train view's (one colour per column, red for conflict and for
overlooked, blue for agreement), so the two views read alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.lesson import LESSON_STEPS, PLAIN, ErrorPoint
from core.metrics import OVERLOOK_RATIO, ColumnScore
from dashboard.charts.common import cosine_trace
from dashboard.charts.training import OVERLOOKED_COLOUR, column_colours

METHOD_LABELS = {PLAIN: "plain sum", "imtl-g": "IMTL-G", "mgda-ub": "MGDA-UB", "pcgrad": "PCGrad"}
# Apart from the column colours, which the arrows of the gradients use.
METHOD_COLOURS = {PLAIN: "#555555", "imtl-g": "#c51b7d", "mgda-ub": "#542788", "pcgrad": "#8c510a"}
CONSTRUCTION_GREY = "#9a9a9a"
# Below this spread of the step's cosines, a step counts as treating every column alike.
EQUAL_SPREAD = 0.05
# Cosines within this of 0 count as "at right angles" in the readings; below -STRONG_CONFLICT
# two columns "pull in opposite directions", between the two they "pull slightly apart".
NEAR_ZERO = 0.1
STRONG_CONFLICT = 0.3
TITLE_FONT = dict(size=15)
_MARGINS = dict(l=10, r=10, t=56, b=10)


def method_label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


# --- the verdict ----------------------------------------------------------------------------


def verdict_reading(scores: Sequence[ColumnScore]) -> str:
    overlooked = [s for s in scores if s.overlooked]
    if not overlooked:
        return (
            f"No column is overlooked: every error is below {OVERLOOK_RATIO:g} × the error of "
            "guessing the column's mean or most common class."
        )
    if len(overlooked) == 1:
        s = overlooked[0]
        return (
            f"{s.name} is overlooked: its error ({s.error:.2f}) is no better than {_guess(s)} ({s.baseline_error:.2f})."
        )
    names = ", ".join(s.name for s in overlooked[:-1]) + f" and {overlooked[-1].name}"
    return (
        f"{len(overlooked)} columns are overlooked, {names}: each is no better than guessing its "
        "mean or most common class."
    )


def _guess(score: ColumnScore) -> str:
    return "always guessing its mean" if score.type.is_numerical else "always guessing its most common class"


# --- the target's error over the steps ----------------------------------------------------


def error_curves(
    curves: Mapping[str, Sequence[ErrorPoint]], names: Sequence[str], target: str, baseline_error: float
) -> go.Figure:
    """The target column's error along each run, against the line above which it is overlooked."""
    k = list(names).index(target)
    threshold = OVERLOOK_RATIO * baseline_error
    top = 1.15 * max([baseline_error] + [p.errors[k] for points in curves.values() for p in points])
    fig = go.Figure()
    fig.add_hrect(y0=threshold, y1=top, fillcolor=OVERLOOKED_COLOUR, opacity=0.08, line_width=0)
    fig.add_hline(
        y=threshold,
        line=dict(color=OVERLOOKED_COLOUR, width=1.5, dash="dash"),
        annotation_text="overlooked above this line",
        annotation_position="bottom right",
        annotation_font=dict(color=OVERLOOKED_COLOUR),
    )
    for method, points in curves.items():
        steps, errors = [p.step for p in points], [p.errors[k] for p in points]
        fig.add_trace(_run_line(method, steps, errors, f"{target} error", width=3, markers=True))
    _along_the_steps(fig, f"{target}: error on validation rows", "error (lower is better)", [0, top], height=360)
    return fig


def _run_line(
    method: str, steps: Sequence[int], values: Sequence[float], value_name: str, width: float, markers: bool
) -> go.Scatter:
    """One run's values along its steps, in the method's colour."""
    label = method_label(method)
    return go.Scatter(
        x=list(steps),
        y=list(values),
        mode="lines+markers" if markers else "lines",
        name=label,
        line=dict(color=METHOD_COLOURS.get(method), width=width),
        hovertemplate=f"{label}<br>step %{{x}}<br>{value_name} %{{y:.3f}}<extra></extra>",
    )


def _along_the_steps(fig: go.Figure, title: str, y_title: str, y_range: list[float], height: int) -> None:
    """The layout of a figure over the lesson's training steps, its runs' legend on top."""
    fig.update_layout(
        title=dict(text=title, font=TITLE_FONT),
        xaxis=dict(title="training step", range=[-3, LESSON_STEPS + 3]),
        yaxis=dict(title=y_title, range=y_range),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1, xanchor="right"),
        margin=_MARGINS,
        height=height,
    )


def curve_reading(
    curves: Mapping[str, Sequence[ErrorPoint]], names: Sequence[str], target: str, baseline_error: float
) -> str:
    k = list(names).index(target)
    parts = [f"{p[-1].errors[k]:.2f} after {p[-1].step} steps of {run_name(m)}" for m, p in curves.items() if p]
    return f"{possessive(target)} error: {'; '.join(parts)} (overlooked from {OVERLOOK_RATIO * baseline_error:.2f} up)."


def run_name(method: str) -> str:
    """What the lesson calls a run with ``method``: "plain training", "IMTL-G"..."""
    return "plain training" if method == PLAIN else method_label(method)


# --- two columns' conflict over the steps ----------------------------------------------------

CONFLICT_WINDOW = 10  # steps averaged in the readings: one step's cosine is noisy


def conflict_curves(cosines: Mapping[str, Sequence[float]], first: str, second: str) -> go.Figure:
    """The cosine between two columns' gradients at every step of each run; below 0 they conflict."""
    fig = go.Figure()
    fig.add_hrect(
        y0=-1.05,
        y1=0,
        fillcolor=OVERLOOKED_COLOUR,
        opacity=0.06,
        line_width=0,
        annotation_text="conflict",
        annotation_position="bottom left",
        annotation_font=dict(color=OVERLOOKED_COLOUR),
    )
    fig.add_hline(y=0, line=dict(color=CONSTRUCTION_GREY, width=1.5))
    for method, values in cosines.items():
        fig.add_trace(_run_line(method, range(1, len(values) + 1), values, "cosine", width=2.5, markers=False))
    title = f"{first} vs {second}: cosine of their gradients"
    _along_the_steps(fig, title, "cosine (below 0: conflict)", [-1.05, 1.05], height=300)
    return fig


def pair_trend(values: Sequence[float]) -> tuple[float, float, int, int]:
    """Means over CONFLICT_WINDOW steps of a pair's cosines (one step's is noisy): the
    latest, the lowest, the step the lowest ends at, and the window used."""
    values = np.asarray(values, dtype=float)
    window = min(CONFLICT_WINDOW, len(values))
    smooth = np.convolve(values, np.ones(window) / window, mode="valid")
    worst = int(np.argmin(smooth))
    return float(smooth[-1]), float(smooth[worst]), worst + window, window


def conflict_reading(cosines: Mapping[str, Sequence[float]], first: str, second: str) -> str:
    """What the latest run shows: where the pair's cosine is now and, if they
    conflicted, how strongly and whether it passed."""
    runs = [(m, v) for m, v in cosines.items() if len(v)]
    if not runs:
        return f"The cosine between {first} and {second} appears after the first step."
    method, values = runs[-1]
    now, worst, worst_step, window = pair_trend(values)
    who = f"Under {run_name(method)}, {first} and {second}"
    if worst < -STRONG_CONFLICT and now > worst / 2:
        return (
            f"{who} conflicted (cosine {signed(worst)} around step {worst_step}) and the "
            f"conflict has eased: {signed(now)} over the last {window} steps."
        )
    if now < -STRONG_CONFLICT:
        return f"{who} pull in opposite directions: cosine {signed(now)} over the last {window} steps."
    if now < -NEAR_ZERO:
        return f"{who} pull slightly apart: cosine {signed(now)} over the last {window} steps."
    if now <= NEAR_ZERO:
        return (
            f"{who} are at right angles (cosine {signed(now)} over the last {window} steps): "
            "neither helps nor fights the other."
        )
    return f"{who} agree: cosine {signed(now)} over the last {window} steps."


# --- what the step does for each column ---------------------------------------------------


def alignment_bars(names: Sequence[str], direction_cosines: np.ndarray, method: str) -> go.Figure:
    """The cosine between the step the method took and each column's gradient."""
    colours = column_colours(names)
    fig = go.Figure(
        go.Bar(
            y=list(names),
            x=direction_cosines,
            orientation="h",
            marker_color=[colours[n] for n in names],
            text=[signed(c) for c in direction_cosines],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}<br>cosine with the step %{x:.3f}<extra></extra>",
        )
    )
    fig.add_vline(x=0, line=dict(color="#777", width=1))
    fig.update_layout(
        title=dict(text=f"The {method_label(method)} step vs each column", font=TITLE_FONT),
        xaxis=dict(
            title="cosine between the step and the column's gradient", range=[-1.2, 1.2], tickvals=[-1, -0.5, 0, 0.5, 1]
        ),
        yaxis=dict(autorange="reversed"),
        margin=_MARGINS,
        height=250,
        showlegend=False,
    )
    return fig


def alignment_reading(
    names: Sequence[str], direction_cosines: np.ndarray, method: str, vanished: np.ndarray | None = None
) -> str:
    """What the step does for each column. ``vanished``: the columns whose gradient vanished
    beside the others' (``core.lesson.vanished_columns``); a method other than the plain sum
    left them out, which the reading says, and the rest of it is about the others."""
    every = np.asarray(direction_cosines, dtype=float)
    dropped = np.zeros(len(every), bool) if vanished is None or method == PLAIN else np.array(vanished, dtype=bool)
    if dropped.all():
        dropped[:] = False
    kept = np.flatnonzero(~dropped)
    every_kept = "every column it still trains" if dropped.any() else "every column"
    reading = _alignment([names[i] for i in kept], every[kept], method, every_kept)
    if dropped.any():
        learnt = " and ".join(names[i] for i in np.flatnonzero(dropped))
        reading += f" {learnt} is learnt: its gradient vanished beside the others', so the step leaves it out."
    return reading


def _alignment(names: Sequence[str], cosines: np.ndarray, method: str, every: str) -> str:
    best, worst = int(np.argmax(cosines)), int(np.argmin(cosines))
    with_method = f"With {'the ' if method == PLAIN else ''}{method_label(method)}, the step"
    if cosines[best] - cosines[worst] < EQUAL_SPREAD:
        return f"{with_method} lines up equally with {every} (cosine {signed(cosines.mean())})."
    lead = f"{with_method} follows {names[best]} (cosine {signed(cosines[best])})"
    if cosines[worst] < -EQUAL_SPREAD:
        return f"{lead} and works against {names[worst]} ({signed(cosines[worst])})."
    if cosines[worst] < NEAR_ZERO:
        return f"{lead} and does almost nothing for {names[worst]} ({signed(cosines[worst])})."
    return f"{lead} most and {names[worst]} least ({signed(cosines[worst])}), but helps every column."


# --- pairwise cosines ---------------------------------------------------------------------


def cosine_grid(names: Sequence[str], cosines: np.ndarray) -> go.Figure:
    fig = go.Figure(
        cosine_trace(
            cosines,
            names,
            text=[[signed(c) for c in row] for row in cosines],
            texttemplate="%{text}",
            textfont=dict(size=15),
            colorbar=dict(title="cosine", tickvals=[-1, 0, 1]),
            hovertemplate="%{y} vs %{x}<br>cosine %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text="Do the gradients agree?", font=TITLE_FONT),
        yaxis=dict(autorange="reversed", scaleanchor="x"),
        margin=_MARGINS,
        height=330,
    )
    return fig


def cosine_reading(names: Sequence[str], cosines: np.ndarray) -> str:
    pairs = [(float(cosines[i, j]), names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))]
    low, a, b = min(pairs)
    high, c, d = max(pairs)
    conflicts = sum(value < 0 for value, _, _ in pairs)
    if low < -NEAR_ZERO:
        how = "pull in opposite directions" if low < -STRONG_CONFLICT else "pull slightly apart"
        return f"{a} and {b} {how} (cosine {signed(low)}); {conflicts} of {len(pairs)} pairs conflict."
    if high < NEAR_ZERO:
        return (
            f"No pair really conflicts: every cosine lies between {signed(low)} and {signed(high)}, "
            "so the gradients are nearly at right angles and the columns want unrelated things."
        )
    return f"No pair really conflicts (lowest cosine {signed(low)}); {c} and {d} agree most ({signed(high)})."


# --- number words ---------------------------------------------------------------------------


def signed(value: float) -> str:
    """Two decimals with a true minus sign (and no "−0.00")."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text.replace("-", "−")


def possessive(name: str) -> str:
    """The possessive: region's, visitors'."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"
