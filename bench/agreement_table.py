"""Inferred column types against the declared ``data_types.csv`` of the HI-VAE tables.

For every folder under the given path (default: the project's shared ``paper/``
data), reads the table, runs ``infer_schema`` on its values and prints per column
whether the types agree, differ in a way values alone cannot settle ("ambiguous"),
or differ. The ambiguous cases, each only under the stated condition on the values:

- ordinal declared, categorical inferred, integer codes: whether codes are ordered
  is not in the values;
- a numerical type declared, categorical inferred, integers with few distinct
  values (at most ``MAX_GAPLESS_CODES``): a small count or a coarsely measured
  quantity looks like codes (Wine's quality 3..9, bank's previous contacts 0..7);
- real declared, positive inferred, every value above zero: a Gaussian fits a
  positive quantity too (bank's price index, diamonds' depth);
- real or positive declared, count inferred, non-negative integers: a measurement
  recorded in whole units looks like a count (amounts in dollars, prices, ages);
- positive declared, real inferred, zeros and no negative values: positive models
  1 + x and accepts zeros, so such values fit both (spam's word frequencies);
  inference says real, a declared positive stays positive;
- categorical declared, binary inferred, two distinct values: the declared third
  class never occurs (defaultCredit's sex, declared with 3 classes).

    python3 -m bench.agreement_table [FOLDER]     (from the repository root)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.inference import MAX_GAPLESS_CODES, infer_schema
from core.io import read_hivae_folder
from core.schema import Column, ColumnType

PAPER_DATA = Path("/work/shared/data/paper")
AGREE, AMBIGUOUS, DIFFER = "agree", "ambiguous", "differ"


@dataclass(frozen=True)
class Agreement:
    table: str
    column: str
    declared: ColumnType
    inferred: ColumnType
    verdict: str
    why: str


def judge(declared: Column, inferred: Column, values: pd.Series) -> tuple[str, str]:
    """(verdict, explanation) for one column; see the module docstring."""
    if inferred.excluded:
        return DIFFER, f"excluded: {inferred.reason}"
    if declared.type is inferred.type:
        return AGREE, ""
    observed = values.dropna()
    numeric = pd.api.types.is_numeric_dtype(observed.dtype)
    integers = numeric and bool(np.all(observed == np.round(observed)))
    pair = (declared.type, inferred.type)
    if pair == (ColumnType.ORDINAL, ColumnType.CATEGORICAL) and integers:
        return AMBIGUOUS, "integer codes: their order is not in the values"
    if (
        declared.type.is_numerical
        and inferred.type is ColumnType.CATEGORICAL
        and integers
        and observed.nunique() <= MAX_GAPLESS_CODES
    ):
        return AMBIGUOUS, "few distinct integers: looks like codes"
    if pair == (ColumnType.REAL, ColumnType.POSITIVE) and numeric and observed.min() > 0:
        return AMBIGUOUS, "all values above zero: real fits too"
    if (
        declared.type in (ColumnType.REAL, ColumnType.POSITIVE)
        and inferred.type is ColumnType.COUNT
        and integers
        and observed.min() >= 0
    ):
        return AMBIGUOUS, "non-negative whole numbers: looks like a count"
    if pair == (ColumnType.POSITIVE, ColumnType.REAL) and numeric and observed.min() == 0:
        return AMBIGUOUS, "values >= 0 with zeros: positive and real both fit"
    if pair == (ColumnType.CATEGORICAL, ColumnType.BINARY) and observed.nunique() == 2:
        return AMBIGUOUS, "only two of the declared classes occur"
    return DIFFER, inferred.reason


def agreements(folder: Path) -> list[Agreement]:
    table = read_hivae_folder(folder)
    inferred = infer_schema(table.data)
    rows = []
    for declared in table.schema.columns:
        guess = inferred[declared.name]
        verdict, why = judge(declared, guess, table.data[declared.name])
        rows.append(Agreement(folder.name, declared.name, declared.type, guess.type, verdict, why))
    return rows


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else PAPER_DATA
    folders = sorted(p for p in root.iterdir() if (p / "data_types.csv").exists())
    totals = {AGREE: 0, AMBIGUOUS: 0, DIFFER: 0}
    for folder in folders:
        rows = agreements(folder)
        counts = {v: sum(r.verdict == v for r in rows) for v in totals}
        print(
            f"{folder.name}: {len(rows)} columns, {counts[AGREE]} agree, "
            f"{counts[AMBIGUOUS]} ambiguous, {counts[DIFFER]} differ"
        )
        groups: dict[tuple, list[str]] = {}
        for r in rows:
            if r.verdict != AGREE:
                groups.setdefault((r.declared.value, r.inferred.value, r.verdict, r.why), []).append(r.column)
        for (declared, inferred, verdict, why), columns in groups.items():
            print(f"  {_names(columns)}: declared {declared}, inferred {inferred}; {verdict}: {why}")
        for v in totals:
            totals[v] += counts[v]
    print(
        f"all: {sum(totals.values())} columns, {totals[AGREE]} agree, {totals[AMBIGUOUS]} ambiguous, "
        f"{totals[DIFFER]} differ"
    )
    return 0 if totals[DIFFER] == 0 else 1


def _names(columns: list[str]) -> str:
    if len(columns) <= 4:
        return ", ".join(columns)
    return f"{columns[0]}, {columns[1]} ... {columns[-1]} ({len(columns)} columns)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
