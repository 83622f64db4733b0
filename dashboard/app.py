"""The dashboard: `streamlit run dashboard/app.py` from the repository root.

It opens on the train view with a bundled sample already loaded, so training can
start at once. Each view is a module of dashboard/views with a ``render()``.
"""

from __future__ import annotations

import streamlit as st

from core.threads import use_training_threads
from dashboard.links import linked_view
from dashboard.state.train import get_state
from dashboard.views import compare, data, learn, train

use_training_threads()

VIEWS = {"Train": train.render, "Data": data.render, "Compare": compare.render, "Learn": learn.render}


def main() -> None:
    st.set_page_config(page_title="Overlooked columns", page_icon=":material/query_stats:", layout="wide")
    with st.spinner("Opening the sample table…"):
        state = get_state()
    title, switch = st.columns([3, 2], vertical_alignment="center")
    title.markdown(f"### Overlooked columns · {state.table.name}")
    title.caption(
        f"{len(state.table.data):,} rows · {len(state.trainer.features)} columns used · "
        f"{state.config.model} · {state.trainer.method}"
    )
    view = switch.segmented_control(
        "View",
        list(VIEWS),
        key="view",
        default=linked_view(st.query_params.to_dict(), list(VIEWS), default="Train"),
        required=True,
        label_visibility="collapsed",
        width="stretch",
    )
    VIEWS[view]()


main()
