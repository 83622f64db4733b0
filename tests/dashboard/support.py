"""What the AppTest tests share."""

from __future__ import annotations

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest


def plotly_traces(at: AppTest, key: str) -> list[dict]:
    """The traces of the plotly chart with widget key ``key``, arrays decoded."""
    chart = next(c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}"))
    traces = json.loads(chart.proto.spec)["data"]
    for trace in traces:
        for axis in ("x", "y", "z"):
            if isinstance(trace.get(axis), dict) and "bdata" in trace[axis]:
                packed = trace[axis]
                values = np.frombuffer(base64.b64decode(packed["bdata"]), dtype=packed["dtype"])
                trace[axis] = values.reshape(packed["shape"]) if "shape" in packed else values
    return traces
