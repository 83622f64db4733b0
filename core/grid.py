"""A grid of runs: methods x seeds on one table, in worker processes (``python -m core compare``).

``run_grid`` checks the grid, trains every run with ``core.parallel.run_tasks`` and writes
the files below. A worker takes a bundle of runs (``bundle_tasks``) and trains them side by
side in one stacked model where it can (``core.run_stacked``): the same numbers as each run
trained alone, for a fraction of the time.

``DIR/runs.csv``
    one row per method x seed x column, the test split's scores, columns
    ``method, seed, column, type, error, baseline_error, overlooked``; ``method`` is
    the spec as given (``none`` for plain training). A run that stopped early
    (diverged, or failed) has ``error`` and ``overlooked`` empty.
``DIR/summary.csv``
    one row per method, in the order given, summarising seeds the way the paper
    does, by the median: ``method``; ``runs`` (finished runs) and ``stopped`` (runs
    that stopped early, left out of every median); ``mean_error``, the median over
    seeds of the run's mean column error, with ``mean_error_min`` and
    ``mean_error_max`` over seeds; ``worst_error``, the median over seeds of the
    run's largest column error; ``overlooked``, the median over seeds of the number
    of overlooked columns; then ``error[<column>]``, each column's median error.
``DIR/figure.png``, ``DIR/figure.html``
    ``core.reporting.write_figure`` of the summary.
``DIR/runs/<method>_seed<k>/metrics.json``
    ``RunResult.metrics()`` of each run (with ``stopped_by`` for a run that stopped
    early); ``model.pt`` beside it only when asked for.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import DataError
from core.io import LoadedTable
from core.mtl import make_method
from core.parallel import run_tasks
from core.reporting import write_figure
from core.run import RunResult, train_run
from core.run_stacked import stackable, train_runs
from core.schema import Column
from core.trainer import TrainConfig

RUNS_COLUMNS = ["method", "seed", "column", "type", "error", "baseline_error", "overlooked"]

# The most runs one worker trains stacked at a time: enough for most of the stacked
# speed-up on one core, few enough that finished bundles report progress as the grid goes.
BUNDLE_RUNS = 8


@dataclass(frozen=True)
class GridTask:
    method: str
    seed: int


@dataclass(frozen=True)
class GridJob:
    """What every run of a grid shares; sent once to each worker."""

    table: LoadedTable
    base: TrainConfig
    epochs: int
    out: Path
    save_models: bool


@dataclass(frozen=True)
class GridOutcome:
    method: str
    seed: int
    metrics: dict[str, Any]  # RunResult.metrics(), or a stub with ``stopped_by`` when the run failed
    seconds: float

    @property
    def stopped_by(self) -> str | None:
        reason: str | None = self.metrics.get("stopped_by")
        return reason


GridProgress = Callable[[int, int, GridOutcome, float], None]


def run_grid(
    table: LoadedTable,
    methods: Sequence[str],
    seeds: int,
    base: TrainConfig,
    epochs: int,
    out_dir: str | Path,
    workers: int | None = None,
    save_models: bool = False,
    progress: GridProgress | None = None,
) -> list[GridOutcome]:
    """Train every method with seeds 0..seeds-1 (seed s of every method uses TrainConfig(seed=s),
    so comparisons are paired), in ``workers`` processes; write the files of the module doc.
    ``progress(done, total, outcome, seconds)`` after each run."""
    _check_grid(methods, seeds, base, epochs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [GridTask(method, seed) for seed in range(seeds) for method in methods]
    job = GridJob(table, base, epochs, out, save_models)
    started = time.perf_counter()
    finished: list[GridOutcome] = []

    def report(bundle: list[GridOutcome]) -> None:
        for outcome in bundle:
            finished.append(outcome)
            if progress is not None:
                progress(len(finished), len(tasks), outcome, time.perf_counter() - started)

    bundles = run_tasks(run_bundle, job, bundle_tasks(tasks, workers), workers, report)
    outcomes = [outcome for bundle in bundles for outcome in bundle]
    outcomes.sort(key=lambda o: (list(methods).index(o.method), o.seed))
    runs = runs_frame(outcomes, table.schema.features)
    runs.to_csv(out / "runs.csv", index=False)
    summary = summarize(runs, methods)
    summary.to_csv(out / "summary.csv", index=False)
    write_figure(
        summary,
        out / "figure",
        title=f"{table.name}: {base.model}, {epochs} epochs, median of {seeds} seed{'s' if seeds != 1 else ''}",
    )
    return outcomes


def _check_grid(methods: Sequence[str], seeds: int, base: TrainConfig, epochs: int) -> None:
    if not methods:
        raise DataError("no method to compare")
    duplicates = sorted({m for m in methods if list(methods).count(m) > 1})
    if duplicates:
        raise DataError(f"method {duplicates[0]!r} is listed twice")
    for method in methods:
        make_method(method, **base.method_options)
    if seeds < 1:
        raise DataError(f"the number of seeds must be at least 1, got {seeds}")
    if epochs < 1:
        raise DataError(f"the number of epochs must be at least 1, got {epochs}")
    base.validate()


def bundle_tasks(tasks: Sequence[GridTask], workers: int | None) -> list[list[GridTask]]:
    """The tasks in bundles a worker trains stacked (``core.run_stacked``): at most
    ``BUNDLE_RUNS`` each, and at least one bundle per worker while there are tasks enough,
    so that every worker has work."""
    n_workers = max(1, workers or os.cpu_count() or 1)
    count = min(len(tasks), max(n_workers, math.ceil(len(tasks) / BUNDLE_RUNS)))
    return [list(tasks[i::count]) for i in range(count)] if tasks else []


def run_bundle(job: GridJob, bundle: list[GridTask]) -> list[GridOutcome]:
    """The bundle's runs, trained stacked where they can be, each written as ``run_task``
    writes it; if training them together fails, each is trained alone by ``run_task``
    (which records a run that fails on its own)."""
    configs = [replace(job.base, method=task.method, seed=task.seed) for task in bundle]
    if not stackable(configs):
        return [run_task(job, task) for task in bundle]
    started = time.perf_counter()
    try:
        results = train_runs(job.table, configs, job.epochs)
        seconds = (time.perf_counter() - started) / len(bundle)
        return [_write_result(job, task, result, seconds) for task, result in zip(bundle, results, strict=True)]
    except Exception:  # which run broke the stack is found by training each alone
        return [run_task(job, task) for task in bundle]


def _write_result(job: GridJob, task: GridTask, result: RunResult, seconds: float) -> GridOutcome:
    run_dir = job.out / "runs" / run_folder(task.method, task.seed)
    metrics = result.metrics()
    if job.save_models:
        result.write(run_dir)
    else:
        _write_metrics(run_dir, metrics)
    return GridOutcome(task.method, task.seed, metrics, seconds)


def run_task(job: GridJob, task: GridTask) -> GridOutcome:
    """One run of the grid, its metrics written to its run folder; a run that fails is
    recorded with ``stopped_by`` rather than raised, so that the grid goes on."""
    config = replace(job.base, method=task.method, seed=task.seed)
    run_dir = job.out / "runs" / run_folder(task.method, task.seed)
    started = time.perf_counter()
    try:
        return _write_result(job, task, train_run(job.table, config, job.epochs), time.perf_counter() - started)
    except Exception as error:  # one broken run must not stop the grid: record it and go on
        message = " ".join(str(error).split()) or type(error).__name__
        metrics = {
            "dataset": job.table.name,
            "model": config.model,
            "method": task.method,
            "seed": task.seed,
            "stopped_by": f"internal error ({type(error).__name__}): {message}",
        }
        _write_metrics(run_dir, metrics)
        return GridOutcome(task.method, task.seed, metrics, time.perf_counter() - started)


def _write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))


def run_folder(method: str, seed: int) -> str:
    """``<method>_seed<k>``, with a cocktail's ``+`` kept (it is a valid file name character)."""
    return f"{method}_seed{seed}"


def runs_frame(outcomes: Sequence[GridOutcome], features: Sequence[Column]) -> pd.DataFrame:
    """runs.csv: one row per outcome x column; a run that stopped early has no error."""
    rows = []
    for outcome in outcomes:
        scored = {f["name"]: f for f in outcome.metrics.get("features", [])}
        for column in features:
            score = scored.get(column.name, {})
            finished = outcome.stopped_by is None
            rows.append(
                {
                    "method": outcome.method,
                    "seed": outcome.seed,
                    "column": column.name,
                    "type": column.type.value,
                    "error": score.get("error") if finished else None,
                    "baseline_error": score.get("baseline_error"),
                    "overlooked": score.get("overlooked") if finished else None,
                }
            )
    return pd.DataFrame(rows, columns=RUNS_COLUMNS)


def summarize(runs: pd.DataFrame, methods: Sequence[str] | None = None) -> pd.DataFrame:
    """summary.csv from runs.csv (see the module doc): medians over seeds, per method."""
    runs = runs.assign(error=pd.to_numeric(runs["error"]))
    methods = list(methods) if methods is not None else list(dict.fromkeys(runs["method"]))
    columns = list(dict.fromkeys(runs["column"]))
    per_run = (
        runs.groupby(["method", "seed"], sort=False)
        .agg(
            mean_error=("error", "mean"),
            worst_error=("error", "max"),
            overlooked=("overlooked", lambda x: int((x == True).sum())),  # noqa: E712 (the cells may be None)
            finished=("error", lambda x: bool(x.notna().any())),
        )
        .reset_index()
    )
    rows = []
    for method in methods:
        done = per_run[(per_run.method == method) & per_run.finished]
        n_all = int((per_run.method == method).sum())
        row = {
            "method": method,
            "runs": len(done),
            "stopped": n_all - len(done),
            "mean_error": _median(done.mean_error),
            "mean_error_min": _extreme(done.mean_error, min),
            "mean_error_max": _extreme(done.mean_error, max),
            "worst_error": _median(done.worst_error),
            "overlooked": _median(done.overlooked),
        }
        cells = runs[(runs.method == method) & runs.seed.isin(done.seed)]
        medians = cells.groupby("column", sort=False)["error"].median()
        row.update({f"error[{c}]": float(medians.get(c, math.nan)) for c in columns})
        rows.append(row)
    return pd.DataFrame(rows)


def _median(values: pd.Series) -> float:
    return float(np.median(values)) if len(values) else math.nan


def _extreme(values: pd.Series, pick: Callable[[pd.Series], float]) -> float:
    return float(pick(values)) if len(values) else math.nan
