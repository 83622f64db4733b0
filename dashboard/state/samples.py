"""The tables a session can open without an upload: the bundled samples and a synthetic one."""

from __future__ import annotations

import streamlit as st

from core.io import LoadedTable, load_table
from core.samples import SAMPLES, sample_path
from core.synthetic import make_synthetic

DEFAULT_SAMPLE = "Adult"
SYNTHETIC_NAME = "synthetic"


def load_sample_table(name: str) -> LoadedTable:
    """A bundled sample; the synthetic table under SYNTHETIC_NAME."""
    if name == SYNTHETIC_NAME:
        data, schema = make_synthetic(n_rows=2000, seed=0)
        return LoadedTable(SYNTHETIC_NAME, data, schema, None, None)
    return _cached_sample(name)


@st.cache_resource(show_spinner="Loading the sample table…")
def _cached_sample(name: str) -> LoadedTable:
    # Shared by every session: nothing downstream modifies a table in place.
    return load_table(sample_path(name))


def sample_names() -> list[str]:
    """The samples on disk, then the synthetic table."""
    return [name for name, sample in SAMPLES.items() if sample.path.exists()] + [SYNTHETIC_NAME]
