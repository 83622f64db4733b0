"""The plane of two columns' gradients, for the learn view: the two gradients, their
plain sum and a method's direction with its construction, and the figure's reading."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.lesson import PLAIN, ColumnPlane
from dashboard.charts.lesson import (
    CONSTRUCTION_GREY,
    METHOD_COLOURS,
    TITLE_FONT,
    method_label,
    possessive,
    signed,
)
from dashboard.charts.training import column_colours


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
        title=dict(text=f"The plane of {plane.names[0]} and {plane.names[1]}", font=TITLE_FONT),
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


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:.1f}×"


def _short(value: float) -> str:
    return f"{value:.3g}"
