"""Table 1 from finished trials: ``table.csv`` and ``table.md`` (``impute_table.*`` for the
imputation variant), two rows per cell, plain and multi-objective.

Columns: ``model, dataset, training`` (``plain`` or ``multi-objective``), ``method`` (the
scan's choice; empty until it is made), ``seeds`` (finished seeds that did not stop
early), ``epochs``, ``mean_error`` (median over those seeds of the test mean error,
ordinals by error rate), ``mean_error_paper_metric`` (the same with ordinals by class
shift, the paper's metric), ``iqr`` (interquartile range over seeds of ``mean_error``),
``overlooked`` (median number of overlooked columns), ``paper`` (the paper's cell;
empty where the paper has none) and ``rules`` (a multi-objective row's combination rules,
``core.trial.COMBINATION_RULES``: a cell not yet run under the current ones shows its
trials under the earlier ones, so said).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.paper_table1 import MODEL_LABELS, MULTI_OBJECTIVE, PAPER_CELLS, PLAIN
from core.trial import COMBINATION_RULES, Cell, write_atomically

COLUMNS = (
    "model",
    "dataset",
    "training",
    "method",
    "seeds",
    "epochs",
    "mean_error",
    "mean_error_paper_metric",
    "iqr",
    "overlooked",
    "paper",
    "rules",
)


def table_rows(
    cells: Sequence[Cell], chosen: dict[str, str | None], records: dict[str, dict], seeds: int
) -> list[dict]:
    rows = []
    for cell in cells:
        split = "test_imputation" if cell.impute else "test"
        plain = None if cell.skipped else "none"
        for training, method in ((PLAIN, plain), (MULTI_OBJECTIVE, chosen.get(cell.name))):
            runs, rules = _finished_runs(cell, method, records, seeds, split) if method else ([], None)
            errors = [r["mean_error"] for r in runs if r["mean_error"] is not None]
            rows.append(
                {
                    "model": cell.model,
                    "dataset": cell.dataset,
                    "training": training,
                    "method": method or "",
                    "seeds": len(errors),
                    "epochs": cell.epochs,
                    "mean_error": _median(errors),
                    "mean_error_paper_metric": _median([r["mean_error_paper_metric"] for r in runs]),
                    "iqr": float(np.subtract(*np.percentile(errors, [75, 25]))) if errors else None,
                    "overlooked": _median([r["overlooked"] for r in runs]),
                    "paper": None if cell.impute else PAPER_CELLS.get((cell.model, cell.dataset, training)),
                    "rules": rules if method != "none" else None,
                }
            )
    return rows


def _finished_runs(
    cell: Cell, method: str, records: dict[str, dict], seeds: int, split: str
) -> tuple[list[dict], int | None]:
    """The scores of the method's finished seeds under the current combination rules, else (a
    cell not run again yet) under the latest earlier rules that have some, and those rules."""
    for rules in range(COMBINATION_RULES, 0, -1):
        keys = [cell.trial(method, s, cell.epochs).key_under(rules) for s in range(seeds)]
        runs = [records[k][split] for k in keys if k in records and records[k]["stopped_by"] is None]
        if runs:
            return runs, rules
    return [], None


def write_tables(
    out: Path,
    cells: Sequence[Cell],
    chosen: dict[str, str | None],
    records: dict[str, dict],
    seeds: int,
    notes: Sequence[str],
    scan_epochs: dict[str, int] | None = None,
) -> list[Path]:
    """Write the CSV and the Markdown table (each atomically: the lead commits them as they grow)."""
    rows = table_rows(cells, chosen, records, seeds)
    stem = "impute_table" if cells and cells[0].impute else "table"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
    paths = [out / f"{stem}.csv", out / f"{stem}.md"]
    write_atomically(paths[0], buffer.getvalue())
    write_atomically(paths[1], markdown(rows, cells, notes, scan_epochs or {}))
    return paths


def markdown(rows: Sequence[dict], cells: Sequence[Cell], notes: Sequence[str], scan_epochs: dict[str, int]) -> str:
    """The table, its notes and every cell's settings (with its scan's length where known)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        shown = {**row, "model": MODEL_LABELS.get(row["model"], row["model"])}
        lines.append("| " + " | ".join(_md_cell(shown[c]) for c in COLUMNS) + " |")
    lines += ["", *notes, ""]
    skipped = [c for c in cells if c.skipped]
    lines += [f"- {MODEL_LABELS.get(c.model, c.model)} on {c.dataset}: {c.skipped}." for c in skipped]
    lines += ["", "Settings per cell (the paper's, then the overrides given):", ""]
    lines += [
        f"- {c.name}: {c.epochs} epochs, "
        + (f"scan {scan_epochs[c.name]} epochs, " if c.name in scan_epochs else "")
        + ", ".join(f"{k} {_md_cell(v)}" for k, v in c.settings)
        for c in cells
        if not c.skipped
    ]
    return "\n".join(lines) + "\n"


def _median(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.median(finite)) if finite else None


def _csv_cell(value: object) -> object:
    return "" if value is None else value


def _md_cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)
