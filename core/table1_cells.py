"""The cells a Table 1 results folder holds: ``DIR/cells.json``.

Every cell any run of ``core reproduce`` into the folder has had is listed there, so that a
rerun with fewer models or data sets adds its rows to the tables instead of dropping the
others'; a cell run again (its settings changed, say) takes its new entry. The list is read
again before each write, so two runs into one folder at once keep each other's cells.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from core.errors import DataError
from core.paper_table1 import DATASETS, MODEL_LABELS
from core.trial import Cell, settings_tuple, write_atomically


def read_cells(path: Path) -> list[Cell]:
    try:
        entries = json.loads(path.read_text())
        return [Cell(**{**e, "settings": settings_tuple(e["settings"])}) for e in entries]
    except FileNotFoundError:
        return []
    except (ValueError, TypeError, KeyError):
        raise DataError(f"{path} is not a list of Table 1 cells: move it away to start its list again") from None


def record_cells(path: Path, cells: Sequence[Cell], known: Sequence[Cell] = ()) -> list[Cell]:
    """Write ``cells`` into the list at ``path`` (with ``known``, cells listed earlier), each
    replacing an entry of its name; the whole list."""
    current = {cell.name for cell in cells}
    listed = {c.name: c for c in [*known, *read_cells(path)]}
    merged = [c for name, c in listed.items() if name not in current] + list(cells)
    entries = [{**asdict(c), "settings": dict(c.settings)} for c in merged]
    write_atomically(path, json.dumps(entries, indent=1))
    return merged


def table_cells(cells: Sequence[Cell], listed: Sequence[Cell], impute: bool) -> list[Cell]:
    """``cells`` and the ``listed`` ones of the same variant not among them, in the paper's
    order (models, then data sets)."""
    current = {cell.name for cell in cells}
    others = [c for c in listed if c.name not in current and c.impute == impute]
    models = list(MODEL_LABELS)

    def order(cell: Cell) -> tuple[int, int]:
        rank = models.index(cell.model) if cell.model in models else len(models)
        return rank, DATASETS.index(cell.dataset) if cell.dataset in DATASETS else len(DATASETS)

    return sorted([*cells, *others], key=order)
