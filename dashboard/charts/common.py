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
