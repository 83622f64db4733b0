"""Column types and the table schema: what each column is, and why we think so.

A schema is data only. Deciding types from values lives in ``inference``; reading
files lives in ``io``; what the library does with each type (likelihood, network
input, metric, chart) lives in ``column_types``. This module keeps the facts about a
type that need no model: its HI-VAE name, whether it holds classes, and which values
it accepts. It knows the JSON form and the HI-VAE ``data_types.csv`` form
(``type,dim,nclass``).
"""

from __future__ import annotations

import csv
import io as _io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from core.cell_formats import AS_READ, CellReading
from core.errors import DataError


class ColumnType(StrEnum):
    """A column's type: ``traits`` says what it is; ``core.column_types.SPECS`` what is done with it."""

    REAL = "real"
    POSITIVE = "positive"
    COUNT = "count"
    CATEGORICAL = "categorical"
    ORDINAL = "ordinal"
    BINARY = "binary"

    @property
    def traits(self) -> TypeTraits:
        return TRAITS[self]

    @property
    def is_numerical(self) -> bool:
        return not TRAITS[self].is_class

    @property
    def is_discrete_class(self) -> bool:
        return TRAITS[self].is_class

    @property
    def hivae_name(self) -> str:
        return TRAITS[self].hivae_name


@dataclass(frozen=True)
class ValueCheck:
    """A condition every value of a numerical column must meet."""

    accepts: Callable[[np.ndarray], np.ndarray]  # elementwise, on finite numbers
    failure: str  # completes "it holds <value>, ..."


@dataclass(frozen=True)
class TypeTraits:
    """What a column type is, independently of any model.

    ``n_classes`` is the number of classes the type requires (binary: 2), ``None``
    for any number (and for numerical types). ``checks`` say which numbers a
    numerical type accepts beyond being finite; they are the validity rule that
    overrides, types files and the encoder apply.
    """

    hivae_name: str
    is_class: bool
    n_classes: int | None = None
    checks: tuple[ValueCheck, ...] = ()

    def violation(self, numbers: np.ndarray) -> str | None:
        """Why finite ``numbers`` cannot be of this type ("it holds -1, and ..."), naming
        the smallest value that fails the first check some value fails; None if all pass."""
        for check in self.checks:
            failing = numbers[~check.accepts(numbers)]
            if failing.size:
                return f"it holds {format_number(failing.min())}, {check.failure}"
        return None


def format_number(x: float) -> str:
    """A value as a person would write it in a message: 3 rather than 3.0, 1e+300 rather than 301 digits."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.6g}"


# Likelihoods compute in float32, and a Normal squares the distance to its mean: beyond
# about 1.8e19 that square overflows and the first step's loss is NaN.
MAX_MAGNITUDE = 1e18


def _is_whole(values: np.ndarray) -> np.ndarray:
    return values == np.round(values)


def _is_non_negative(values: np.ndarray) -> np.ndarray:
    return values >= 0


def _is_within_float32_arithmetic(values: np.ndarray) -> np.ndarray:
    return np.abs(values) <= MAX_MAGNITUDE


IN_RANGE = ValueCheck(
    _is_within_float32_arithmetic,
    f"beyond ±{MAX_MAGNITUDE:g}, where the model's float32 arithmetic overflows; rescale the column "
    "(divide it by a power of ten)",
)


# Positive accepts zeros: its likelihood models 1 + x, as HI-VAE's does (amounts are often 0).
# Binary is HI-VAE's "cat" with two classes.
TRAITS: dict[ColumnType, TypeTraits] = {
    ColumnType.REAL: TypeTraits("real", is_class=False, checks=(IN_RANGE,)),
    ColumnType.POSITIVE: TypeTraits(
        "pos",
        is_class=False,
        checks=(IN_RANGE, ValueCheck(_is_non_negative, "and positive values cannot be negative")),
    ),
    ColumnType.COUNT: TypeTraits(
        "count",
        is_class=False,
        checks=(
            IN_RANGE,
            ValueCheck(_is_whole, "which is not a whole number"),
            ValueCheck(_is_non_negative, "and counts cannot be negative"),
        ),
    ),
    ColumnType.CATEGORICAL: TypeTraits("cat", is_class=True),
    ColumnType.ORDINAL: TypeTraits("ordinal", is_class=True),
    ColumnType.BINARY: TypeTraits("cat", is_class=True, n_classes=2),
}

_ALIASES = {
    "bin": ColumnType.BINARY,
    "bool": ColumnType.BINARY,
    "numeric": ColumnType.REAL,
    "float": ColumnType.REAL,
    "int": ColumnType.COUNT,
    "integer": ColumnType.COUNT,
}


def type_from_hivae(name: str, n_classes: int | None = None) -> ColumnType | None:
    """The type HI-VAE calls ``name`` (with ``n_classes`` classes), or None.

    Among types sharing a name, one that requires exactly ``n_classes`` classes wins
    (``cat`` with 2 is binary), else the one that takes any number.
    """
    named = [t for t in ColumnType if TRAITS[t].hivae_name == name]
    exact = [t for t in named if n_classes is not None and TRAITS[t].n_classes == n_classes]
    unrestricted = [t for t in named if TRAITS[t].n_classes is None]
    candidates = exact or unrestricted
    return candidates[0] if candidates else None


def parse_type(text: str) -> ColumnType:
    """Accept our names, HI-VAE's names and a few obvious aliases."""
    key = str(text).strip().lower()
    found = next((t for t in ColumnType if t.value == key), None) or type_from_hivae(key) or _ALIASES.get(key)
    if found is None:
        names = ", ".join(t.value for t in ColumnType)
        raise DataError(f"unknown column type {text!r} (expected one of: {names})")
    return found


@dataclass(frozen=True)
class Column:
    """One column of the table.

    ``categories`` holds the original labels in class order (sorted ascending for
    ordinals and for numerically coded classes) for the class types, and is empty
    for numerical types. ``n_classes`` equals ``len(categories)`` for class types and
    is ``None`` otherwise. ``cells`` says how its cells are read (``core.cell_formats``):
    as pandas read them, or as numbers or labels written as text.
    """

    name: str
    type: ColumnType
    reason: str = ""
    excluded: bool = False
    categories: tuple = ()
    cells: CellReading = AS_READ

    @property
    def n_classes(self) -> int | None:
        return len(self.categories) if self.type.is_discrete_class else None

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "type": self.type.value,
            "n_classes": self.n_classes,
            "reason": self.reason,
            "excluded": self.excluded,
            "categories": list(self.categories),
        }
        # only when not as read: the JSON of a plain column stays as it always was
        return out if self.cells == AS_READ else {**out, "cells": self.cells.to_dict()}

    @staticmethod
    def from_dict(d: dict) -> Column:
        return Column(
            name=str(d["name"]),
            type=parse_type(d["type"]),
            reason=d.get("reason", ""),
            excluded=bool(d.get("excluded", False)),
            categories=tuple(d.get("categories") or ()),
            cells=CellReading.from_dict(d.get("cells")),
        )


@dataclass(frozen=True)
class Schema:
    """All columns of a table, in table order, excluded ones included."""

    columns: tuple[Column, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise DataError(f"duplicate column name {sorted(dup)[0]!r}")

    @property
    def features(self) -> tuple[Column, ...]:
        """The columns a model trains on (not excluded)."""
        return tuple(c for c in self.columns if not c.excluded)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.columns)

    def replace_column(self, column: Column) -> Schema:
        return Schema(tuple(column if c.name == column.name else c for c in self.columns))

    # --- JSON -----------------------------------------------------------------
    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps([c.to_dict() for c in self.columns], indent=indent, default=_json_default)

    @staticmethod
    def from_json(text: str) -> Schema:
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"schema JSON is not valid JSON: {e.msg} at line {e.lineno}") from None
        if not isinstance(items, list):
            raise DataError("schema JSON must be a list of columns")
        return Schema(tuple(Column.from_dict(d) for d in items))


def read_hivae_types(text: str) -> list[tuple[ColumnType, int | None]]:
    """Parse a ``data_types.csv``: one ``(type, n_classes)`` per column (see ``type_from_hivae``)."""
    rows = list(csv.reader(_io.StringIO(text.lstrip("\ufeff"))))
    if not rows or [h.strip().lower() for h in rows[0][:3]] != ["type", "dim", "nclass"]:
        raise DataError("data_types.csv must start with the header 'type,dim,nclass'")
    out: list[tuple[ColumnType, int | None]] = []
    for i, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        kind = row[0].strip().lower()
        named = type_from_hivae(kind)
        if named is None:
            raise DataError(f"data_types.csv line {i}: unknown type {row[0]!r}")
        n = None
        if named.is_discrete_class:
            cell = (row[2] if len(row) > 2 and row[2].strip() else row[1]).strip()
            try:
                n = int(float(cell))
            except ValueError:
                raise DataError(f"data_types.csv line {i}: nclass {cell!r} is not a number") from None
        out.append((type_from_hivae(kind, n) or named, n))
    return out


def _json_default(value: Any) -> Any:
    # numpy scalars in categories
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
