"""The data view: pick a sample or upload a CSV, look at the table, and correct the
inferred schema (a type per column with its reason; columns can be excluded)."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st
from streamlit.runtime.uploaded_file_manager import UploadedFile

from core.samples import SAMPLES
from core.schema import ColumnType
from dashboard.state.samples import SYNTHETIC_NAME, sample_names
from dashboard.state.train import UPLOAD_LIMIT_MB, DashboardState, get_state
from dashboard.widgets import bind, setter, written_back

PREVIEW_ROWS = 200
TYPES = [t.value for t in ColumnType]


def render() -> None:
    state = get_state()
    source, upload = st.columns(2, gap="large")
    with source:
        _sample_picker(state)
    with upload:
        st.file_uploader(
            f"Upload a CSV (up to {UPLOAD_LIMIT_MB} MB)",
            type=["csv", "tsv", "txt"],
            **written_back("upload", partial(receive_upload, state)),
            help="A header row; comma, semicolon or tab separated; empty cells or NA for missing values.",
        )
    if "data" in state.messages:
        st.error(state.messages["data"], icon="⚠️")
    _summary(state)
    st.markdown(f"**Preview** · first {min(PREVIEW_ROWS, len(state.table.data)):,} rows")
    st.dataframe(state.table.data.head(PREVIEW_ROWS), height=260, width="stretch")
    _schema_editor(state)


def _sample_picker(state: DashboardState) -> None:
    names = sample_names()
    picked = next(name for name in (state.sample_choice, state.table.name, names[0]) if name in names)
    pick, load = st.columns([3, 1], vertical_alignment="bottom")
    choice = bind("sample_choice", picked, setter(state, "sample_choice"))
    pick.selectbox("Sample table", names, **choice, format_func=_sample_label)
    load.button("Load", key="load_sample", width="stretch", on_click=state.load_sample, args=(picked,))


def _sample_label(name: str) -> str:
    if name == SYNTHETIC_NAME:
        return "synthetic – one column of each type, known schema"
    return f"{name} – {SAMPLES[name].description}"


def receive_upload(state: DashboardState, uploaded: UploadedFile | None) -> None:
    """Read a file the uploader received (None: the upload was removed). The browser
    can send the same upload again on a later rerun, after this view is gone (seen in
    Chromium while training played): loading it again would throw the run away. Every
    new upload has a new file_id."""
    if uploaded is not None and uploaded.file_id != state.upload_id:
        state.upload_id = uploaded.file_id
        state.load_upload(uploaded.name, uploaded.getvalue())


def _summary(state: DashboardState) -> None:
    data, schema = state.table.data, state.schema
    cells = st.columns(4)
    cells[0].metric("Table", state.table.name)
    cells[1].metric("Rows", f"{len(data):,}")
    cells[2].metric("Columns used", f"{len(schema.features)} of {len(schema)}")
    cells[3].metric("Missing cells", f"{data.isna().to_numpy().mean():.1%}")


def _schema_editor(state: DashboardState) -> None:
    st.markdown(
        "**Schema** · a type per column, with the reason for it",
        help=(
            "Change a type or exclude a column here; the model uses the new schema after **Apply**. "
            "A type the data cannot hold is refused with the reason, and the schema stays as it was."
        ),
    )
    frame = _schema_frame(state)
    key = f"schema_editor_{state.schema_version}"
    st.data_editor(
        frame,
        hide_index=True,
        width="stretch",
        height=min(560, 38 + 35 * len(frame)),
        **written_back(key, partial(apply_schema_edits, state)),
        disabled=["column", "classes", "reason"],
        column_config={
            "type": st.column_config.SelectboxColumn(options=TYPES, required=True),
            "excluded": st.column_config.CheckboxColumn(),
            "classes": st.column_config.TextColumn(help="Number of classes of a class column."),
            "reason": st.column_config.TextColumn(width="large"),
        },
    )
    if "schema" in state.messages:
        st.error(state.messages["schema"], icon="⚠️")
    if state.schema_pending:
        note, apply, discard = st.columns([4, 1, 1], vertical_alignment="center")
        note.info(
            "Schema edited: the model still uses the previous one. Apply rebuilds it (the run restarts).",
            icon=":material/pending:",
        )
        apply.button("Apply", key="apply_schema", type="primary", on_click=state.apply, width="stretch")
        discard.button("Discard edits", key="discard_schema", on_click=state.discard_schema_edits, width="stretch")
    if "config" in state.messages:
        st.error(state.messages["config"], icon="⚠️")


def _schema_frame(state: DashboardState) -> pd.DataFrame:
    # numerical columns have no classes: an empty cell (a missing number would read "None")
    return pd.DataFrame(
        [
            {
                "column": c.name,
                "type": c.type.value,
                "excluded": c.excluded,
                "classes": "" if c.n_classes is None else str(c.n_classes),
                "reason": c.reason,
            }
            for c in state.schema.columns
        ]
    )


def apply_schema_edits(state: DashboardState, edits: dict) -> None:
    """Apply the editor's edited cells one by one; the first refused one stops there, with its message."""
    names = state.schema.names
    for row, change in edits["edited_rows"].items():
        name = names[int(row)]
        new_type = change.get("type")
        excluded = change.get("excluded")
        if new_type is None and excluded is None:
            continue
        if not state.override_column(name, new_type, excluded=excluded):
            return
