"""How a column's cells are read before they are typed and encoded.

pandas reads ``12.5%``, ``$12,345``, ``1.234,50 €``, a number column with a stray
``unknown`` in it, and labels written ``Yes``/``YES``/``yes`` as text, each spelling its
own value. ``read_cells`` looks at a text column's distinct cells and says what they
hold:

- numbers written as text (``CellKind.NUMBER_TEXT``): a percent sign (``12.5%`` is
  12.5), a currency symbol or code, thousands separators, a decimal comma; the decimal
  mark is decided for the whole column from the cells that show it, and a column that
  shows both marks is left as text. Words that mean "missing" (``unknown``, ``n/a``, ...),
  or up to ``MAX_STRAY_WORDS`` other words in at most ``STRAY_WORD_SHARE`` of the cells
  of a column with many distinct numbers, are read as missing;
- labels that differ only in case or surrounding spaces (``CellKind.ANY_CASE``): one
  class, spelt as its most common spelling;
- dates or times of day: reported (``ReadCells.dates``), so that inference can exclude
  the column with that reason: they are not modelled.

The reading is kept on the column (``Column.cells``) and the codecs apply it whenever they
read cells, so a column typed from ``12.5%`` trains on 12.5 and decodes to 12.5.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

MAX_STRAY_WORDS = 3
STRAY_WORD_SHARE = 0.1
# Coded classes have at most this many distinct numbers (core.inference's limit): with
# so few, a word among them is a label ("other"), not a stray word.
FEW_NUMBERS = 20
DATE_SHARE = 0.9  # share of the filled cells that must look like dates or times

# Words that say a value is missing (compared in lower case). "none" is not among them:
# in a number column it often means 0.
MISSING_WORDS = frozenset(
    {
        "unknown",
        "unk",
        "missing",
        "na",
        "n/a",
        "n.a.",
        "n.a",
        "nan",
        "null",
        "nil",
        "-",
        "--",
        "---",
        ".",
        "..",
        "?",
        "??",
        "not available",
        "not known",
        "not applicable",
        "no data",
        "no answer",
        "refused",
        "don't know",
        "dont know",
        "undefined",
        "blank",
        "#n/a",
        "#value!",
        "#div/0!",
    }
)
_SYMBOLS = "$€£¥₹₩₽"
_CODES = "USD|EUR|GBP|JPY|CHF|CAD|AUD|INR|CNY|SEK|NOK|DKK"
# a symbol or an ISO code before the number (US$ too) or after it
_CURRENCY = re.compile(
    rf"^(?:US\$|[{_SYMBOLS}]|(?:{_CODES})(?=[\s\d.,+-]))\s*|\s*(?:[{_SYMBOLS}]|(?<=[\s\d])(?:{_CODES}))$"
)
_PERCENT = re.compile(r"\s*%$")
_PLAIN = re.compile(r"^\d+(?:\.\d*)?(?:[eE][+-]?\d+)?$|^\.\d+(?:[eE][+-]?\d+)?$")
_DATE = re.compile(
    r"^(?:\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}([/.-])\d{1,2}\1\d{2,4})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_TIME = re.compile(r"^\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s?[AaPp][Mm])?$")


class CellKind(StrEnum):
    AS_READ = "as read"
    NUMBER_TEXT = "number text"
    ANY_CASE = "labels in any case"


@dataclass(frozen=True)
class CellReading:
    """How to read a column's cells: as pandas read them, as numbers written as text (with
    ``decimal`` as the decimal mark and ``missing_words`` read as missing), or as labels
    in any case (each cell becomes the category it spells)."""

    kind: CellKind = CellKind.AS_READ
    decimal: str = "."
    missing_words: tuple[str, ...] = ()

    def read_numbers(self, series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """float64 values (NaN where missing or not a number) and which cells are filled
        (not missing, not a missing word): a filled NaN is a cell that is not a number."""
        filled = series.notna().to_numpy()
        if self.kind is not CellKind.NUMBER_TEXT or pd.api.types.is_numeric_dtype(series.dtype):
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            return values, filled
        text = series.astype(str).str.strip()
        words = {w.casefold() for w in self.missing_words}
        distinct = pd.unique(text[filled])
        numbers = {s: _number(s, self.decimal) for s in distinct}
        values = np.where(filled, text.map(numbers).to_numpy(dtype=np.float64, na_value=np.nan), np.nan)
        is_word = text.str.casefold().isin(words).to_numpy()
        return values, filled & ~is_word

    def read(self, series: pd.Series, categories: tuple = ()) -> tuple[pd.Series, np.ndarray]:
        """The values the cells hold (numbers for number text, each cell as the category
        of ``categories`` it spells for labels in any case, the cells themselves otherwise)
        and which cells are filled: a filled cell whose value is missing holds no number."""
        if self.kind is CellKind.NUMBER_TEXT:
            values, filled = self.read_numbers(series)
            return pd.Series(values, index=series.index, name=series.name), filled
        if self.kind is CellKind.ANY_CASE:
            spelt = {_label_key(c): c for c in categories}
            series = series.map(lambda cell: spelt.get(_label_key(cell), cell) if pd.notna(cell) else cell)
        return series, series.notna().to_numpy()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "decimal": self.decimal, "missing_words": list(self.missing_words)}

    @staticmethod
    def from_dict(d: dict[str, Any] | None) -> CellReading:
        if not d:
            return AS_READ
        return CellReading(CellKind(d["kind"]), str(d.get("decimal", ".")), tuple(d.get("missing_words") or ()))


AS_READ = CellReading()


@dataclass(frozen=True)
class ReadCells:
    """What ``read_cells`` found: the reading, the values it gives (numbers as float or
    labels; missing as NaN), a note on how they were read for the column's reason ("" when
    as read), and why the column holds dates or times (None if it does not)."""

    reading: CellReading
    values: pd.Series
    note: str = ""
    dates: str | None = None


def read_cells(series: pd.Series) -> ReadCells:
    """How ``series``'s cells should be read (see the module docstring)."""
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return ReadCells(AS_READ, series)
    observed = series.dropna()
    if observed.empty or not all(isinstance(v, str) for v in observed.iloc[:1000]):
        return ReadCells(AS_READ, series)
    counts = observed.astype(str).str.strip().value_counts()
    dates = _dates_reason(counts)
    if dates:
        return ReadCells(AS_READ, series, dates=dates)
    as_numbers = _number_reading(counts)
    if as_numbers is not None:
        reading, note = as_numbers
        return ReadCells(reading, reading.read(series)[0], note)
    spellings = _spellings(counts)
    if spellings is not None:
        canonical, note = spellings
        reading = CellReading(CellKind.ANY_CASE)
        return ReadCells(reading, reading.read(series, canonical)[0], note)
    return ReadCells(AS_READ, series)


def _label_key(cell: Any) -> Any:
    return cell.strip().casefold() if isinstance(cell, str) else cell


def _spellings(counts: pd.Series) -> tuple[tuple, str] | None:
    """The classes (each as its most common spelling) when some labels differ only in case."""
    groups: dict[str, list[str]] = {}
    for label in counts.index:  # most common first
        groups.setdefault(_label_key(label), []).append(label)
    merged = [spelt for spelt in groups.values() if len(spelt) > 1]
    if not merged:
        return None
    example = max(merged, key=len)
    shown = ", ".join(repr(s) for s in sorted(example)[:4])
    note = (
        f"labels that differ only in case read as one class ({shown} -> {example[0]!r}"
        f"{'; ' + str(len(merged)) + ' such classes' if len(merged) > 1 else ''})"
    )
    return tuple(spelt[0] for spelt in groups.values()), note


def _dates_reason(counts: pd.Series) -> str | None:
    strings = counts.index.to_series()
    total = counts.sum()
    for pattern, what in ((_DATE, "dates"), (_TIME, "times of day")):
        matching = strings.str.match(pattern).to_numpy()
        if counts[matching].sum() >= DATE_SHARE * total:
            example = strings[matching].iloc[0]
            return (
                f"{what} such as {example!r} -> excluded: {what} are not modelled; to use them, "
                "add a number such as the days (or minutes) since the first one"
            )
    return None


def _number_reading(counts: pd.Series) -> tuple[CellReading, str] | None:
    """The reading that turns the text into numbers, and its note; None if it is not numbers."""
    bodies = {s: _strip_decorations(s) for s in counts.index}
    decimal = _decimal_mark([body for body, _, _ in bodies.values() if body is not None])
    if decimal is None:
        return None
    numbers = {s: _number(s, decimal) for s in counts.index}
    is_number = np.array([numbers[s] is not None for s in counts.index])
    if not is_number.any():
        return None
    words = [s for s, ok in zip(counts.index, is_number, strict=True) if not ok]
    other_words = [w for w in words if w.casefold() not in MISSING_WORDS]
    n_numbers = len({numbers[s] for s in counts.index[is_number]})
    if other_words and (
        len(other_words) > MAX_STRAY_WORDS
        or counts[other_words].sum() > STRAY_WORD_SHARE * counts.sum()
        or n_numbers <= FEW_NUMBERS
    ):
        return None
    decorated = [bodies[s] for s in counts.index[is_number]]
    percent = [d[1] for d in decorated]
    currency = [d[2] for d in decorated]
    # every non-zero number carries the sign, or none does: mixing 12% with 0.3 has no safe reading
    nonzero = [numbers[s] != 0 for s in counts.index[is_number]]
    for flags in (percent, currency):
        if any(flags) and not all(f for f, z in zip(flags, nonzero, strict=True) if z):
            return None
    notes = _number_notes(counts.index[is_number], decimal, any(percent), any(currency), numbers)
    if words:
        shown = ", ".join(repr(w) for w in sorted(words)[:3]) + (", ..." if len(words) > 3 else "")
        n_cells = int(counts[words].sum())
        notes.append(f"{shown} ({n_cells} cell{'s' if n_cells != 1 else ''}) read as missing")
    if not notes:
        notes.append("numbers written as text read as numbers")
    return CellReading(CellKind.NUMBER_TEXT, decimal, tuple(sorted(words))), "; ".join(notes)


def _number_notes(
    strings: pd.Index, decimal: str, percent: bool, currency: bool, numbers: dict[str, float | None]
) -> list[str]:
    grouping = "," if decimal == "." else "."
    example = next((s for s in strings if grouping in s or decimal != "."), strings[0])
    shown = f"{example!r} is {numbers[example]:g}"
    if percent:
        return [f"percent strings read as numbers of percent ({shown})"]
    if currency:
        return [f"currency amounts read as numbers ({shown})"]
    if any(grouping in s for s in strings) or decimal != ".":
        mark = "decimal comma" if decimal == "," else "thousands separators"
        return [f"numbers with {mark} read as numbers ({shown})"]
    return []


def _strip_decorations(cell: str) -> tuple[str | None, bool, bool]:
    """(sign and digits, whether a percent sign, whether a currency) of one cell."""
    text = cell.strip()
    negative = text.startswith("(") and text.endswith(")")
    if negative:
        text = text[1:-1].strip()
    sign = ""
    if text.startswith(("+", "-")):
        sign, text = text[0], text[1:].lstrip()
    percent = bool(_PERCENT.search(text))
    text = _PERCENT.sub("", text)
    stripped = _CURRENCY.sub("", text)
    currency = stripped != text
    if not sign and stripped.startswith(("+", "-")):  # the sign after the symbol: $-12
        sign, stripped = stripped[0], stripped[1:].lstrip()
    if not stripped or not (stripped[0].isdigit() or stripped[0] in ".,"):
        return None, percent, currency
    if negative:
        sign = "-" if sign != "-" else ""
    return sign + stripped, percent, currency


def _decimal_mark(bodies: list[str]) -> str | None:
    """'.' or ',' as the column's decimal mark; None when its cells show both."""
    decimal_votes: set[str] = set()
    for body in bodies:
        digits = body.lstrip("+-")
        if "," in digits and "." in digits:
            decimal_votes.add("," if digits.rfind(",") > digits.rfind(".") else ".")
            continue
        for mark in ",.":
            if digits.count(mark) == 1 and len(digits) - digits.rfind(mark) - 1 != 3:
                decimal_votes.add(mark)
            elif digits.count(mark) > 1:
                decimal_votes.add("," if mark == "." else ".")
    if len(decimal_votes) > 1:
        return None
    return decimal_votes.pop() if decimal_votes else "."


def _number(cell: Any, decimal: str) -> float | None:
    """The number one cell writes, with ``decimal`` as its decimal mark; None if none."""
    if not isinstance(cell, str):
        return None
    body, _, _ = _strip_decorations(cell)
    if body is None:
        return None
    sign = -1.0 if body.startswith("-") else 1.0
    digits = body.lstrip("+-")
    grouping = "," if decimal == "." else "."
    whole, _, fraction = digits.partition(decimal)
    if grouping in whole:
        groups = whole.split(grouping)
        if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
            return None
        whole = "".join(groups)
    plain = whole + ("." + fraction if fraction or digits.endswith(decimal) else "")
    if grouping in fraction or not _PLAIN.match(plain):
        return None
    return sign * float(plain)
