"""Loading any table the product can train on: a CSV file or a HI-VAE folder, typed and checked.

``load_table`` is the one entry point (the command line, the dashboard and the
benchmarks use it): a folder is read by ``core.hivae_folder``, a CSV file by
``core.csv_reader`` and typed by ``core.inference``; either way the result is
checked usable (enough rows, at least two usable columns). ``read_csv`` and
``read_hivae_folder`` are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.csv_reader import MISSING_MARKERS, CsvSource, read_csv
from core.errors import DataError
from core.hivae_folder import HivaeTable, read_hivae_folder
from core.inference import infer_schema, schema_from_types_file
from core.schema import Schema

__all__ = [
    "MIN_FEATURES",
    "MIN_ROWS",
    "MISSING_MARKERS",
    "CsvSource",
    "HivaeTable",
    "LoadedTable",
    "check_usable",
    "load_table",
    "read_csv",
    "read_hivae_folder",
    "table_from_csv",
]

MIN_ROWS = 10
MIN_FEATURES = 2


@dataclass(frozen=True)
class LoadedTable:
    """Any table the product can train on, with its schema.

    The masks follow ``HivaeTable``; for a CSV file they are None (missing cells are
    NaN in ``data``).
    """

    name: str
    data: pd.DataFrame
    schema: Schema
    missing_mask: np.ndarray | None
    impute_mask: np.ndarray | None


def load_table(path: str | Path, types: str | Path | None = None) -> LoadedTable:
    """A HI-VAE folder, or a CSV file typed by ``infer_schema`` or by a types file; checked usable."""
    path = Path(path)
    if path.is_dir():
        if not (path / "data_types.csv").exists():
            raise DataError(f"folder {str(path)!r} has no data_types.csv (not a HI-VAE table folder)")
        if types is not None:
            raise DataError("a types file applies to CSV files; a HI-VAE folder has its own data_types.csv")
        table = read_hivae_folder(path)
        loaded = LoadedTable(path.name, table.data, table.schema, table.missing_mask, table.impute_mask)
    elif path.exists():
        return table_from_csv(path, path.stem, types)
    else:
        raise DataError(f"no file or folder {str(path)!r}")
    check_usable(loaded.data, loaded.schema)
    return loaded


def table_from_csv(source: CsvSource, name: str, types: str | Path | None = None) -> LoadedTable:
    """A CSV (a path, or the bytes of an upload) typed by ``infer_schema`` or by a types file; checked usable."""
    data = read_csv(source)
    schema = schema_from_types_file(data, types) if types is not None else infer_schema(data)
    check_usable(data, schema)
    return LoadedTable(name, data, schema, None, None)


def check_usable(df: pd.DataFrame, schema: Schema) -> None:
    """DataError unless the table has enough rows and usable columns to train on."""
    if list(df.columns) != schema.names:
        raise DataError("the schema's columns do not match the table's columns")
    if len(df) < MIN_ROWS:
        raise DataError(f"the table has {len(df)} data rows; at least {MIN_ROWS} are needed")
    features = [c.name for c in schema.features]
    if len(features) < MIN_FEATURES:
        excluded = ", ".join(repr(c.name) for c in schema.columns if c.excluded)
        kept = f" ({', '.join(repr(n) for n in features)})" if features else ""
        raise DataError(
            f"the table has {len(features)} usable column{'s' if len(features) != 1 else ''}{kept}; "
            f"at least {MIN_FEATURES} are needed (excluded: {excluded or 'none'})"
        )
    if not df[features].notna().to_numpy().any():
        raise DataError("every cell of the usable columns is missing")
