"""Reading HI-VAE benchmark folders.

A folder holds ``data.csv`` (no header, except a header plus a leading row-index
column in some tables), ``data_types.csv``, and optional 1-based ``row,column``
masks ``MissingTrue.csv`` (really missing) and ``Missing20_1.csv`` (hidden for the
imputation test).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from core.csv_reader import read_csv_guessing_header
from core.errors import DataError
from core.files import one_line, read_utf8_text
from core.inference import declared_column
from core.schema import Schema, read_hivae_types


@dataclass(frozen=True)
class HivaeTable:
    """A HI-VAE benchmark folder. Masks are N x K bool over ``data``'s columns."""

    data: pd.DataFrame
    schema: Schema
    missing_mask: np.ndarray | None  # True = really missing (NaN in data)
    impute_mask: np.ndarray | None  # True = hidden for the imputation test (value kept in data)


def read_hivae_folder(path: str | Path) -> HivaeTable:
    """Read a HI-VAE benchmark folder; types come from ``data_types.csv``, categories from the data."""
    folder = Path(path)
    declared = read_hivae_types(read_utf8_text(folder / "data_types.csv"))
    data = _read_hivae_data(folder / "data.csv", len(declared))
    missing = _read_mask(folder / "MissingTrue.csv", data.shape)
    if missing is not None:
        data = data.mask(missing)
    if data.isna().to_numpy().any():
        missing = data.isna().to_numpy()
    impute = _read_mask(folder / "Missing20_1.csv", data.shape)
    columns = []
    for name, (column_type, n_classes) in zip(data.columns, declared, strict=True):
        column = declared_column(data[name], column_type, "data_types.csv")
        if n_classes is not None and column.n_classes is not None and column.n_classes > n_classes:
            raise DataError(
                f"column {name!r} has {column.n_classes} distinct values, but data_types.csv says {n_classes} classes"
            )
        if n_classes is not None and column.n_classes is not None and column.n_classes < n_classes:
            column = replace(
                column, reason=f"from data_types.csv ({n_classes} classes declared, {column.n_classes} seen)"
            )
        columns.append(column)
    return HivaeTable(data=data, schema=Schema(tuple(columns)), missing_mask=missing, impute_mask=impute)


def _read_hivae_data(path: Path, n_declared: int) -> pd.DataFrame:
    frame, has_header = read_csv_guessing_header(path)
    # bank/ and diamonds/ carry a header and a leading row index that data_types.csv does not describe
    if has_header and frame.shape[1] == n_declared + 1:
        frame = frame.iloc[:, 1:]
    if frame.shape[1] != n_declared:
        raise DataError(f"data.csv has {frame.shape[1]} columns, but data_types.csv lists {n_declared}")
    return frame


def _read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    if not path.exists():
        return None
    mask = np.zeros(shape, dtype=bool)
    text = read_utf8_text(path)
    if not text.strip():
        return mask
    try:
        pairs = pd.read_csv(io.StringIO(text), header=None, dtype=np.int64, engine="c")
    except (ValueError, pd.errors.ParserError) as error:
        raise DataError(f"{path.name} must hold 1-based row,column integer pairs: {one_line(error)}") from None
    if pairs.shape[1] != 2:
        raise DataError(f"{path.name} must hold 1-based row,column pairs, found {pairs.shape[1]} fields per line")
    rows, cols = pairs[0].to_numpy() - 1, pairs[1].to_numpy() - 1
    outside = (rows < 0) | (rows >= shape[0]) | (cols < 0) | (cols >= shape[1])
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"{path.name} line {i + 1}: cell ({rows[i] + 1}, {cols[i] + 1}) is outside the "
            f"{shape[0]} x {shape[1]} table"
        )
    mask[rows, cols] = True
    return mask
