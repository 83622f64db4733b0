"""Pieces every view's charts share: the cosine colour scale and trace, the two-panel layout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

CONFLICT_RED = "#b2182b"
NEUTRAL_WHITE = "#f7f7f7"
ALIGNED_BLUE = "#2166ac"
# Fixed at [-1, 1] so that a colour means the same cosine on every refresh.
COSINE_COLOURSCALE = [[0.0, CONFLICT_RED], [0.5, NEUTRAL_WHITE], [1.0, ALIGNED_BLUE]]


def cosine_trace(cosines: np.ndarray, names: Sequence[str], **style: Any) -> go.Heatmap:
    """A K x K cosine matrix as a heatmap on the fixed [-1, 1] scale, columns on both axes."""
    return go.Heatmap(z=cosines, x=list(names), y=list(names), zmin=-1, zmax=1, colorscale=COSINE_COLOURSCALE, **style)


def two_panels(titles: tuple[str, str], spacing: float, shared: str) -> go.Figure:
    """Two charts side by side sharing the ``shared`` axis ("x" or "y")."""
    return make_subplots(
        rows=1,
        cols=2,
        shared_xaxes=shared == "x",
        shared_yaxes=shared == "y",
        horizontal_spacing=spacing,
        subplot_titles=titles,
    )


def two_panels_sharing_y(titles: tuple[str, str], spacing: float) -> dict[str, Any]:
    """The layout ``make_subplots(1, 2, shared_yaxes=True, subplot_titles=titles)`` makes, as a
    dict for ``go.Figure`` (a live chart's: make_subplots costs more than the rest of the figure
    on every refresh): panel 2's traces go on axes x2 and y2, y2 following y."""
    width = (1 - spacing) / 2
    domains = ([0.0, width], [width + spacing, 1.0])
    titled = [
        dict(text=text, x=sum(domain) / 2, y=1.0, xref="paper", yref="paper", xanchor="center", yanchor="bottom")
        for text, domain in zip(titles, domains, strict=True)
    ]
    return {
        "xaxis": dict(domain=domains[0], anchor="y"),
        "yaxis": dict(domain=[0.0, 1.0], anchor="x"),
        "xaxis2": dict(domain=domains[1], anchor="y2"),
        "yaxis2": dict(domain=[0.0, 1.0], anchor="x2", matches="y", showticklabels=False),
        "annotations": [dict(showarrow=False, font=dict(size=16), **title) for title in titled],
    }
