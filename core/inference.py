"""Deciding each column's type from its values, and checking types a person sets.

First each column's cells are read (``core.cell_formats``): numbers written as text
(``12.5%``, ``$12,345``, a stray ``unknown``) become numbers, labels written in several
cases one label, and a column of dates or times is excluded. Then the rules of
``infer_schema``, first match wins (every decision is written into the column's
``reason``, after how its cells were read):

1. every cell missing -> excluded;
2. a single distinct value -> excluded (constant);
3. text that is mostly numbers, more than ``MAX_CODED_CLASSES`` distinct ones, with
   more words than ``core.cell_formats`` reads as missing -> excluded, so that the user
   decides whether the words mean "missing" or a class;
4. identifier -> excluded: named like one (``id``, ``rownames``, ``index``, an
   empty or ``Unnamed: 0`` header) and holding integers or text; integers, all
   distinct, strictly increasing or decreasing down the rows (a row index); text
   distinct in at least ``IDENTIFIER_DISTINCT_SHARE`` of the rows (names, keys);
5. exactly two distinct values, of any kind -> binary;
6. other text -> categorical (excluded beyond ``MAX_CLASSES`` distinct values);
7. numbers -> the type their shape says (``core.number_types``): calendar years real;
   small counts count; other few distinct integers coded classes (categorical);
   amounts (over-dispersed, large, or in round units, or non-negative with many zeros)
   positive on log(1 + x); other non-negative integers count; other numbers positive
   when all above zero, else real.

Numbers beyond ``MAX_MAGNITUDE`` are refused (DataError naming the column): the model
computes in float32, where they overflow.

Excluded columns carry the type their values suggest but no categories: categories
only matter for modelled columns and are derived when a column is included.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.cell_formats import read_cells
from core.errors import DataError
from core.files import read_utf8_text
from core.number_types import MAX_CODED_CLASSES, MAX_GAPLESS_CODES, number_type
from core.schema import (
    MAX_MAGNITUDE,
    Column,
    ColumnType,
    Schema,
    format_number,
    parse_type,
    read_hivae_types,
)

__all__ = [
    "IDENTIFIER_DISTINCT_SHARE",
    "MAX_CLASSES",
    "MAX_CODED_CLASSES",
    "MAX_GAPLESS_CODES",
    "column_of_type",
    "declared_column",
    "infer_schema",
    "schema_from_types_file",
    "type_conflict",
    "validate_override",
]
# Why 0.9 and not 1.0: key columns in real exports often repeat a handful of values.
IDENTIFIER_DISTINCT_SHARE = 0.9
# Text whose cells are mostly numbers, with more distinct numbers than coded classes
# have, is a numeric column with stray words in it (few distinct numbers with some
# words are codes plus labels such as "other": a categorical column).
NUMBER_LIKE_SHARE = 0.5
# One-hot inputs and softmax heads with thousands of classes do not train usefully.
MAX_CLASSES = 1000
MANY_CLASSES_NOTE = 100

_IDENTIFIER_NAMES = {"", "id", "rownames", "row.names", "row_names", "rowname", "rowid", "row_id", "index"}
_UNNAMED_HEADER = re.compile(r"^unnamed: \d+$")


class _Values:
    """The non-missing values of one column, with what every rule needs to know."""

    def __init__(self, name: str, series: pd.Series):
        self.name = name
        observed = series.dropna()
        self.n_observed = len(observed)
        self.is_number = pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)
        if self.is_number:
            numbers = observed.to_numpy(dtype=np.float64)
            infinite = ~np.isfinite(numbers)
            if infinite.any():
                raise DataError(f"column {name!r} holds an infinite value ({numbers[infinite][0]!r})")
            huge = np.abs(numbers) > MAX_MAGNITUDE
            if huge.any():
                raise DataError(
                    f"column {name!r} holds {format_number(numbers[huge][0])}, beyond ±{MAX_MAGNITUDE:g}, where the "
                    "model's float32 arithmetic overflows; rescale the column (divide it by a power of ten)"
                )
            self.numbers = numbers
            self.distinct = pd.unique(numbers)
            self.is_integer = bool(np.all(numbers == np.round(numbers)))
            self.min = float(numbers.min()) if len(numbers) else np.nan
            self.max = float(numbers.max()) if len(numbers) else np.nan
        else:
            self.numbers = np.empty(0)  # text: no numbers
            self.distinct = np.asarray(observed.unique(), dtype=object)
            self.is_integer = False
        self.n_distinct = len(self.distinct)

    def labels(self) -> tuple:
        """The distinct values as sorted JSON-friendly scalars (the class labels)."""
        if self.is_number:
            ordered = np.sort(self.distinct)
            return tuple(int(v) if self.is_integer else float(v) for v in ordered)
        values = [v.item() if hasattr(v, "item") else v for v in self.distinct]
        # bool before str: a column read as True/False keeps its booleans
        if all(isinstance(v, bool) for v in values):
            return tuple(sorted(values))
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return tuple(sorted(values))
        return tuple(sorted(values, key=str))

    def range_text(self) -> str:
        kind = "integers" if self.is_integer else "numbers"
        return f"{kind} {format_number(self.min)}..{format_number(self.max)}, {self.n_distinct} distinct values"


def infer_schema(df: pd.DataFrame) -> Schema:
    """Guess every column's type from its values (see the module docstring for the rules)."""
    for name in df.columns:
        if not isinstance(name, str):
            raise DataError(f"column name {name!r} is not text; name the columns with strings")
    return Schema(tuple(_read_and_infer(name, df[name]) for name in df.columns))


def _read_and_infer(name: str, series: pd.Series) -> Column:
    cells = read_cells(series)
    if cells.dates is not None:
        return Column(name, ColumnType.REAL, cells.dates, excluded=True)
    column = _infer_column(_Values(name, cells.values), cells.values)
    reason = f"{cells.note}; {column.reason}" if cells.note else column.reason
    return replace(column, reason=reason, cells=cells.reading)


def _infer_column(v: _Values, series: pd.Series) -> Column:
    if v.n_distinct == 0:
        return Column(v.name, ColumnType.REAL, "every cell is missing -> excluded", excluded=True)
    suggested = _suggest_type(v)
    exclusion: str | None
    if v.n_distinct == 1:
        exclusion = f"a single value ({v.labels()[0]!r}) in every filled row -> constant, excluded"
    else:
        exclusion = _stray_words_reason(v, series) or _identifier_reason(v)
    if exclusion is None and suggested.type.is_discrete_class and v.n_distinct > MAX_CLASSES:
        exclusion = f"text with {v.n_distinct} distinct values, more than {MAX_CLASSES} classes -> excluded"
    if exclusion:
        return Column(v.name, suggested.type, exclusion, excluded=True)
    return suggested


def _suggest_type(v: _Values) -> Column:
    """Rules 5 to 7 of the module docstring, ignoring exclusion (so with no categories
    for text with too many distinct values to be classes)."""
    if v.n_distinct == 2:
        labels = v.labels()
        return Column(
            v.name,
            ColumnType.BINARY,
            f"exactly two distinct values ({labels[0]!r}, {labels[1]!r}) -> binary",
            categories=labels,
        )
    if not v.is_number:
        many = f"; {v.n_distinct} classes is many, consider excluding it" if v.n_distinct > MANY_CLASSES_NOTE else ""
        return Column(
            v.name,
            ColumnType.CATEGORICAL,
            f"text with {v.n_distinct} distinct values -> categorical{many}",
            categories=v.labels() if v.n_distinct <= MAX_CLASSES else (),
        )
    decided = number_type(v.numbers, v.is_integer, v.n_distinct)
    categories = v.labels() if decided.type.is_discrete_class else ()
    return Column(v.name, decided.type, f"{v.range_text()}, {decided.why}", categories=categories)


def _identifier_reason(v: _Values) -> str | None:
    key = v.name.strip().lower()
    if (key in _IDENTIFIER_NAMES or _UNNAMED_HEADER.match(key)) and (v.is_integer or not v.is_number):
        return (
            f"named {v.name!r} with {v.n_distinct} distinct {'integers' if v.is_number else 'labels'}"
            " -> identifier, excluded"
        )
    if v.is_integer and v.n_distinct == v.n_observed and v.n_distinct >= 3:
        steps = np.diff(v.numbers)
        if np.all(steps > 0) or np.all(steps < 0):
            return f"{v.range_text()}, one per row, in row order -> row index, excluded"
    if not v.is_number and v.n_distinct >= 3 and v.n_distinct >= IDENTIFIER_DISTINCT_SHARE * v.n_observed:
        return f"{v.n_distinct} distinct labels in {v.n_observed} filled rows -> identifier or free text, excluded"
    return None


def _stray_words_reason(v: _Values, series: pd.Series) -> str | None:
    if v.is_number or v.n_distinct <= MAX_CODED_CLASSES:
        return None
    labels = pd.Series(v.distinct, dtype=object).astype(str)
    is_word = pd.to_numeric(labels, errors="coerce").isna().to_numpy()
    if is_word.all() or (~is_word).sum() <= MAX_CODED_CLASSES:
        return None
    words = set(labels[is_word])
    word_cells = series.dropna().astype(str).isin(words)
    if 1 - word_cells.mean() < NUMBER_LIKE_SHARE:
        return None
    examples = ", ".join(repr(w) for w in sorted(words)[:3])
    return (
        f"numbers except {examples} ({int(word_cells.sum())} cells) -> excluded; mark those as missing "
        "(e.g. NA) for a numeric column, or set a type to keep them as classes"
    )


# --- checking a type someone chose -------------------------------------------------


def type_conflict(series: pd.Series, column_type: ColumnType) -> str | None:
    """Why ``series`` cannot hold ``column_type`` (naming an offending value), or None.
    Its cells are read as inference reads them (``core.cell_formats``)."""
    v = _Values(str(series.name), read_cells(series).values)
    traits = column_type.traits
    if v.n_distinct == 0:
        return "every cell is missing"
    if not traits.is_class:
        if not v.is_number:
            non_numbers = [x for x in v.labels() if not _is_number_text(x)]
            example = non_numbers[0] if non_numbers else v.labels()[0]
            return f"it holds text ({example!r}), not numbers"
        return traits.violation(v.numbers)
    if traits.n_classes is not None and v.n_distinct != traits.n_classes:
        shown = ", ".join(repr(x) for x in v.labels()[:4]) + (", ..." if v.n_distinct > 4 else "")
        return (
            f"it has {v.n_distinct} distinct values ({shown}), and {column_type.value} needs exactly {traits.n_classes}"
        )
    if v.n_distinct == 1:
        return f"it has a single value ({v.labels()[0]!r}), so it carries no class information"
    if v.n_distinct > MAX_CLASSES:
        return f"it has {v.n_distinct} distinct values, more than the {MAX_CLASSES} classes supported"
    return None


def column_of_type(series: pd.Series, column_type: ColumnType, reason: str) -> Column:
    """A column of the given type, with its categories from the data; DataError on conflict."""
    name = str(series.name)
    conflict = type_conflict(series, column_type)
    if conflict:
        raise DataError(f"column {name!r} cannot be {column_type.value}: {conflict}")
    cells = read_cells(series)
    categories = _Values(name, cells.values).labels() if column_type.is_discrete_class else ()
    return Column(name, column_type, reason, categories=categories, cells=cells.reading)


def validate_override(
    df: pd.DataFrame,
    schema: Schema,
    name: str,
    new_type: ColumnType | str | None = None,
    *,
    excluded: bool | None = None,
) -> Schema:
    """A new schema with column ``name`` retyped and/or excluded or included by the user.

    Raises DataError naming the column and an offending value when the data cannot
    hold the type (see ``type_conflict``), or when an all-missing column is included.
    """
    if name not in schema.names or name not in df.columns:
        raise DataError(f"no column named {name!r}")
    if new_type is None and excluded is None:
        raise DataError(f"nothing to change for column {name!r}: give a type or exclude/include it")
    current = schema[name]
    now_excluded = current.excluded if excluded is None else excluded
    if new_type is None:
        if now_excluded:
            return schema.replace_column(replace(current, excluded=True, reason="excluded by user"))
        conflict = type_conflict(df[name], current.type)
        if conflict:
            raise DataError(f"column {name!r} cannot be included: {conflict}")
        column = column_of_type(df[name], current.type, "included by user")
    else:
        column = column_of_type(df[name], _as_type(new_type), "set by user")
    return schema.replace_column(replace(column, excluded=now_excluded))


def _as_type(value: ColumnType | str) -> ColumnType:
    return value if isinstance(value, ColumnType) else parse_type(value)


# --- types from a file ---------------------------------------------------------------


def schema_from_types_file(df: pd.DataFrame, path_or_text: str | Path) -> Schema:
    """Apply a HI-VAE ``data_types.csv`` or a schema JSON (as a path or as its text) to ``df``.

    A ``data_types.csv`` lists the types of the columns ``infer_schema`` keeps (the
    identifiers and constants it excludes stay excluded) or of every column.
    A schema JSON names its columns; they must be exactly ``df``'s columns, and
    categories it lists (e.g. an ordinal's order) are kept when they cover the data.
    """
    text = _types_text(path_or_text)
    if text.lstrip().startswith("["):
        return _apply_schema_json(df, Schema.from_json(text))
    declared = [t for t, _ in read_hivae_types(text)]
    inferred = infer_schema(df)
    if len(declared) == len(inferred.features):
        targets = [c.name for c in inferred.features]
    elif len(declared) == len(df.columns):
        targets = list(df.columns)
    else:
        raise DataError(
            f"the types file lists {len(declared)} columns, but the table has "
            f"{len(inferred.features)} usable columns ({len(df.columns)} in all)"
        )
    schema = inferred
    for name, column_type in zip(targets, declared, strict=True):
        schema = schema.replace_column(declared_column(df[name], column_type, "the types file"))
    return schema


def declared_column(series: pd.Series, column_type: ColumnType, source: str) -> Column:
    """A column whose type the file named ``source`` declares; DataError on conflict.

    A declared positive column may hold zeros (the HI-VAE tables' amounts do):
    positive models 1 + x, as HI-VAE does.
    """
    return column_of_type(series, column_type, f"from {source}")


def _apply_schema_json(df: pd.DataFrame, given: Schema) -> Schema:
    if set(given.names) != set(df.columns):
        missing = [n for n in df.columns if n not in given.names]
        extra = [n for n in given.names if n not in df.columns]
        problem = (
            f"has no entry for column {missing[0]!r}"
            if missing
            else f"names column {extra[0]!r}, which the table lacks"
        )
        raise DataError(f"the schema JSON {problem}")
    columns = []
    for name in df.columns:
        wanted = given[name]
        if wanted.excluded:
            columns.append(wanted)
            continue
        column = declared_column(df[name], wanted.type, "the schema JSON")
        if wanted.reason and column.type is wanted.type:
            column = replace(column, reason=wanted.reason)
        if wanted.categories and column.type.is_discrete_class:
            unknown = set(column.categories) - set(wanted.categories)
            if unknown:
                raise DataError(
                    f"column {name!r} holds {sorted(unknown, key=str)[0]!r}, "
                    "which is not among the categories the schema JSON lists"
                )
            column = replace(column, categories=tuple(wanted.categories))
        columns.append(column)
    return Schema(tuple(columns))


def _types_text(path_or_text: str | Path) -> str:
    if isinstance(path_or_text, str) and ("\n" in path_or_text or path_or_text.lstrip().startswith("[")):
        return path_or_text
    return read_utf8_text(path_or_text, "types file")


def _is_number_text(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
