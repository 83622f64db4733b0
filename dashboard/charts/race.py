"""The race of "Fix it": every candidate's validation curve on one chart, those still in the
race in colour, the eliminated ones grey, the end of each round marked."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard.charts.training import COLUMN_PALETTE
from dashboard.state.race import RacePicture

ELIMINATED_GREY = "#b8b8b8"


def race_curves(picture: RacePicture, uirevision: str = "race", hover: bool = True) -> go.Figure:
    fig = go.Figure()
    # Eliminated first, so that the candidates still in are drawn on top of them.
    order = sorted(enumerate(picture.curves), key=lambda item: item[1].eliminated_in is None)
    for index, curve in order:
        out = curve.eliminated_in is not None
        won = curve.method == picture.winner
        label = f"{curve.method} (out in round {curve.eliminated_in})" if out else curve.method
        fig.add_trace(
            go.Scatter(
                x=curve.epochs,
                y=curve.errors,
                mode="lines+markers" if len(curve.epochs) < 30 else "lines",
                name=label + (" — winner" if won else ""),
                line=dict(
                    color=ELIMINATED_GREY if out else COLUMN_PALETTE[index % len(COLUMN_PALETTE)],
                    width=3.5 if won else (1.2 if out else 2.2),
                    dash="dot" if out else "solid",
                ),
                marker=dict(size=4),
                hovertemplate=f"{curve.method}<br>epoch %{{x}}<br>validation error %{{y:.4f}}<extra></extra>",
            )
        )
    for r, epoch in enumerate(picture.round_ends, start=1):
        fig.add_vline(
            x=epoch,
            line=dict(color="#999", width=1, dash="dash"),
            annotation_text=f"round {r}",
            annotation_position="top left",
            annotation_font_size=10,
        )
    fig.update_layout(
        title="Fix it: the candidates' validation error (mean over columns)",
        xaxis_title="epoch",
        yaxis_title="validation error (lower is better)",
        height=380,
        margin=dict(l=10, r=10, t=40, b=10),
        uirevision=uirevision,
        hovermode="closest" if hover else False,
        legend=dict(font=dict(size=11)),
    )
    return fig
