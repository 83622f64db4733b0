"""Inferred column types against declared ones: the HI-VAE tables' ``data_types.csv``
and the reviewed types of the bundled raw tables.

Paper tables: for every folder under the given path (default: the project's shared
``paper/`` data), reads the table, runs ``infer_schema`` on its values and prints per
column whether the types agree, differ in a way values alone cannot settle
("ambiguous"), or differ. The ambiguous cases, each only under the stated condition on
the values:

- ordinal declared, categorical inferred, integer codes: whether codes are ordered
  is not in the values;
- ordinal declared, count inferred, non-negative integers with at most
  ``MAX_GAPLESS_CODES`` values: a score from 0 whose frequencies fall away like a
  count's (letter's x-ege and y-ege, which are edge counts) is not told from a count
  by its values;
- a numerical type declared, categorical inferred, integers with few distinct
  values (at most ``MAX_GAPLESS_CODES``): a small count or a coarsely measured
  quantity looks like codes (Wine's quality 3..9, bank's previous contacts 0..7);
- real declared, positive inferred, no negative value: a Gaussian fits a positive
  quantity too, and positive models 1 + x so zeros fit it (bank's price index and call
  durations, diamonds' depth);
- real or positive declared, count inferred, non-negative integers: a measurement
  recorded in whole units looks like a count (ages, numbers of contacts);
- positive declared, real inferred, zeros and no negative values: positive models
  1 + x and accepts zeros, so such values fit both;
- categorical declared, binary inferred, two distinct values: the declared third
  class never occurs (defaultCredit's sex, declared with 3 classes).

Raw tables (``sample_data/*.csv``): ``RAW_ACCEPTED`` lists, column by column, every type
a statistician would accept for it; a column agrees when its inferred type is one of
them ("excluded" for identifiers and constants) and differs otherwise.

    python3 -m bench.agreement_table [FOLDER]     (from the repository root)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.inference import MAX_GAPLESS_CODES, infer_schema
from core.io import read_csv, read_hivae_folder
from core.schema import Column, ColumnType

PAPER_DATA = Path("/work/shared/data/paper")
RAW_DATA = Path(__file__).resolve().parent.parent / "sample_data"
AGREE, AMBIGUOUS, DIFFER = "agree", "ambiguous", "differ"
EXCLUDED = "excluded"
COUNTS_OR_CODES = {"categorical", "ordinal", "count"}

# The types a statistician accepts for each column of the raw tables, reviewed column by
# column from what the column measures (the tables' documentation) and its values.
RAW_ACCEPTED: dict[str, dict[str, set[str]]] = {
    "HI.csv": {
        "rownames": {EXCLUDED},
        "whrswk": {"count", "positive"},  # hours worked per week, 30 % zeros
        "hhi": {"binary"},
        "whi": {"binary"},
        "hhi2": {"binary"},
        "education": {"categorical", "ordinal"},
        "race": {"categorical"},
        "hispanic": {"binary"},
        "experience": {"real"},  # holds -1 and fractional years in this file
        "kidslt6": COUNTS_OR_CODES,  # numbers of children, 0..5
        "kids618": COUNTS_OR_CODES,
        "husby": {"positive", "real"},  # husband's income, 19 % zeros
        "region": {"categorical"},
        "wght": {"positive", "real"},  # a survey weight, 5182..1136869
    },
    "rwm5yr.csv": {
        "rownames": {EXCLUDED},
        "id": {EXCLUDED},
        "docvis": {"count"},  # doctor visits
        "hospvis": {"count"},  # hospital visits
        "year": {"categorical", "ordinal", "real"},  # 1984..1988
        "edlevel": {"categorical", "ordinal"},
        "age": {"count", "positive", "real"},
        "outwork": {"binary"},
        "female": {"binary"},
        "married": {"binary"},
        "kids": {"binary"},
        "hhninc": {"real", "positive"},  # household income
        "educ": {"positive", "real"},  # years of schooling, with halves
        "self": {"binary"},
        "edlevel1": {"binary"},
        "edlevel2": {"binary"},
        "edlevel3": {"binary"},
        "edlevel4": {"binary"},
    },
    "cps1.csv": {
        "rownames": {EXCLUDED},
        "trt": {EXCLUDED},  # constant 0
        "age": {"count", "positive", "real"},
        "educ": COUNTS_OR_CODES,  # years of schooling, 0..18
        "black": {"binary"},
        "hisp": {"binary"},
        "marr": {"binary"},
        "nodeg": {"binary"},
        "re74": {"positive", "real"},  # earnings, 11-14 % zeros
        "re75": {"positive", "real"},
        "re78": {"positive", "real"},
    },
    "diamonds.csv": {
        "rownames": {EXCLUDED},
        "carat": {"positive"},
        "cut": {"categorical", "ordinal"},
        "color": {"categorical", "ordinal"},
        "clarity": {"categorical", "ordinal"},
        "depth": {"positive", "real"},
        "table": {"positive", "real"},
        "price": {"positive"},  # dollars, 326..18823: an amount, not a count
        "x": {"real", "positive"},  # millimetres, a few zeros (errors)
        "y": {"real", "positive"},
        "z": {"real", "positive"},
    },
    "penguins.csv": {
        "rownames": {EXCLUDED},
        "species": {"categorical"},
        "island": {"categorical"},
        "bill_length_mm": {"positive", "real"},
        "bill_depth_mm": {"positive", "real"},
        "flipper_length_mm": {"count", "positive", "real"},  # whole millimetres, Poisson-like spread
        "body_mass_g": {"positive", "real"},  # grams, 2700..6300
        "sex": {"binary"},
        "year": {"categorical", "ordinal", "real"},
    },
    "CPS1985.csv": {
        "rownames": {EXCLUDED},
        "wage": {"positive"},
        "education": COUNTS_OR_CODES,  # years of schooling, 2..18
        "experience": {"count", "positive", "real"},
        "age": {"count", "positive", "real"},
        "ethnicity": {"categorical"},
        "region": {"binary"},
        "gender": {"binary"},
        "occupation": {"categorical"},
        "sector": {"categorical"},
        "union": {"binary"},
        "married": {"binary"},
    },
    "Housing.csv": {
        "rownames": {EXCLUDED},
        "price": {"positive"},  # dollars, 25000..190000
        "lotsize": {"positive"},  # square feet
        "bedrooms": COUNTS_OR_CODES,
        "bathrms": COUNTS_OR_CODES,
        "stories": COUNTS_OR_CODES,
        "driveway": {"binary"},
        "recroom": {"binary"},
        "fullbase": {"binary"},
        "gashw": {"binary"},
        "airco": {"binary"},
        "garagepl": COUNTS_OR_CODES,  # garage places, 0..3
        "prefarea": {"binary"},
    },
}


@dataclass(frozen=True)
class Agreement:
    table: str
    column: str
    declared: ColumnType
    inferred: ColumnType
    verdict: str
    why: str
    inferred_as: str = ""  # what inference said in words ("excluded" for an excluded column)

    @property
    def shown(self) -> str:
        return self.inferred_as or self.inferred.value


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
        pair == (ColumnType.ORDINAL, ColumnType.COUNT)
        and integers
        and observed.min() >= 0
        and observed.nunique() <= MAX_GAPLESS_CODES
    ):
        return AMBIGUOUS, "a score from 0 shaped like a count: whether it counts is not in the values"
    if (
        declared.type.is_numerical
        and inferred.type is ColumnType.CATEGORICAL
        and integers
        and observed.nunique() <= MAX_GAPLESS_CODES
    ):
        return AMBIGUOUS, "few distinct integers: looks like codes"
    if pair == (ColumnType.REAL, ColumnType.POSITIVE) and numeric and observed.min() >= 0:
        return AMBIGUOUS, "no negative values: real fits too"
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


def raw_agreements(path: Path) -> list[Agreement]:
    """One row per column of the raw table ``path``, judged against ``RAW_ACCEPTED``."""
    accepted = RAW_ACCEPTED[path.name]
    inferred = infer_schema(read_csv(path))
    if set(inferred.names) != set(accepted):
        raise ValueError(f"{path.name}: the reviewed columns {sorted(accepted)} are not the table's")
    rows = []
    for column in inferred.columns:
        got = EXCLUDED if column.excluded else column.type.value
        verdict = AGREE if got in accepted[column.name] else DIFFER
        why = "" if verdict == AGREE else f"accepted {sorted(accepted[column.name])}; {column.reason}"
        rows.append(Agreement(path.name, column.name, column.type, column.type, verdict, why, got))
    return rows


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else PAPER_DATA
    folders = sorted(p for p in root.iterdir() if (p / "data_types.csv").exists())
    print("paper tables (declared data_types.csv):")
    paper = _report([agreements(folder) for folder in folders], show=lambda r: f"declared {r.declared.value}")
    print("raw tables (reviewed types, RAW_ACCEPTED):")
    raw = _report([raw_agreements(RAW_DATA / name) for name in sorted(RAW_ACCEPTED)], show=lambda r: "")
    return 0 if paper[DIFFER] == 0 and raw[DIFFER] == 0 else 1


def _report(tables: list[list[Agreement]], show: Callable[[Agreement], str]) -> dict[str, int]:
    totals = {AGREE: 0, AMBIGUOUS: 0, DIFFER: 0}
    for rows in tables:
        counts = {v: sum(r.verdict == v for r in rows) for v in totals}
        print(
            f"  {rows[0].table}: {len(rows)} columns, {counts[AGREE]} agree, "
            f"{counts[AMBIGUOUS]} ambiguous, {counts[DIFFER]} differ"
        )
        groups: dict[tuple, list[str]] = {}
        for r in rows:
            if r.verdict != AGREE:
                groups.setdefault((show(r), r.shown, r.verdict, r.why), []).append(r.column)
        for (declared, inferred, verdict, why), columns in groups.items():
            print(f"    {_names(columns)}: {declared + ', ' if declared else ''}inferred {inferred}; {verdict}: {why}")
        for v in totals:
            totals[v] += counts[v]
    print(
        f"  all: {sum(totals.values())} columns, {totals[AGREE]} agree, {totals[AMBIGUOUS]} ambiguous, "
        f"{totals[DIFFER]} differ"
    )
    return totals


def _names(columns: list[str]) -> str:
    if len(columns) <= 4:
        return ", ".join(columns)
    return f"{columns[0]}, {columns[1]} ... {columns[-1]} ({len(columns)} columns)"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
