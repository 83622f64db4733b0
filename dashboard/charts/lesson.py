"""Figures of the learn view, each with its reading: one plain sentence saying what the
figure shows right now, built from the same numbers as the figure.

Colours follow the train view's (one colour per column, red for conflict and for
overlooked, blue for agreement), so the two views read alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.lesson import LESSON_STEPS, PLAIN, ColumnPlane, ErrorPoint
from core.metrics import OVERLOOK_RATIO, ColumnScore
from dashboard.charts.training import COSINE_COLOURSCALE, OVERLOOKED_COLOUR, column_colours

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
_FONT = dict(size=15)
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
        fig.add_trace(
            go.Scatter(
                x=[p.step for p in points],
                y=[p.errors[k] for p in points],
                mode="lines+markers",
                name=method_label(method),
                line=dict(color=METHOD_COLOURS.get(method), width=3),
                hovertemplate=f"{method_label(method)}<br>step %{{x}}<br>{target} error %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text=f"{target}: error on validation rows", font=_FONT),
        xaxis=dict(title="training step", range=[-3, LESSON_STEPS + 3]),
        yaxis=dict(title="error (lower is better)", range=[0, top]),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1, xanchor="right"),
        margin=_MARGINS,
        height=360,
    )
    return fig


def curve_reading(
    curves: Mapping[str, Sequence[ErrorPoint]], names: Sequence[str], target: str, baseline_error: float
) -> str:
    k = list(names).index(target)
    parts = [f"{p[-1].errors[k]:.2f} after {p[-1].step} steps of {_run_name(m)}" for m, p in curves.items() if p]
    return f"{possessive(target)} error: {'; '.join(parts)} (overlooked from {OVERLOOK_RATIO * baseline_error:.2f} up)."


def _run_name(method: str) -> str:
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
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(values) + 1)),
                y=list(values),
                mode="lines",
                name=method_label(method),
                line=dict(color=METHOD_COLOURS.get(method), width=2.5),
                hovertemplate=f"{method_label(method)}<br>step %{{x}}<br>cosine %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text=f"{first} vs {second}: cosine of their gradients", font=_FONT),
        xaxis=dict(title="training step", range=[-3, LESSON_STEPS + 3]),
        yaxis=dict(title="cosine (below 0: conflict)", range=[-1.05, 1.05]),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1, xanchor="right"),
        margin=_MARGINS,
        height=300,
    )
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
    who = f"Under {_run_name(method)}, {first} and {second}"
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
        title=dict(text=f"The {method_label(method)} step vs each column", font=_FONT),
        xaxis=dict(
            title="cosine between the step and the column's gradient", range=[-1.2, 1.2], tickvals=[-1, -0.5, 0, 0.5, 1]
        ),
        yaxis=dict(autorange="reversed"),
        margin=_MARGINS,
        height=250,
        showlegend=False,
    )
    return fig


def alignment_reading(names: Sequence[str], direction_cosines: np.ndarray, method: str) -> str:
    cosines = np.asarray(direction_cosines, dtype=float)
    best, worst = int(np.argmax(cosines)), int(np.argmin(cosines))
    with_method = f"With {'the ' if method == PLAIN else ''}{method_label(method)}, the step"
    if cosines[best] - cosines[worst] < EQUAL_SPREAD:
        return f"{with_method} lines up equally with every column (cosine {signed(cosines.mean())})."
    lead = f"{with_method} follows {names[best]} (cosine {signed(cosines[best])})"
    if cosines[worst] < -EQUAL_SPREAD:
        return f"{lead} and works against {names[worst]} ({signed(cosines[worst])})."
    if cosines[worst] < NEAR_ZERO:
        return f"{lead} and does almost nothing for {names[worst]} ({signed(cosines[worst])})."
    return f"{lead} most and {names[worst]} least ({signed(cosines[worst])}), but helps every column."


# --- pairwise cosines ---------------------------------------------------------------------


def cosine_grid(names: Sequence[str], cosines: np.ndarray) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=cosines,
            x=list(names),
            y=list(names),
            zmin=-1,
            zmax=1,
            colorscale=COSINE_COLOURSCALE,
            text=[[signed(c) for c in row] for row in cosines],
            texttemplate="%{text}",
            textfont=dict(size=15),
            colorbar=dict(title="cosine", tickvals=[-1, 0, 1]),
            hovertemplate="%{y} vs %{x}<br>cosine %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text="Do the gradients agree?", font=_FONT),
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


# --- the plane of two columns ---------------------------------------------------------------


def plane_figure(plane: ColumnPlane, method: str, true_lengths: bool, names: Sequence[str]) -> go.Figure:
    """The two gradients, their plain sum and ``method``'s direction with its construction.
    Without ``true_lengths`` every arrow is drawn with length 1: directions stay exact,
    and a gradient a thousand times shorter stays visible. ``names``: all the table's
    columns, so that each column keeps its colour from the other charts."""
    shown = (lambda v: v) if true_lengths else _unit
    colours = column_colours(names)
    fig = go.Figure()
    tips = [*plane.gradients, plane.plain_sum, plane.directions[method]]
    if method == "mgda-ub" and true_lengths:
        first, second = plane.gradients
        _segment(fig, first, second, "segment between the tips (MGDA-UB searches it)")
        _segment(fig, np.zeros(2), plane.min_norm_point, "closest point to 0", marker=True)
    if method == "pcgrad" and plane.cosine < 0:
        for name, projected in zip(plane.names, plane.pcgrad_projections, strict=True):
            _arrow(fig, shown(projected), colours[name], f"{name} after PCGrad", dash="dot", width=2.5)
        tips += list(plane.pcgrad_projections)
    if method == "imtl-g":
        _equal_angles(fig, plane, shown)
    for name, gradient in zip(plane.names, plane.gradients, strict=True):
        _arrow(
            fig,
            shown(gradient),
            colours[name],
            name,
            width=4,
            label=f"{name}<br>‖g‖ {_short(np.linalg.norm(gradient))}",
        )
    # below its tip: the sum often lies along one of the gradients, whose label is above
    _arrow(
        fig,
        shown(plane.plain_sum),
        METHOD_COLOURS[PLAIN],
        "plain sum",
        dash="dash",
        width=3,
        label="plain sum",
        label_below=True,
    )
    if method != PLAIN:
        _arrow(
            fig,
            shown(plane.directions[method]),
            METHOD_COLOURS[method],
            method_label(method),
            width=5,
            label=f"<b>{method_label(method)}</b>",
        )
    tips = np.array([shown(v) for v in tips])
    reach = float(np.linalg.norm(tips, axis=1).max()) or 1.0  # all zero: nothing to draw, any frame
    # room around the tips for their labels, most of it on the side the labels are written
    low = np.minimum(tips.min(axis=0), 0.0) - np.array([0.45, 0.12]) * reach
    high = np.maximum(tips.max(axis=0), 0.0) + np.array([0.45, 0.2]) * reach
    fig.update_layout(
        title=dict(text=f"The plane of {plane.names[0]} and {plane.names[1]}", font=_FONT),
        xaxis=dict(range=[low[0], high[0]], zeroline=True, showticklabels=true_lengths, title=None),
        yaxis=dict(range=[low[1], high[1]], zeroline=True, showticklabels=true_lengths, scaleanchor="x", title=None),
        legend=dict(orientation="h", y=-0.1 if true_lengths else -0.02, yanchor="top", x=0.5, xanchor="center"),
        margin=dict(l=10, r=10, t=56, b=40),
        height=430,
        plot_bgcolor="#fbfbfb",
    )
    if not true_lengths:
        fig.add_annotation(
            xref="paper",
            yref="paper",
            x=0.01,
            y=0.01,
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            text="directions only: every arrow drawn the same length",
            font=dict(color=CONSTRUCTION_GREY, size=12),
        )
    return fig


def _unit(vector: np.ndarray) -> np.ndarray:
    length = float(np.linalg.norm(vector))
    return vector / length if length > 0 else vector


def _arrow(
    fig: go.Figure,
    tip: np.ndarray,
    colour: str,
    name: str,
    dash: str = "solid",
    width: float = 3,
    label: str | None = None,
    label_below: bool = False,
) -> None:
    if not np.linalg.norm(tip) > 0:
        return
    fig.add_trace(
        go.Scatter(
            x=[0, tip[0]],
            y=[0, tip[1]],
            mode="lines",
            name=name,
            line=dict(color=colour, width=width, dash=dash),
            hovertemplate=f"{name}<br>(%{{x:.3g}}, %{{y:.3g}})<extra></extra>",
        )
    )
    fig.add_annotation(
        x=tip[0],
        y=tip[1],
        ax=0.9 * tip[0],
        ay=0.9 * tip[1],
        xref="x",
        yref="y",
        axref="x",
        ayref="y",
        showarrow=True,
        arrowhead=2,
        arrowsize=1.1,
        arrowwidth=width,
        arrowcolor=colour,
        text="",
    )
    if label:
        fig.add_annotation(
            x=tip[0],
            y=tip[1],
            text=label,
            showarrow=False,
            font=dict(color=colour, size=13),
            xanchor="left" if tip[0] >= 0 else "right",
            yanchor="top" if label_below else "bottom",
            xshift=6 if tip[0] >= 0 else -6,
        )


def _segment(fig: go.Figure, start: np.ndarray, end: np.ndarray, name: str, marker: bool = False) -> None:
    fig.add_trace(
        go.Scatter(
            x=[start[0], end[0]],
            y=[start[1], end[1]],
            mode="lines+markers" if marker else "lines",
            name=name,
            line=dict(color=METHOD_COLOURS["mgda-ub"] if marker else CONSTRUCTION_GREY, width=2, dash="dot"),
            marker=dict(size=[0, 11], symbol="diamond", color=METHOD_COLOURS["mgda-ub"]),
            hovertemplate=f"{name}<extra></extra>",
        )
    )


def _equal_angles(fig: go.Figure, plane: ColumnPlane, shown) -> None:
    """Arcs from the IMTL-G direction to each gradient: the same angle on both sides."""
    direction = plane.directions["imtl-g"]
    if not np.linalg.norm(direction) > 0:
        return
    heading = math.atan2(direction[1], direction[0])
    radius = 0.3 * max(np.linalg.norm(shown(g)) for g in plane.gradients)
    # equal by construction: one number for both arcs, so rounding cannot tell them apart
    label = f"{_angle(direction, plane, plane.names[0]):.0f}°"
    for gradient in plane.gradients:
        towards = math.atan2(gradient[1], gradient[0])
        arc = np.linspace(heading, towards, 24)
        middle = arc[len(arc) // 2]
        fig.add_trace(
            go.Scatter(
                x=radius * np.cos(arc),
                y=radius * np.sin(arc),
                mode="lines",
                showlegend=False,
                line=dict(color=METHOD_COLOURS["imtl-g"], width=2),
                hoverinfo="skip",
            )
        )
        fig.add_annotation(
            x=1.3 * radius * math.cos(middle),
            y=1.3 * radius * math.sin(middle),
            text=label,
            showarrow=False,
            font=dict(color=METHOD_COLOURS["imtl-g"], size=13),
        )


def plane_reading(plane: ColumnPlane, method: str) -> str:
    (a, b), (length_a, length_b) = plane.names, plane.norms
    if min(length_a, length_b) == 0:
        silent = a if length_a == 0 else b
        return (
            f"{silent} has no gradient at this step (nothing of it to learn from this batch), "
            "so only one arrow is drawn."
        )
    longer, shorter = (a, b) if length_a >= length_b else (b, a)
    ratio = max(length_a, length_b) / min(length_a, length_b)
    angle = f"{math.degrees(math.acos(plane.cosine)):.0f}°"
    shape = (
        f"{possessive(longer)} gradient is {_times(ratio)} as long as {possessive(shorter)}, at {angle} to it"
        if ratio >= 1.1
        else f"{possessive(a)} and {possessive(b)} gradients are about as long as each other, {angle} apart"
    )
    if method == PLAIN:
        return f"{shape}, so their plain sum points {_angle(plane.plain_sum, plane, longer):.1f}° from {longer}."
    if method == "imtl-g":
        if not np.linalg.norm(plane.directions["imtl-g"]) > 0:
            return f"{shape}: they point in opposite directions, so IMTL-G finds no direction that helps both."
        return (
            f"{shape}; IMTL-G picks the direction at equal angles to both "
            f"({_angle(plane.directions['imtl-g'], plane, a):.0f}°), however long each is."
        )
    if method == "mgda-ub":
        heavier = int(np.argmax(plane.min_norm_weights))
        name = plane.names[heavier]
        away = _angle(plane.directions["mgda-ub"], plane, name)
        return (
            f"{shape}; MGDA-UB's closest point to 0 puts {plane.min_norm_weights[heavier]:.0%} of its weight "
            f"on {name}, so its direction lies {away:.0f}° from {name}."
        )
    if plane.cosine >= 0:
        return f"{shape}; they do not conflict (cosine {signed(plane.cosine)}), so PCGrad keeps the plain sum."
    return (
        f"{shape}; they conflict (cosine {signed(plane.cosine)}), so PCGrad removes from each the part that "
        f"opposes the other, and its direction lies {_angle(plane.directions['pcgrad'], plane, a):.0f}° from {a} "
        f"and {_angle(plane.directions['pcgrad'], plane, b):.0f}° from {b}."
    )


def _angle(vector: np.ndarray, plane: ColumnPlane, name: str) -> float:
    """Degrees, 0 to 180, between ``vector`` and column ``name``'s gradient."""
    gradient = plane.gradients[list(plane.names).index(name)]
    cosine = vector @ gradient / np.linalg.norm(vector) / np.linalg.norm(gradient)
    return math.degrees(math.acos(float(np.clip(cosine, -1.0, 1.0))))


# --- number words ---------------------------------------------------------------------------


def signed(value: float) -> str:
    """Two decimals with a true minus sign (and no "−0.00")."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text.replace("-", "−")


def possessive(name: str) -> str:
    """The possessive: region's, visitors'."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def _short(value: float) -> str:
    return f"{value:.3g}"
