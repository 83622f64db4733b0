"""The train view's Export expander: the run's histories, scores, reconstruction, weights
and bundle, each file produced when its button is clicked -- the histories here, the rest by
the session's worker."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from dashboard.exports import histories_json, history_frame, metrics_frame
from dashboard.state.train import DashboardState
from dashboard.widgets import download_buttons


def exports(state: DashboardState) -> None:
    with st.expander("Export", icon=":material/download:"):
        st.caption("Files are produced when you click, from the run as it is then.")
        name = state.table.name
        producers = [
            ("History (CSV)", "export_history_csv", f"{name}-history.csv", "text/csv", _history_csv),
            ("History (JSON)", "export_history_json", f"{name}-history.json", "application/json", _history_json),
            ("Column metrics (CSV)", "export_metrics", f"{name}-metrics.csv", "text/csv", _metrics_csv),
            (
                "Reconstructed table (CSV)",
                "export_reconstruction",
                f"{name}-reconstructed.csv",
                "text/csv",
                _reconstruction_csv,
            ),
            ("Model weights (.pt)", "export_weights", f"{name}-model.pt", "application/octet-stream", _weights),
            ("Model bundle (.zip)", "export_bundle", f"{name}-bundle.zip", "application/zip", _bundle),
        ]
        # each file is made when its button is clicked, under the run's lock
        files = [(*file, partial(_locked, state, produce)) for *file, produce in producers]
        download_buttons(st.columns(len(files)), files)


def _locked(state: DashboardState, produce):
    with state.lock:
        return produce(state)


def _history_csv(state: DashboardState) -> str:
    return history_frame(state.steps, state.names).to_csv(index=False)


def _history_json(state: DashboardState) -> str:
    return histories_json(state.steps, state.evaluations, state.names)


def _metrics_csv(state: DashboardState) -> str:
    frames = [metrics_frame(state.trainer.evaluate(split)) for split in ("val", "test")]
    return pd.concat(frames, ignore_index=True).to_csv(index=False)


def _reconstruction_csv(state: DashboardState) -> str:
    return state.trainer.reconstructed_table().to_csv(index=False)


def _weights(state: DashboardState) -> bytes:
    return state.trainer.state_bytes()


def _bundle(state: DashboardState) -> bytes:
    return state.bundle()
