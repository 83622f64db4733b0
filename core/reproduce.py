"""The paper's Table 1 protocol on the grid engine: resumable, one trial file at a time.

For each model and data set (a *cell*):

1. scan: every candidate method trains once, seed 0, for ``scan_epochs``; the method with
   the lowest validation mean error (imputation error with ``impute``) becomes the cell's
   multi-objective method. The choice is recorded in ``DIR/choices.json`` with the scan's
   settings and reused on resume while they are the same;
2. table: plain training (method ``none``) and the chosen method, seeds 0..seeds-1, at the
   cell's epochs. Plain seeds need no scan and start at once.

Every finished trial is written under ``DIR/trials/`` (``core.trial``) the moment it
arrives, and the tables (``core.table1_report``) are rewritten, so an interrupted grid
loses nothing it finished and a rerun with the same ``DIR`` runs only what is missing.
Cells run in order (a cell's scan, then its table, then the next cell), so with few
workers the table fills cell by cell.

The tables hold every cell any run into ``DIR`` has had (``core.table1_cells``). It and
``choices.json`` are read again before each write, so two runs into one folder at once (the
imputation variant beside the table, say) keep each other's entries.

Settings per cell: the paper's (``core.paper_table1.paper_settings``), then the
overrides in the order given, each ``[SCOPE.]name=value`` with an optional model or
data set name as scope and a TrainConfig field (or ``epochs``, or ``scan_epochs``) as name.
A cell scanned at its own epochs (``Wine.scan_epochs=200`` with 200-epoch cells) is chosen
the paper's way, at full length; its scan's seed-0 trials are then the table's seed 0 too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.config import TrainConfig
from core.errors import DataError
from core.io import LoadedTable, load_table
from core.models import model_class
from core.mtl import make_method
from core.paper_table1 import BUNDLED, DATASETS, NOT_BUNDLED, dataset_path, paper_settings
from core.ray_engine import Finished, Progress, RaySession, Task
from core.table1_cells import read_cells, record_cells, table_cells
from core.table1_overrides import Override, parse_override
from core.table1_report import write_tables
from core.trial import (
    COMBINATION_RULES,
    Cell,
    Trial,
    TrialStore,
    run_trials_stacked,
    settings_tuple,
    write_atomically,
)

# parse_override lives in core.table1_overrides; imported here so that core.reproduce keeps it
__all__ = ["Override", "Protocol", "Reproduction", "parse_override"]

_SCAN, _TABLE = 0, 1
# A worker trains up to this many trials of one cell and length side by side in one stacked
# model (``core.run_stacked``: the same numbers as each alone, about twice the throughput on a
# core); few enough that a bundle finishes, and reports, while the grid goes on.
BUNDLE_TRIALS = 8


@dataclass(frozen=True)
class Protocol:
    models: tuple[str, ...]
    datasets: tuple[str, ...]  # in the paper's order; IMDB only to report it missing
    seeds: int
    scan_epochs: int
    candidates: tuple[str, ...]
    impute: bool = False
    overrides: tuple[Override, ...] = ()

    def validate(self) -> Protocol:
        """DataError on the first bad model, data set, method or setting (before any work)."""
        for model in self.models:
            model_class(model)
        for dataset in self.datasets:
            if dataset not in DATASETS:
                raise DataError(f"unknown data set {dataset!r} (Table 1 has: {', '.join(DATASETS)})")
        for method in self.candidates:
            make_method(method)
        if not self.candidates:
            raise DataError("give at least one candidate method")
        if self.seeds < 1 or self.scan_epochs < 1:
            raise DataError("--seeds and --scan-epochs must be at least 1")
        for model in self.models:
            for dataset in self.datasets:
                settings = self.settings(model, dataset)
                if settings.pop("epochs") < 1:
                    raise DataError(f"{model} on {dataset}: epochs must be at least 1")
                if self.scan_epochs_of(model, dataset) < 1:
                    raise DataError(f"{model} on {dataset}: scan_epochs must be at least 1")
                TrainConfig(model=model, **settings).validate()
        return self

    def settings(self, model: str, dataset: str) -> dict:
        """The cell's TrainConfig fields and ``epochs``."""
        settings = paper_settings(model, dataset)
        for override in self.overrides:
            if override.applies(model, dataset) and override.name != "scan_epochs":
                settings[override.name] = override.value
        return settings

    def scan_epochs_of(self, model: str, dataset: str) -> int:
        """``--scan-epochs``, or the last ``scan_epochs`` override for the cell."""
        epochs = self.scan_epochs
        for override in self.overrides:
            if override.applies(model, dataset) and override.name == "scan_epochs" and isinstance(override.value, int):
                epochs = override.value
        return epochs

    def cells(self) -> list[Cell]:
        cells = []
        for model in self.models:
            for dataset in DATASETS:
                if dataset not in self.datasets and dataset in BUNDLED:
                    continue  # a missing data set is always listed, to say that it is missing
                if dataset in NOT_BUNDLED:
                    reason: str | None = NOT_BUNDLED[dataset]
                elif self.impute and not _has_impute_mask(dataset):
                    reason = "no Missing20_1.csv: no imputation test"
                else:
                    reason = None
                settings = self.settings(model, dataset)
                epochs = settings.pop("epochs")
                cells.append(Cell(model, dataset, self.impute, epochs, settings_tuple(settings), reason))
        return cells


def _has_impute_mask(dataset: str) -> bool:
    return (Path(dataset_path(dataset)) / "Missing20_1.csv").exists()


ReportFn = Callable[[Progress], None]


class Reproduction:
    """One run of the protocol into ``out`` (see the module doc)."""

    def __init__(self, protocol: Protocol, out: str | Path) -> None:
        self.protocol = protocol.validate()
        self.out = Path(out)
        self.store = TrialStore(self.out / "trials")
        self.cells = protocol.cells()
        self.records = self.store.finished()
        self.choices_path = self.out / "choices.json"
        self.choices: dict[str, dict] = _read_json(self.choices_path)
        self.cells_path = self.out / "cells.json"
        self.earlier_cells = read_cells(self.cells_path)
        self.failed: list[Finished] = []
        self.ran = 0
        self._refs: dict[str, object] = {}
        self._rows: dict[str, float] = {}  # training rows per data set, for the time estimate
        self._queued: set[str] = set()
        self._device = "cpu"
        self._slots = 1

    # --- the plan -------------------------------------------------------------------
    def scan_epochs(self, cell: Cell) -> int:
        return self.protocol.scan_epochs_of(cell.model, cell.dataset)

    def scan_trials(self, cell: Cell) -> list[Trial]:
        return [cell.trial(m, 0, self.scan_epochs(cell)) for m in self.protocol.candidates]

    def table_trials(self, cell: Cell, method: str) -> list[Trial]:
        return [cell.trial(method, s, cell.epochs) for s in range(self.protocol.seeds)]

    def choice(self, cell: Cell) -> str | None:
        """The cell's recorded method, if its scan had the settings of this run."""
        entry = self.choices.get(cell.name)
        if entry and entry["scan"] == self._scan_settings(cell):
            return str(entry["method"])
        return None

    def earlier_rules_choice(self, cell: Cell) -> str | None:
        """The cell's recorded method if its scan differed from this run's only in the
        combination rules: its rows show under those rules until the scan is made again."""
        entry = self.choices.get(cell.name)
        if entry and _without_rules(entry["scan"]) == _without_rules(self._scan_settings(cell)):
            return str(entry["method"])
        return None

    def _scan_settings(self, cell: Cell) -> dict:
        return {
            "candidates": list(self.protocol.candidates),
            "epochs": self.scan_epochs(cell),
            "rules": COMBINATION_RULES,
            "seed": 0,
            "settings": dict(cell.settings),
        }

    def planned(self) -> list[Trial]:
        """Every trial the protocol knows of now (a cell's chosen seeds once it has a choice)."""
        trials = []
        for cell in self.cells:
            if cell.skipped is not None:
                continue
            chosen = self.choice(cell)
            if chosen is None:
                trials += self.scan_trials(cell)
            trials += self.table_trials(cell, "none")
            if chosen is not None:
                trials += self.table_trials(cell, chosen)
        return list({t.key: t for t in trials}.values())

    def upcoming(self) -> tuple[int, float]:
        """The chosen-method trials of cells whose scan is still running: number and cost."""
        count, cost = 0, 0.0
        for cell in self.cells:
            if cell.skipped is None and self.choice(cell) is None:
                # a full-length scan has already trained the chosen method's seed 0
                seeds = self.protocol.seeds - (self.scan_epochs(cell) == cell.epochs)
                count += seeds
                cost += seeds * cell.epochs * self._rows.get(cell.dataset, 0)
        return count, cost

    def has_work(self) -> bool:
        """Whether a trial is left to run or a cell's method is left to choose."""
        pending = any(t.key not in self.records for t in self.planned())
        return pending or any(c.skipped is None and self.choice(c) is None for c in self.cells)

    # --- the run --------------------------------------------------------------------
    def run(self, session: RaySession, report: ReportFn | None = None) -> None:
        todo = [t for t in self.planned() if t.key not in self.records]
        self._device = "cuda" if session.gpus_per_task > 0 else "cpu"
        self._slots = session.slots
        for trial in todo:
            self._ensure_table(trial.dataset, session)
        tasks = self._tasks(todo)
        tasks += self._choose_ready(session)  # cells whose scan finished in an earlier run
        self.write_tables()
        session.run(tasks, lambda f: self._finished(f, session), self.upcoming, report)

    def _ensure_table(self, dataset: str, session: RaySession) -> None:
        """Read the data set once and put it in the object store for its trials."""
        if dataset in self._refs:
            return
        table = load_table(dataset_path(dataset))
        table = LoadedTable(dataset, table.data, table.schema, table.missing_mask, table.impute_mask)
        self._refs[dataset] = session.put(table)
        self._rows[dataset] = 0.7 * len(table.data)

    def _tasks(self, trials: list[Trial]) -> list[Task]:
        """The trials as tasks: those of one cell and length in bundles of up to
        ``BUNDLE_TRIALS``, split further while there are fewer bundles than workers."""
        groups: dict[tuple, list[Trial]] = {}
        for trial in trials:
            groups.setdefault((trial.model, trial.dataset, trial.impute, trial.epochs), []).append(trial)
        count = sum(-(-len(g) // BUNDLE_TRIALS) for g in groups.values())
        size = BUNDLE_TRIALS
        while size > 1 and count < self._slots and count < len(trials):
            size = -(-size // 2)
            count = sum(-(-len(g) // size) for g in groups.values())
        return [self._task(g[i : i + size]) for g in groups.values() for i in range(0, len(g), size)]

    def _task(self, trials: list[Trial]) -> Task:
        first = trials[0]
        self._queued.update(t.key for t in trials)
        index = next(i for i, c in enumerate(self.cells) if c.owns(first))
        stage = _SCAN if first.epochs == self.scan_epochs(self.cells[index]) and first.seed == 0 else _TABLE
        return Task(
            key="+".join(t.key for t in trials),
            function=run_trials_stacked,
            args=(self._refs[first.dataset], tuple(trials), self._device),
            priority=(index, stage, first.seed),
            cost=len(trials) * first.epochs * self._rows[first.dataset],
            cost_group=first.model,
            units=len(trials),
        )

    def _finished(self, finished: Finished, session: RaySession) -> Iterable[Task]:
        if finished.error is not None:
            self.failed.append(finished)
            return []
        for record in finished.value:
            self.store.write(record)
            self.records[record["key"]] = record
            self.ran += 1
        follow = self._choose_ready(session)
        self.write_tables()
        return follow

    def _choose_ready(self, session: RaySession) -> list[Task]:
        """Choose the method of every cell whose scan trials are all finished; their tasks."""
        tasks = []
        for cell in self.cells:
            if cell.skipped is not None or self.choice(cell) is not None:
                continue
            scan = [self.records.get(t.key) for t in self.scan_trials(cell)]
            if any(r is None for r in scan):
                continue
            method = self._record_choice(cell, [r for r in scan if r is not None])
            if method is None:
                continue
            new = [
                t for t in self.table_trials(cell, method) if t.key not in self.records and t.key not in self._queued
            ]
            for trial in new:
                self._ensure_table(trial.dataset, session)
            tasks += self._tasks(new)
        return tasks

    def _record_choice(self, cell: Cell, scan: list[dict]) -> str | None:
        split = "val_imputation" if cell.impute else "val"
        errors = {
            r["trial"]["method"]: r[split]["mean_error"]
            for r in scan
            if r["stopped_by"] is None and r[split]["mean_error"] is not None
        }
        if not errors:
            return None
        method = min(self.protocol.candidates, key=lambda m: errors.get(m, float("inf")))
        # read again before writing: another run into the same folder (the imputation variant,
        # other models) may have recorded its cells' choices meanwhile
        self.choices = {**self.choices, **_read_json(self.choices_path)}
        self.choices[cell.name] = {
            "method": method,
            "scan": self._scan_settings(cell),
            "val_mean_error": errors,
            "chosen_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomically(self.choices_path, json.dumps(self.choices, indent=1))
        return method

    def write_tables(self) -> list[Path]:
        p = self.protocol
        what = "imputation error of the hidden cells" if p.impute else "mean error"
        self._record_cells()
        cells = self.table_cells()
        scans = {cell.name: self.scan_epochs(cell) for cell in self.cells}
        for cell in cells:
            if cell.name not in scans and cell.name in self.choices:  # an earlier run's cell: its scan's length
                scans[cell.name] = int(self.choices[cell.name]["scan"]["epochs"])
        lengths = set(scans.values())
        after = (
            f"{p.scan_epochs} epochs" if lengths <= {p.scan_epochs} else "the scan epochs of its settings line below"
        )
        notes = [
            f"Multi-objective: per cell, the best of {len(p.candidates)} candidates ({', '.join(p.candidates)}) "
            f"by validation {what} after {after}, seed 0 (choices.json).",
            f"Each row: median over seeds 0..{p.seeds - 1} of the test {what}; iqr over the same seeds; "
            "seeds counts the finished ones; paper: the paper's cell (ordinals by class shift, median of 5 seeds), "
            "to compare with mean_error_paper_metric.",
            f"rules: the combination rules a multi-objective row was measured under ({COMBINATION_RULES}: a column "
            "whose gradient is below float32's resolution beside the largest is left out; 1: before, shown until "
            "the cell is run again).",
        ]
        chosen = {cell.name: self.choice(cell) or self.earlier_rules_choice(cell) for cell in self.cells}
        for cell in cells:
            if cell.name not in chosen:  # an earlier run's cell: the choice its scan made
                chosen[cell.name] = self.choices.get(cell.name, {}).get("method")
        # the trials on disk too: another run into the same folder may have finished some since this one began
        records = {**self.store.finished(), **self.records}
        return write_tables(self.out, cells, chosen, records, p.seeds, notes, scans)

    def table_cells(self) -> list[Cell]:
        """This run's cells and every earlier run's of the same variant (``core.table1_cells``)."""
        return table_cells(self.cells, self.earlier_cells, self.protocol.impute)

    def _record_cells(self) -> None:
        """Add this run's cells to ``DIR/cells.json`` (with the first tables, before any
        work, so that a stopped run's cells stay in the tables of the runs after it)."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.earlier_cells = record_cells(self.cells_path, self.cells, self.earlier_cells)


def _without_rules(scan: dict) -> dict:
    return {k: v for k, v in scan.items() if k != "rules"}


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise DataError(f"{path} is not valid JSON: move it away to scan again") from None
    return value if isinstance(value, dict) else {}
