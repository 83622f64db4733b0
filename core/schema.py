"""Column types and the table schema: what each column is, and why we think so.

A schema is data only. Deciding types from values lives in ``inference``; reading
files lives in ``io``. This module knows the JSON form and the HI-VAE
``data_types.csv`` form (``type,dim,nclass``).
"""

from __future__ import annotations

import csv
import io as _io
import json
from dataclasses import dataclass, field, replace
from enum import StrEnum

from core.errors import DataError


class ColumnType(StrEnum):
    REAL = "real"
    POSITIVE = "positive"
    COUNT = "count"
    CATEGORICAL = "categorical"
    ORDINAL = "ordinal"
    BINARY = "binary"

    @property
    def is_numerical(self) -> bool:
        return self in (ColumnType.REAL, ColumnType.POSITIVE, ColumnType.COUNT)

    @property
    def is_discrete_class(self) -> bool:
        return self in (ColumnType.CATEGORICAL, ColumnType.ORDINAL, ColumnType.BINARY)


# HI-VAE's names for our types; binary is "cat" with two classes there.
_TO_HIVAE = {
    ColumnType.REAL: "real",
    ColumnType.POSITIVE: "pos",
    ColumnType.COUNT: "count",
    ColumnType.CATEGORICAL: "cat",
    ColumnType.ORDINAL: "ordinal",
    ColumnType.BINARY: "cat",
}
_FROM_HIVAE = {
    "real": ColumnType.REAL,
    "pos": ColumnType.POSITIVE,
    "count": ColumnType.COUNT,
    "cat": ColumnType.CATEGORICAL,
    "ordinal": ColumnType.ORDINAL,
}


def parse_type(text: str) -> ColumnType:
    """Accept our names, HI-VAE's names and a few obvious aliases."""
    aliases = {
        "pos": "positive",
        "cat": "categorical",
        "bin": "binary",
        "bool": "binary",
        "numeric": "real",
        "float": "real",
        "int": "count",
        "integer": "count",
    }
    key = str(text).strip().lower()
    try:
        return ColumnType(aliases.get(key, key))
    except ValueError:
        names = ", ".join(t.value for t in ColumnType)
        raise DataError(f"unknown column type {text!r} (expected one of: {names})") from None


@dataclass(frozen=True)
class Column:
    """One column of the table.

    ``categories`` holds the original labels in class order (sorted ascending for
    ordinals and for numerically coded classes) for the class types, and is empty
    for numerical types. ``n_classes`` equals ``len(categories)`` for class types and
    is ``None`` otherwise.
    """

    name: str
    type: ColumnType
    reason: str = ""
    excluded: bool = False
    categories: tuple = ()

    @property
    def n_classes(self) -> int | None:
        return len(self.categories) if self.type.is_discrete_class else None

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type.value,
            "n_classes": self.n_classes,
            "reason": self.reason,
            "excluded": self.excluded,
            "categories": list(self.categories),
        }

    @staticmethod
    def from_dict(d: dict) -> Column:
        return Column(
            name=str(d["name"]),
            type=parse_type(d["type"]),
            reason=d.get("reason", ""),
            excluded=bool(d.get("excluded", False)),
            categories=tuple(d.get("categories") or ()),
        )


@dataclass(frozen=True)
class Schema:
    """All columns of a table, in table order, excluded ones included."""

    columns: tuple[Column, ...] = field(default_factory=tuple)

    def __post_init__(self):
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

    def with_excluded(self, name: str, excluded: bool, reason: str | None = None) -> Schema:
        col = self[name]
        return self.replace_column(replace(col, excluded=excluded, reason=reason or col.reason))

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

    # --- HI-VAE data_types.csv ------------------------------------------------------
    def to_hivae_types(self) -> str:
        """``type,dim,nclass`` rows for the features, in order (excluded columns are left out)."""
        out = _io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["type", "dim", "nclass"])
        for c in self.features:
            if c.type.is_discrete_class:
                w.writerow([_TO_HIVAE[c.type], c.n_classes, c.n_classes])
            else:
                w.writerow([_TO_HIVAE[c.type], 1, ""])
        return out.getvalue()


def read_hivae_types(text: str) -> list[tuple[ColumnType, int | None]]:
    """Parse a ``data_types.csv``: one ``(type, n_classes)`` per column.

    ``cat`` with two classes becomes binary.
    """
    rows = list(csv.reader(_io.StringIO(text.lstrip("\ufeff"))))
    if not rows or [h.strip().lower() for h in rows[0][:3]] != ["type", "dim", "nclass"]:
        raise DataError("data_types.csv must start with the header 'type,dim,nclass'")
    out = []
    for i, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        kind = row[0].strip().lower()
        if kind not in _FROM_HIVAE:
            raise DataError(f"data_types.csv line {i}: unknown type {row[0]!r}")
        t = _FROM_HIVAE[kind]
        n = None
        if t.is_discrete_class:
            cell = (row[2] if len(row) > 2 and row[2].strip() else row[1]).strip()
            try:
                n = int(float(cell))
            except ValueError:
                raise DataError(f"data_types.csv line {i}: nclass {cell!r} is not a number") from None
            if t is ColumnType.CATEGORICAL and n == 2:
                t = ColumnType.BINARY
        out.append((t, n))
    return out


def _json_default(v):
    # numpy scalars in categories
    if hasattr(v, "item"):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
