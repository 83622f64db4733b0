"""One trial of a grid: a model trained on a table with one method, seed and number of
epochs, scored in both metrics, and the folder of finished trials.

A trial is named by its ``key``: model, data set, method, seed, epochs, variant and a
digest of the settings given explicitly (the paper's and the user's overrides, not the
library's defaults, so a key outlives a refactor of the defaults' home). Its record is
one JSON file ``<key>.json``, written atomically (a temporary file, then a rename), so
a folder of trials only ever holds finished ones.

Scores, per column and as the mean over columns, in two metrics: ``error`` (ordinals by
error rate, the library's primary metric) and ``paper_error`` (ordinals by mean |class
shift| / number of classes, as HI-VAE scores them; every other column as ``error``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.bundle import versions as bundle_versions
from core.config import TrainConfig
from core.io import LoadedTable
from core.metrics import ColumnScore
from core.records import Evaluation
from core.run import RunResult, train_run
from core.run_stacked import train_runs

Settings = tuple[tuple[str, Any], ...]

# The revision of how the multi-objective methods combine, part of every multi-objective
# trial's identity, so that a resume does not take a trial measured by earlier rules as
# finished. 2 (2026-12-04): a column whose gradient is below float32's resolution beside
# the largest is not a task (``core.mtl.system.active_rows``); 1: before. Plain training
# (method "none") is the same under both, and its trials keep their keys.
COMBINATION_RULES = 2


@dataclass(frozen=True)
class Trial:
    model: str
    dataset: str
    method: str
    seed: int
    epochs: int
    impute: bool
    settings: Settings  # TrainConfig fields given explicitly, sorted by name

    def config(self, device: str = "cpu") -> TrainConfig:
        return TrainConfig(model=self.model, method=self.method, seed=self.seed, device=device, **dict(self.settings))

    def identity(self, rules: int = COMBINATION_RULES) -> dict:
        identity = {
            "model": self.model,
            "dataset": self.dataset,
            "method": self.method,
            "seed": self.seed,
            "epochs": self.epochs,
            "impute": self.impute,
            "settings": dict(self.settings),
        }
        if self.method != "none" and rules > 1:
            identity["rules"] = rules
        return identity

    @property
    def key(self) -> str:
        return self.key_under(COMBINATION_RULES)

    def key_under(self, rules: int) -> str:
        """The key this trial had under the combination rules ``rules``."""
        digest = hashlib.sha1(json.dumps(self.identity(rules), sort_keys=True).encode()).hexdigest()[:10]
        variant = "_impute" if self.impute else ""
        return f"{self.model}_{self.dataset}_{self.method}_seed{self.seed}_{self.epochs}ep{variant}_{digest}"


def settings_tuple(settings: dict) -> Settings:
    return tuple(sorted(settings.items()))


@dataclass(frozen=True)
class Cell:
    """One model on one data set (one variant): the trials of one cell of the table."""

    model: str
    dataset: str
    impute: bool
    epochs: int  # of the table's trials
    settings: Settings
    skipped: str | None = None  # why the cell has no trials (its data is not here)

    @property
    def name(self) -> str:
        return f"{self.model}/{self.dataset}" + ("/impute" if self.impute else "")

    def trial(self, method: str, seed: int, epochs: int) -> Trial:
        return Trial(self.model, self.dataset, method, seed, epochs, self.impute, self.settings)

    def owns(self, trial: Trial) -> bool:
        return (trial.model, trial.dataset, trial.impute) == (self.model, self.dataset, self.impute)


def run_trial(table: LoadedTable, trial: Trial, device: str = "cpu") -> dict:
    """Train and score one trial; its record (see the module doc)."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    result = train_run(table, trial.config(device), trial.epochs, impute=trial.impute)
    val = result.trainer.evaluate("val")
    return _record(trial, result, val, started_at, time.perf_counter() - started)


def run_trials_stacked(table: LoadedTable, trials: Sequence[Trial], device: str = "cpu") -> list[dict]:
    """``run_trial`` of every trial, in order, the trials of one model and data set trained
    side by side in one stacked model where they can be (``core.run_stacked``): the same
    records, their timing the bundle's, shared out evenly."""
    if len({(t.epochs, t.impute) for t in trials}) > 1:
        return [run_trial(table, trial, device) for trial in trials]
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    configs = [trial.config(device) for trial in trials]
    results = train_runs(table, configs, trials[0].epochs, impute=trials[0].impute) if trials else []
    vals = [result.trainer.evaluate("val") for result in results]
    seconds = (time.perf_counter() - started) / max(1, len(trials))
    return [
        _record(trial, result, val, started_at, seconds)
        for trial, result, val in zip(trials, results, vals, strict=True)
    ]


def _record(trial: Trial, result: RunResult, val: Evaluation, started_at: str, seconds: float) -> dict:
    """The record of a trained trial, ``seconds`` its share of the training time."""
    return {
        "key": trial.key,
        "trial": trial.identity(),
        "config": asdict(result.trainer.config),
        "epochs_trained": result.epochs,
        "stopped_by": result.stopped_by,
        "test": scores_record(result.test.scores),
        "val": scores_record(val.scores),
        "test_imputation": scores_record(result.test.imputation_scores) if trial.impute else None,
        "val_imputation": scores_record(val.imputation_scores) if trial.impute else None,
        "history": result.history,
        "timing": {
            "started": started_at,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": seconds,
            "seconds_per_epoch": seconds / max(1, result.epochs),
        },
        "versions": versions(),
        "node": socket.gethostname(),
        "device": str(result.trainer.device),
        "torch_threads": torch.get_num_threads(),
    }


def scores_record(scores: Sequence[ColumnScore] | None) -> dict | None:
    """Per-column errors in both metrics, their means and the overlooked count."""
    if scores is None:
        return None
    errors = [_finite(s.error) for s in scores]
    paper_errors = [_finite(s.shift_error if s.shift_error is not None else s.error) for s in scores]
    columns = [
        {
            "name": s.name,
            "type": s.type.value,
            "error": error,
            "paper_error": paper_error,
            "baseline_error": _finite(s.baseline_error),
            "overlooked": bool(s.overlooked),
        }
        for s, error, paper_error in zip(scores, errors, paper_errors, strict=True)
    ]
    return {
        "mean_error": _mean(errors),
        "mean_error_paper_metric": _mean(paper_errors),
        "overlooked": sum(bool(s.overlooked) for s in scores),
        "columns": columns,
    }


def versions() -> dict:
    import ray

    return {**bundle_versions(), "ray": ray.__version__}


class TrialStore:
    """The folder of finished trials: one ``<key>.json`` each."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def finished(self) -> dict[str, dict]:
        """The records on disk, by key (a file that is not a record is left alone)."""
        records = {}
        for path in sorted(self.folder.glob("*.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("key") == path.stem:
                records[path.stem] = record
        return records

    def write(self, record: dict) -> Path:
        path = self.folder / f"{record['key']}.json"
        write_atomically(path, json.dumps(record, indent=1))
        return path


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to a hidden file beside ``path``, then rename it: readers (a rerun, a
    commit in progress) see the old file or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def _mean(values: Iterable[float | None]) -> float | None:
    finite = [v for v in values if v is not None]
    return float(np.mean(finite)) if finite else None


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None
