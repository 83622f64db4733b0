"""Figures of the compare view: every configuration on shared axes, one colour each.

They take the frames of ``core.comparison.Comparison`` (``scores_frame``, ``summary_frame``,
``curves_frame``, ``losses_frame``) and return plotly figures. A configuration keeps its
colour in every figure, and figures side by side share their axes, so bars and
curves can be read against each other. ``uirevision`` keeps the user's zoom and
hidden traces between refreshes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.common import two_panels

# Colour-blind-safe (Okabe-Ito), as many as a comparison has configurations.
CONFIGURATION_PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00")
ERROR_COLOURSCALE = "YlOrRd"
# Training losses are noisy step to step: curves show their mean over this share of a run's points.
SMOOTHING_SHARE = 1 / 30

_MARGINS = dict(l=10, r=10, t=60, b=10)


def configuration_colours(labels: Sequence[str]) -> dict[str, str]:
    """One colour per configuration, in order."""
    return {label: CONFIGURATION_PALETTE[i % len(CONFIGURATION_PALETTE)] for i, label in enumerate(labels)}


def column_error_bars(scores: pd.DataFrame, labels: Sequence[str], uirevision: str = "compare-columns") -> go.Figure:
    """Each column's error, one bar per configuration; an overlooked column's bar is hatched."""
    colours = configuration_colours(labels)
    columns = list(dict.fromkeys(scores["column"]))
    fig = go.Figure()
    for label in labels:
        part = scores[scores["configuration"] == label].set_index("column").reindex(columns)
        overlooked = part["overlooked"].fillna(False).astype(bool).to_numpy()
        fig.add_trace(
            go.Bar(
                x=columns,
                y=part["error"],
                name=label,
                marker_color=colours[label],
                marker_pattern_shape=np.where(overlooked, "/", ""),
                customdata=np.stack([part["baseline_error"], np.where(overlooked, "overlooked", "")], axis=-1),
                hovertemplate=f"{label}<br>%{{x}}: error %{{y:.4f}}<br>baseline %{{customdata[0]:.4f}} "
                f"%{{customdata[1]}}<extra></extra>",
            )
        )
    fig.update_layout(
        title=dict(text="Per-column error (validation; hatched: overlooked)", font=dict(size=15)),
        barmode="group",
        yaxis=dict(title="error (lower is better)", rangemode="tozero"),
        xaxis=dict(type="category", tickangle=-35),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
        margin=dict(l=10, r=10, t=80, b=10),
        height=400,
        uirevision=uirevision,
    )
    return fig


def summary_bars(summary: pd.DataFrame, uirevision: str = "compare-summary") -> go.Figure:
    """Mean error, worst-column error and the number of overlooked columns per configuration;
    the two errors share one axis."""
    labels = list(summary["configuration"])
    colours = [configuration_colours(labels)[label] for label in labels]
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.08,
        subplot_titles=("mean error", "worst-column error", "overlooked columns"),
    )
    for col, (field, text) in enumerate(
        (("mean_error", "%{y:.4f}"), ("worst_error", "%{y:.4f}"), ("overlooked", "%{y}")), start=1
    ):
        hover = "%{x}<br>" + text + (" (%{customdata})" if field == "worst_error" else "") + "<extra></extra>"
        fig.add_trace(
            go.Bar(
                x=labels,
                y=summary[field],
                marker_color=colours,
                showlegend=False,
                customdata=summary["worst_column"] if field == "worst_error" else None,
                hovertemplate=hover,
            ),
            row=1,
            col=col,
        )
    top = np.nanmax(summary[["mean_error", "worst_error"]].to_numpy(dtype=float), initial=0.0)
    for col in (1, 2):
        fig.update_yaxes(range=[0, 1.08 * top if top > 0 else 1], row=1, col=col)
    fig.update_yaxes(rangemode="tozero", dtick=1, row=1, col=3)
    fig.update_xaxes(type="category", tickangle=-30)
    fig.update_layout(margin=_MARGINS, height=300, uirevision=uirevision)
    return fig


def training_curves(
    curves: pd.DataFrame, losses: pd.DataFrame, labels: Sequence[str], uirevision: str = "compare-curves"
) -> go.Figure:
    """Validation mean error and training loss over epochs, every configuration overlaid."""
    colours = configuration_colours(labels)
    fig = two_panels(("validation mean error", "training loss (smoothed)"), spacing=0.08, shared="x")
    for label in labels:
        part = curves[curves["configuration"] == label]
        fig.add_trace(
            go.Scatter(
                x=part["epoch"],
                y=part["mean_error"],
                mode="lines+markers",
                name=label,
                legendgroup=label,
                line=dict(color=colours[label], width=2),
                marker=dict(size=4),
                hovertemplate=f"{label}<br>epoch %{{x:.2f}}<br>error %{{y:.4f}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        steps = losses[losses["configuration"] == label]
        if len(steps):
            window = max(1, round(len(steps) * SMOOTHING_SHARE))
            smooth = steps["loss"].rolling(window, min_periods=1).mean()
            fig.add_trace(
                go.Scatter(
                    x=steps["epoch"],
                    y=smooth,
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=False,
                    line=dict(color=colours[label], width=1.6),
                    hovertemplate=f"{label}<br>epoch %{{x:.2f}}<br>loss %{{y:.4g}}<extra></extra>",
                ),
                row=1,
                col=2,
            )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(
        legend=dict(orientation="h", y=1.1, yanchor="bottom", x=0),
        margin=dict(l=10, r=10, t=90, b=10),
        height=360,
        uirevision=uirevision,
        hovermode="closest",
    )
    return fig


def error_heatmap(scores: pd.DataFrame, labels: Sequence[str], uirevision: str = "compare-heatmap") -> go.Figure:
    """Columns x configurations, coloured by error; an overlooked cell is marked with a dot."""
    columns = list(dict.fromkeys(scores["column"]))
    errors = scores.pivot(index="column", columns="configuration", values="error").reindex(
        index=columns, columns=list(labels)
    )
    flags = (
        scores.pivot(index="column", columns="configuration", values="overlooked")
        .reindex(index=columns, columns=list(labels))
        .fillna(False)
        .astype(bool)
    )
    text = np.where(flags.to_numpy(), "● ", "") + np.vectorize(lambda e: "" if np.isnan(e) else f"{e:.3f}")(
        errors.to_numpy(dtype=float)
    )
    fig = go.Figure(
        go.Heatmap(
            z=errors.to_numpy(dtype=float),
            x=list(labels),
            y=columns,
            text=text,
            texttemplate="%{text}",
            colorscale=ERROR_COLOURSCALE,
            zmin=0,
            colorbar=dict(title="error"),
            hovertemplate="%{y} · %{x}<br>error %{z:.4f}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text="Error by column and configuration (● overlooked)", font=dict(size=15)),
        yaxis=dict(autorange="reversed", type="category"),
        xaxis=dict(type="category", side="top"),
        margin=dict(l=10, r=10, t=90, b=10),
        height=max(280, 110 + 28 * len(columns)),
        uirevision=uirevision,
    )
    return fig
