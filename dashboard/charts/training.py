"""Figures and tables of the train view.

Loss curves are drawn as the *change* of each column's loss since the first recorded
step, in nats per row. A column's negative log-likelihood depends on its units (a
price in cents has a larger NLL than in dollars) and on its type, but a difference
of two NLLs of the same column does not: rescaling the data shifts every value by the
same log-Jacobian, which cancels. So all column types share one axis, and a curve
that stays near zero is a column the model is not learning.

Every plotly figure takes a ``uirevision``: while it stays the same between
refreshes, plotly keeps the user's zoom and hidden traces. And a ``hover`` flag: the
dashboard turns hover labels off while training is playing, because setting them up
on every redraw about doubles the browser's work per refresh; zoom still works.

The live charts are rebuilt on every refresh of every playing session, in the server's
one interpreter, so each figure is made in one go -- its traces and its whole layout
handed to ``go.Figure`` -- rather than by ``add_trace``, ``update_layout`` and
``make_subplots``, whose per-property checks cost three to five times as much.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.column_types import SPECS, ChartKind
from core.metrics import ColumnScore
from core.schema import Column
from dashboard.charts.common import CONFLICT_RED, cosine_trace, two_panels_sharing_y

OVERLOOKED_COLOUR = "#d62728"
COLUMN_COLOUR = "#4c78a8"
COLUMN_PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
)
SOURCE_COLOURS = {"data": "#3b3b3b", "reconstruction": "#1f77b4", "samples": "#ff7f0e"}
MAX_BINS = 30
GRID_BINS = 12  # small multiples have room for fewer bars
# Loss curves are smoothed over about this share of the recorded points.
SMOOTHING_SHARE = 1 / 40
# Curves are drawn with at most this many points: more adds nothing visible on a
# dashboard-sized chart, and each point costs time to send and to draw on every refresh.
MAX_DRAWN_POINTS = 400
TREND_TOLERANCE = 1e-4

_MARGINS = dict(l=10, r=10, t=40, b=10)


def _live_layout(title: str, uirevision: str, hover: bool, **layout: Any) -> dict[str, Any]:
    """The layout every live chart shares: its title, margins, and zoom and hover kept across refreshes."""
    return {
        "title": dict(text=title, font=dict(size=15)),
        "uirevision": uirevision,
        "hovermode": "closest" if hover else False,
        "margin": _MARGINS,
        **layout,
    }


def loss_change(column_losses: np.ndarray, window: int) -> np.ndarray:
    """(n, K) losses -> their trailing mean over ``window`` points minus the first point."""
    losses = np.asarray(column_losses, dtype=np.float64)
    if losses.ndim != 2 or len(losses) == 0:
        raise ValueError(f"column losses must be a non-empty n x K array, got shape {losses.shape}")
    if window < 1:
        raise ValueError(f"the smoothing window must be at least 1 point, got {window}")
    totals = np.vstack([np.zeros((1, losses.shape[1])), np.cumsum(losses, axis=0)])
    ends = np.arange(1, len(losses) + 1)
    starts = np.maximum(0, ends - window)
    means = (totals[ends] - totals[starts]) / (ends - starts)[:, None]
    return means - losses[0]


def drawn_points(n: int, max_points: int = MAX_DRAWN_POINTS) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spread points of ``n``, first and last included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def column_colours(names: Sequence[str]) -> dict[str, str]:
    """One colour per column, the same in every chart of the view."""
    return {name: COLUMN_PALETTE[i % len(COLUMN_PALETTE)] for i, name in enumerate(names)}


def loss_curves(
    steps: np.ndarray,
    column_losses: np.ndarray,
    names: Sequence[str],
    overlooked: Sequence[str] = (),
    uirevision: str = "loss",
    hover: bool = True,
) -> go.Figure:
    window = max(1, round(len(steps) * SMOOTHING_SHARE))
    shown = drawn_points(len(steps))
    change = loss_change(column_losses, window)[shown]
    steps = np.asarray(steps)[shown]
    colours = column_colours(names)
    flagged = set(overlooked)
    # overlooked first, so that their legend group comes first
    traces = []
    for k in sorted(range(len(names)), key=lambda k: names[k] not in flagged):
        name = names[k]
        is_overlooked = name in flagged
        traces.append(
            dict(  # checked once, by go.Figure: a go.Scatter here would be checked twice
                type="scatter",
                x=steps,
                y=change[:, k],
                mode="lines" if len(steps) > 1 else "markers",
                name=name,
                legendgroup="overlooked" if is_overlooked else "learnt",
                legendgrouptitle=dict(text="overlooked" if is_overlooked else "not overlooked"),
                line=dict(color=colours[name], width=3.2 if is_overlooked else 1.4),
                opacity=1.0 if is_overlooked or not flagged else 0.5,
                hovertemplate=f"{name}<br>step %{{x}}<br>Δ loss %{{y:.3f}} nats<extra></extra>",
            )
        )
    zero = dict(
        type="line", xref="x domain", x0=0, x1=1, yref="y", y0=0, y1=0, line=dict(color="#999", width=1, dash="dot")
    )
    layout = _live_layout(
        "Per-column loss: change since the first step",
        uirevision,
        hover,
        xaxis_title="step",
        yaxis_title="Δ loss (nats per row; lower is better)",
        legend=dict(font=dict(size=11), groupclick="toggleitem"),
        height=380,
        shapes=[zero],
    )
    return go.Figure(data=traces, layout=layout)


def cosine_heatmap(
    cosines: np.ndarray, names: Sequence[str], uirevision: str = "cosines", hover: bool = True
) -> go.Figure:
    k = len(names)
    cosines = np.asarray(cosines, dtype=np.float64)
    conflicts = int(np.sum(np.triu(cosines < 0, k=1)))
    # The diagonal is 1 by definition: left blank, it does not outshine the pairs.
    shown = np.where(np.eye(k, dtype=bool), np.nan, cosines)
    trace = cosine_trace(
        shown,
        names,
        zmid=0,
        colorbar=dict(title="cosine", tickvals=[-1, -0.5, 0, 0.5, 1]),
        hovertemplate="%{y} vs %{x}<br>cosine %{z:.2f}<extra></extra>",
    )
    layout = _live_layout(
        f"Gradient cosines at the last shared layer: {conflicts} of {k * (k - 1) // 2} pairs conflict (red)",
        uirevision,
        hover,
        yaxis=dict(autorange="reversed", scaleanchor="x"),
        xaxis=dict(tickangle=-45),
        height=420,
    )
    return go.Figure(data=[trace], layout=layout)


def conflict_counts(
    steps: np.ndarray, n_conflicts: np.ndarray, n_columns: int, uirevision: str = "conflicts", hover: bool = True
) -> go.Figure:
    pairs = n_columns * (n_columns - 1) // 2
    shown = drawn_points(len(steps))
    trace = go.Scatter(
        x=np.asarray(steps)[shown],
        y=np.asarray(n_conflicts)[shown],
        mode="lines",
        line=dict(color=CONFLICT_RED, width=1.6),
        connectgaps=True,
        hovertemplate="step %{x}<br>%{y} conflicting pairs<extra></extra>",
    )
    layout = _live_layout(
        "Conflicting pairs over time",
        uirevision,
        hover,
        xaxis_title="step",
        yaxis=dict(title=f"pairs with cosine < 0 (of {pairs})", range=[0, max(1, pairs)]),
        height=260,
        showlegend=False,
    )
    return go.Figure(data=[trace], layout=layout)


def gradient_bars(
    names: Sequence[str],
    norms: np.ndarray,
    weights: np.ndarray,
    overlooked: Sequence[str] = (),
    uirevision: str = "gradients",
    hover: bool = True,
) -> go.Figure:
    flagged = set(overlooked)
    colours = [OVERLOOKED_COLOUR if name in flagged else COLUMN_COLOUR for name in names]
    panels = two_panels_sharing_y(("gradient norm (log scale)", "weight the method applied"), spacing=0.04)
    panels["xaxis"]["type"] = "log"
    for axis in ("yaxis", "yaxis2"):
        panels[axis]["autorange"] = "reversed"
    bars = [
        go.Bar(
            y=list(names),
            x=values,
            orientation="h",
            marker_color=colours,
            hovertemplate=f"%{{y}}<br>{what} %{{x:.3g}}<extra></extra>",
            xaxis=x,
            yaxis=y,
        )
        for values, what, x, y in ((norms, "norm", "x", "y"), (weights, "weight", "x2", "y2"))
    ]
    layout = _live_layout(
        "Per-column gradients at the last step (overlooked in red)",
        uirevision,
        hover,
        margin=dict(l=10, r=10, t=70, b=10),
        height=max(260, 60 + 22 * len(names)),
        showlegend=False,
        **panels,
    )
    return go.Figure(data=bars, layout=layout)


def marginal_shares(column: Column, sources: Mapping[str, pd.Series], max_bins: int = MAX_BINS) -> pd.DataFrame:
    """Share of each class, or of each bin, per source (rows: label, position, source, share).

    The column type's chart kind decides: class bars use the schema's categories, in
    order; a histogram uses bins spanning the first source's range (the data), and
    values of other sources outside it fall into the edge bins, so every source's
    shares sum to 1.
    """
    if not sources:
        raise ValueError("marginal_shares needs at least one source")
    observed = {name: values.dropna() for name, values in sources.items()}
    labels, counts = _COUNTS[SPECS[column.type].chart](column, observed, max_bins)
    rows = []
    for name, count in counts.items():
        total = count.sum()
        shares = count / total if total else np.zeros(len(count))
        rows.extend(
            {"label": label, "position": i, "source": name, "share": float(share)}
            for i, (label, share) in enumerate(zip(labels, shares, strict=True))
        )
    return pd.DataFrame(rows, columns=["label", "position", "source", "share"])


_Counts = tuple[list[str], dict[str, np.ndarray]]


def _class_counts(column: Column, observed: Mapping[str, pd.Series], max_bins: int) -> _Counts:
    counts = {
        name: pd.Categorical(values, categories=list(column.categories)).value_counts().to_numpy()
        for name, values in observed.items()
    }
    return [str(c) for c in column.categories], counts


def _bin_counts(column: Column, observed: Mapping[str, pd.Series], max_bins: int) -> _Counts:
    reference = next(iter(observed.values())).to_numpy(dtype=np.float64)
    low, high = (float(reference.min()), float(reference.max())) if len(reference) else (0.0, 1.0)
    n_bins = max(1, min(max_bins, len(np.unique(reference))))
    edges = np.linspace(low, high, n_bins + 1) if high > low else np.array([low - 0.5, low + 0.5])
    counts = {
        name: np.histogram(np.clip(values.to_numpy(dtype=np.float64), edges[0], edges[-1]), edges)[0]
        for name, values in observed.items()
    }
    return [f"{_short(a)} – {_short(b)}" for a, b in itertools.pairwise(edges)], counts


_COUNTS = {ChartKind.CLASS_BARS: _class_counts, ChartKind.HISTOGRAM: _bin_counts}


def marginal_chart(column: Column, shares: pd.DataFrame, uirevision: str = "marginal", hover: bool = True) -> go.Figure:
    """One column: the data as bars, the reconstruction and the samples as lines over them."""
    traces: list[go.Bar | go.Scatter] = []
    for source, part in shares.groupby("source", sort=False):
        part = part.sort_values("position")
        style = dict(
            x=part["label"],
            y=part["share"],
            name=source,
            marker_color=SOURCE_COLOURS.get(source),
            hovertemplate=f"{source}<br>%{{x}}<br>share %{{y:.3f}}<extra></extra>",
        )
        if source == "data":
            traces.append(go.Bar(opacity=0.45, **style))
        else:
            traces.append(
                go.Scatter(mode="lines+markers", line=dict(color=SOURCE_COLOURS.get(source), width=2.2), **style)
            )
    layout = _live_layout(
        f"{column.name} ({column.type.value}): data vs reconstruction vs samples",
        uirevision,
        hover,
        bargap=0.08,
        yaxis=dict(title="share of rows", tickformat=".0%"),
        xaxis=dict(type="category", tickangle=-35),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"),
        margin=dict(l=10, r=10, t=70, b=10),
        height=380,
    )
    return go.Figure(data=traces, layout=layout)


def marginal_grid(shares_by_column: pd.DataFrame, columns_per_row: int = 4) -> alt.FacetChart:
    """Small multiples, one panel per column (field ``column``): the data as bars, the
    reconstruction and the samples as lines over them."""
    colours = alt.Color(
        "source:N",
        scale=alt.Scale(domain=list(SOURCE_COLOURS), range=list(SOURCE_COLOURS.values())),
        legend=alt.Legend(orient="top", title=None),
    )
    base = alt.Chart().encode(
        x=alt.X("position:O", axis=alt.Axis(labels=False, ticks=False, title=None)),
        y=alt.Y("share:Q", axis=alt.Axis(title=None, format="%")),
        color=colours,
        tooltip=["column:N", "label:N", "source:N", alt.Tooltip("share:Q", format=".1%")],
    )
    bars = base.transform_filter(alt.datum.source == "data").mark_bar(opacity=0.45)
    lines = base.transform_filter(alt.datum.source != "data").mark_line(
        strokeWidth=1.8, point=alt.OverlayMarkDef(size=16)
    )
    return (
        alt.layer(bars, lines, data=shares_by_column)
        .properties(width=210, height=110)
        .facet(
            facet=alt.Facet("column:N", title=None, sort=list(dict.fromkeys(shares_by_column["column"]))),
            columns=columns_per_row,
        )
        .resolve_scale(x="independent", y="independent")
    )


def error_table(
    scores: Sequence[ColumnScore],
    previous: Sequence[ColumnScore] | None = None,
    why: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The verdict, worst first: each column's error against its baseline, its trend
    since the previous evaluation (negative change = better) and, from ``why``, one
    sentence on why it is overlooked or misfit (``core.verdicts``)."""
    before = {s.name: s.error for s in previous or ()}
    rows = []
    for s in scores:
        ratio = s.error / s.baseline_error if s.baseline_error > 0 else np.nan
        change = s.error - before[s.name] if s.name in before else np.nan
        rows.append(
            {
                "column": s.name,
                "type": s.type.value,
                "error": s.error,
                "baseline": s.baseline_error,
                "error / baseline": ratio,
                "overlooked": bool(s.overlooked),
                "change": change,
                "trend": _trend(change),
                "why": (why or {}).get(s.name, ""),
            }
        )
    columns = ["column", "type", "error", "baseline", "error / baseline", "overlooked", "change", "trend", "why"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values("error / baseline", ascending=False, na_position="last", kind="stable", ignore_index=True)


def _trend(change: float) -> str:
    if np.isnan(change):
        return "–"
    if abs(change) < TREND_TOLERANCE:
        return "→"
    return "↓" if change < 0 else "↑"


def _short(x: float) -> str:
    return f"{x:.3g}"
