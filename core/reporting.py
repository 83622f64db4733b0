"""Figures the command line writes to disk: the only core module that draws charts.

``write_figure`` saves a grid's summary (``core.grid.summarize``) as a PNG and as a
self-contained HTML page: each column's median error per method, and the median mean
error with its range over seeds. The HTML is interactive and works offline (its
scripts are inlined).
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd


def summary_chart(summary: pd.DataFrame, title: str = "") -> alt.HConcatChart:
    """Each column's median error per method, and the median mean error with its range."""
    methods = list(summary["method"])
    error_columns = [c for c in summary.columns if c.startswith("error[")]
    per_column = summary.melt(id_vars="method", value_vars=error_columns, var_name="column", value_name="error")
    per_column["column"] = per_column["column"].str.slice(6, -1)
    colour = alt.Color("method:N", sort=methods, title="method")
    bars = (
        alt.Chart(per_column, title="Median error per column")
        .mark_bar()
        .encode(
            x=alt.X("column:N", sort=list(per_column["column"].drop_duplicates()), title=None),
            xOffset=alt.XOffset("method:N", sort=methods),
            y=alt.Y("error:Q", title="median test error"),
            color=colour,
            tooltip=["method", "column", alt.Tooltip("error:Q", format=".4f")],
        )
        .properties(width=max(300, 14 * len(methods) * len(error_columns)), height=300)
    )
    mean = alt.Chart(summary, title="Mean over columns").encode(x=alt.X("method:N", sort=methods, title=None))
    mean_bars = mean.mark_bar().encode(
        y=alt.Y("mean_error:Q", title="median mean error (line: range over seeds)"),
        color=colour,
        tooltip=[
            "method",
            alt.Tooltip("mean_error:Q", format=".4f"),
            alt.Tooltip("mean_error_min:Q", format=".4f"),
            alt.Tooltip("mean_error_max:Q", format=".4f"),
            "runs",
            "stopped",
            alt.Tooltip("overlooked:Q", title="overlooked columns"),
        ],
    )
    ranges = mean.mark_rule(color="black").encode(y="mean_error_min:Q", y2="mean_error_max:Q")
    chart = alt.hconcat(bars, (mean_bars + ranges).properties(width=max(120, 28 * len(methods)), height=300))
    return chart.properties(title=title) if title else chart


def write_figure(summary: pd.DataFrame, stem: str | Path, title: str = "") -> tuple[Path, Path]:
    """``stem.png`` and a self-contained ``stem.html`` (the scripts inlined: no network needed)."""
    chart = summary_chart(summary, title)
    png, html = Path(f"{stem}.png"), Path(f"{stem}.html")
    chart.save(png, scale_factor=2)
    chart.save(html, inline=True)
    return png, html
