"""Comparing training configurations on one table: fairly, side by side, and in bulk.

Fairness. Every configuration of a comparison trains with the same seed, and the
Trainer keeps three separate random streams (minibatch order, model noise, method
noise). So configurations with the same model architecture and batch size get the
same split, the same initial weights, the same minibatches in the same order and the
same sampling noise: only the gradient combination (and the learning rate, if that
differs) sets them apart. ``Comparison.fairness`` says which of these hold.

Two ways to run a comparison:

- ``Comparison``, live in one process (the dashboard): ``advance(seconds)`` steps the
  run that is furthest behind, in epochs, until the time is spent, so that all runs
  move forward together; each run can be paused, resumed or cancelled on its own.
- ``run_grid``, methods x seeds in worker processes (the command line), writing:

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
      each column's median error per method, and the median mean error with its
      range over seeds; the HTML is interactive and self-contained (works offline).
  ``DIR/runs/<method>_seed<k>/metrics.json``
      ``RunResult.metrics()`` of each run (with ``stopped_by`` for a run that stopped
      early); ``model.pt`` beside it only when asked for.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import torch

from core.errors import DataError, TrainingError
from core.history import History
from core.io import LoadedTable
from core.models import MODELS
from core.mtl import make_method
from core.run import train_run
from core.schema import Column, Schema
from core.trainer import Evaluation, TrainConfig, Trainer

MIN_CONFIGURATIONS = 2
MAX_CONFIGURATIONS = 6
RUNS_COLUMNS = ["method", "seed", "column", "type", "error", "baseline_error", "overlooked"]
# Settings every configuration of a comparison shares, rather than compares.
SHARED_SETTINGS = ("seed", "device")
# Settings that may shape the model's weights (VAE, IWAE and DReG share one architecture).
ARCHITECTURE_SETTINGS = ("model", "latent", "hidden", "layers")
# The short labels of the settings the dashboard compares most often.
SETTING_LABELS = {
    "lr": "lr",
    "batch_size": "batch",
    "latent": "latent",
    "hidden": "hidden",
    "layers": "layers",
    "beta": "beta",
    "importance_samples": "samples",
}


# --- configurations -----------------------------------------------------------------


def compared_settings(configs: Sequence[TrainConfig]) -> list[str]:
    """The settings (TrainConfig fields) whose value is not the same in every configuration."""
    values = [asdict(c) for c in configs]
    return [
        f.name
        for f in fields(TrainConfig)
        if f.name not in SHARED_SETTINGS and any(v[f.name] != values[0][f.name] for v in values)
    ]


def configuration_labels(configs: Sequence[TrainConfig]) -> list[str]:
    """A short, unique name per configuration made of the settings that set it apart."""
    differing = compared_settings(configs)
    labels = [
        " · ".join(_setting_text(name, getattr(c, name)) for name in differing) or "configuration" for c in configs
    ]
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if labels.count(label) == 1 else f"{label} #{seen[label]}")
    return unique


def _setting_text(name: str, value) -> str:
    if name in ("model", "method"):
        return str(value)
    if name in SETTING_LABELS:
        return f"{SETTING_LABELS[name]} {'auto' if value is None else f'{value:g}'}"
    return f"{name} {value}"


def differences_table(configs: Sequence[TrainConfig]) -> pd.DataFrame:
    """The settings that differ (rows) for each configuration (columns, by label)."""
    labels = configuration_labels(configs)
    differing = compared_settings(configs)
    return pd.DataFrame(
        {label: [_cell(getattr(c, name)) for name in differing] for label, c in zip(labels, configs, strict=True)},
        index=pd.Index(differing, name="setting"),
    )


def _cell(value) -> str:
    return "auto" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))


def fairness_notes(configs: Sequence[TrainConfig], same_initial_weights: bool) -> tuple[bool, list[str]]:
    """Whether only the gradient combination differs, and one sentence per fact that says
    what the runs share and what they do not. Whether the initial weights are the same is
    the caller's to check (models of one architecture, such as VAE and IWAE, share them)."""
    differing = set(compared_settings(configs))
    notes = [
        f"All runs use seed {configs[0].seed}: the same 70/10/20 split, and the same random streams "
        f"for minibatch order, sampling noise and the methods' own randomness."
    ]
    if same_initial_weights:
        notes.append("They start from the same initial weights.")
    else:
        shaping = ", ".join(sorted(differing & set(ARCHITECTURE_SETTINGS)))
        notes.append(f"Their initial weights differ (different {shaping}): the comparison is only partly paired.")
    if "model" in differing:
        notes.append("The models differ, so they draw their sampling noise in different patterns.")
    if "batch_size" in differing:
        notes.append("The batch sizes differ, so the minibatches differ: runs are compared at equal epochs.")
    else:
        notes.append("They see the same minibatches in the same order.")
    others = sorted(differing - set(ARCHITECTURE_SETTINGS) - {"batch_size", "method"})
    if others:
        notes.append(
            f"Besides the method, the {', '.join(others)} differ: a difference in error is not "
            f"down to the gradient combination alone."
        )
    full = not differing - {"method"}
    if full:
        notes.append("Only the gradient combination differs.")
    return full, notes


def encode_configurations(configs: Sequence[TrainConfig]) -> str:
    """``model:method:lr:batch`` per configuration, comma-separated (for a shareable link)."""
    return ",".join(f"{c.model}:{c.method}:{c.lr:g}:{c.batch_size}" for c in configs)


def parse_configurations(text: str, base: TrainConfig | None = None) -> list[TrainConfig]:
    """The inverse of ``encode_configurations`` (the batch size may be left out); the other
    settings come from ``base``. DataError names the first bad token."""
    base = base or TrainConfig()
    tokens = [t.strip() for t in str(text).split(",") if t.strip()]
    if not MIN_CONFIGURATIONS <= len(tokens) <= MAX_CONFIGURATIONS:
        raise DataError(
            f"a comparison has {MIN_CONFIGURATIONS} to {MAX_CONFIGURATIONS} configurations, got {len(tokens)}"
        )
    return [_parse_token(token, base) for token in tokens]


def _parse_token(token: str, base: TrainConfig) -> TrainConfig:
    parts = token.split(":")
    if len(parts) not in (3, 4):
        raise DataError(f"configuration {token!r} must read model:method:lr or model:method:lr:batch")
    # a "+" typed into an address bar arrives as a space
    model, method, lr = parts[0].strip().lower(), parts[1].strip().lower().replace(" ", "+"), parts[2]
    if model not in MODELS:
        raise DataError(f"configuration {token!r}: unknown model {model!r} (expected one of: {', '.join(MODELS)})")
    make_method(method)
    try:
        rate = float(lr)
        batch = int(parts[3]) if len(parts) == 4 else base.batch_size
    except ValueError:
        raise DataError(f"configuration {token!r}: the learning rate and batch size must be numbers") from None
    try:
        return replace(
            base, model=model, method=method, lr=rate, batch_size=batch, method_options=dict(base.method_options)
        ).validate()
    except DataError as error:
        raise DataError(f"configuration {token!r}: {error}") from None


# --- a live comparison --------------------------------------------------------------

RUNNING, PAUSED, CANCELLED, FINISHED, DIVERGED = "running", "paused", "cancelled", "finished", "diverged"


@dataclass
class ComparedRun:
    label: str
    trainer: Trainer
    total_steps: int
    evaluate_every: int
    status: str = RUNNING
    message: str | None = None  # why a run stopped early
    evaluation: Evaluation | None = None
    evaluated_at: int = -1
    evaluations: History = field(default_factory=lambda: History(500))  # step, epoch, validation scores
    losses: History = field(default_factory=lambda: History(2000))  # step, epoch, training loss

    @property
    def config(self) -> TrainConfig:
        return self.trainer.config

    @property
    def progress(self) -> float:
        return self.trainer.step_count / self.total_steps

    @property
    def active(self) -> bool:
        return self.status == RUNNING


class Comparison:
    """Several configurations trained side by side on one table, from one seed.

    Scores are on (up to ``evaluation_rows`` rows of) the validation split, every
    ``evaluate_every`` steps of a run (at least once an epoch) and when it ends.
    ``lock`` keeps a download thread from reading a run while it steps.
    """

    def __init__(
        self,
        table_name: str,
        data: pd.DataFrame,
        schema: Schema,
        configs: Sequence[TrainConfig],
        epochs: int,
        evaluate_every: int = 50,
        evaluation_rows: int | None = 2000,
    ):
        if not MIN_CONFIGURATIONS <= len(configs) <= MAX_CONFIGURATIONS:
            raise DataError(
                f"a comparison has {MIN_CONFIGURATIONS} to {MAX_CONFIGURATIONS} configurations, got {len(configs)}"
            )
        if len({c.seed for c in configs}) > 1:
            raise DataError("every configuration of a comparison must use the same seed")
        if epochs < 1:
            raise DataError(f"a comparison trains for at least 1 epoch, got {epochs}")
        self.lock = threading.RLock()
        self.table_name = table_name
        self.epochs = epochs
        self.evaluation_rows = evaluation_rows
        self.configs = [replace(c, method_options=dict(c.method_options)) for c in configs]
        self.labels = configuration_labels(self.configs)
        self.runs = []
        for label, config in zip(self.labels, self.configs, strict=True):
            trainer = Trainer(data, schema, config)
            # at least once an epoch, so that short runs on small tables still draw a curve
            every = max(1, min(evaluate_every, trainer.steps_per_epoch))
            self.runs.append(ComparedRun(label, trainer, epochs * trainer.steps_per_epoch, every))
        self.names = [c.name for c in self.runs[0].trainer.features]
        first = [p.detach() for p in self.runs[0].trainer.model.parameters()]
        self.same_initial_weights = all(_same_tensors(first, run.trainer.model.parameters()) for run in self.runs[1:])
        for run in self.runs:
            self._evaluate(run)

    def fairness(self) -> tuple[bool, list[str]]:
        """``fairness_notes`` of these configurations, with their initial weights compared."""
        return fairness_notes(self.configs, self.same_initial_weights)

    @property
    def seed(self) -> int:
        return self.configs[0].seed

    @property
    def active(self) -> bool:
        return any(run.active for run in self.runs)

    # --- control ----------------------------------------------------------------
    def pause(self, index: int) -> None:
        self._halt(index, PAUSED, (RUNNING,))

    def resume(self, index: int) -> None:
        if self.runs[index].status == PAUSED:
            self.runs[index].status = RUNNING

    def cancel(self, index: int) -> None:
        self._halt(index, CANCELLED, (RUNNING, PAUSED))

    def _halt(self, index: int, status: str, halted_from: tuple[str, ...]) -> None:
        """Stop a run where it is; its scores are brought up to that step."""
        run = self.runs[index]
        with self.lock:
            if run.status not in halted_from:
                return
            run.status = status
            if run.evaluated_at != run.trainer.step_count:
                self._evaluate(run)

    def advance(self, seconds: float | None = None, steps: int | None = None) -> int:
        """Train for about ``seconds``, or ``steps`` steps in all, always stepping the active run
        that is furthest behind; returns the number of steps done."""
        if (seconds is None) == (steps is None):
            raise ValueError("give either a time budget or a number of steps")
        started = time.perf_counter()
        done = 0
        while self.active and (done < steps if steps is not None else time.perf_counter() - started < seconds):
            run = min((r for r in self.runs if r.active), key=lambda r: r.progress)
            self._step(run)
            done += 1
        return done

    def _step(self, run: ComparedRun) -> None:
        with self.lock:
            if not run.active:  # paused, cancelled or ended since it was picked
                return
            try:
                record = run.trainer.step()
            except TrainingError as error:  # the trainer rolled the step back
                run.status, run.message = DIVERGED, str(error)
                self._evaluate(run)
                return
            run.losses.append(step=record.step, epoch=record.epoch, loss=record.loss)
            if run.trainer.step_count >= run.total_steps:
                run.status = FINISHED
            if run.status == FINISHED or run.trainer.step_count - run.evaluated_at >= run.evaluate_every:
                self._evaluate(run)

    def _evaluate(self, run: ComparedRun) -> None:
        with self.lock:
            evaluation = run.trainer.evaluate("val", max_rows=self.evaluation_rows)
            run.evaluation, run.evaluated_at = evaluation, run.trainer.step_count
            errors = np.array([s.error for s in evaluation.scores])
            run.evaluations.append(
                step=run.trainer.step_count,
                epoch=run.trainer.epoch,
                mean_error=evaluation.mean_error,
                worst_error=_worst(errors),
                overlooked=len(evaluation.overlooked),
            )

    # --- results ----------------------------------------------------------------
    def summary_frame(self) -> pd.DataFrame:
        """One row per configuration: its state and its latest validation scores."""
        rows = []
        with self.lock:
            for run in self.runs:
                scores = run.evaluation.scores
                errors = np.array([s.error for s in scores])
                worst = int(np.nanargmax(errors)) if np.isfinite(errors).any() else None
                rows.append(
                    {
                        "configuration": run.label,
                        "status": run.status,
                        "step": run.trainer.step_count,
                        "epoch": run.trainer.epoch,
                        "mean_error": run.evaluation.mean_error,
                        "worst_error": _worst(errors),
                        "worst_column": scores[worst].name if worst is not None else None,
                        "overlooked": len(run.evaluation.overlooked),
                        "evaluated_at": run.evaluated_at,
                    }
                )
        return pd.DataFrame(rows)

    def scores_frame(self) -> pd.DataFrame:
        """One row per configuration x column: the latest validation scores, and the step they are of."""
        with self.lock:
            rows = [
                {
                    "configuration": run.label,
                    "column": s.name,
                    "type": s.type.value,
                    "error": s.error,
                    "baseline_error": s.baseline_error,
                    "overlooked": s.overlooked,
                    "evaluated_at": run.evaluated_at,
                }
                for run in self.runs
                for s in run.evaluation.scores
            ]
        return pd.DataFrame(rows)

    def curves_frame(self) -> pd.DataFrame:
        """Validation scores over training, one row per configuration x evaluation."""
        with self.lock:
            frames = [
                pd.DataFrame(
                    {
                        "configuration": run.label,
                        "step": run.evaluations.field("step"),
                        "epoch": run.evaluations.field("epoch"),
                        "mean_error": run.evaluations.field("mean_error"),
                        "worst_error": run.evaluations.field("worst_error"),
                        "overlooked": run.evaluations.field("overlooked"),
                    }
                )
                for run in self.runs
            ]
        return pd.concat(frames, ignore_index=True)

    def losses_frame(self) -> pd.DataFrame:
        """Training loss over steps, one row per configuration x kept step."""
        with self.lock:
            frames = [
                pd.DataFrame(
                    {
                        "configuration": run.label,
                        "step": run.losses.field("step"),
                        "epoch": run.losses.field("epoch"),
                        "loss": run.losses.field("loss"),
                    }
                )
                for run in self.runs
                if len(run.losses)
            ]
        return (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=["configuration", "step", "epoch", "loss"])
        )

    def to_json(self) -> str:
        """The whole comparison: settings, fairness, each run's state, scores and curves."""
        full, notes = self.fairness()
        summary = self.summary_frame().set_index("configuration")
        scores = self.scores_frame()
        curves = self.curves_frame()
        document = {
            "table": self.table_name,
            "seed": self.seed,
            "epochs": self.epochs,
            "split": "val",
            "only_method_differs": full,
            "fairness": notes,
            "columns": self.names,
            "configurations": [
                {
                    "label": run.label,
                    "config": asdict(run.config),
                    "status": run.status,
                    "message": run.message,
                    **json.loads(summary.loc[[run.label]].drop(columns="status").to_json(orient="records"))[0],
                    "scores": json.loads(
                        scores[scores.configuration == run.label]
                        .drop(columns="configuration")
                        .to_json(orient="records")
                    ),
                    "curve": json.loads(
                        curves[curves.configuration == run.label]
                        .drop(columns="configuration")
                        .to_json(orient="records")
                    ),
                }
                for run in self.runs
            ],
        }
        return json.dumps(document, indent=1)


def _same_tensors(first: list[torch.Tensor], other) -> bool:
    other = [p.detach() for p in other]
    return len(first) == len(other) and all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(first, other, strict=True)
    )


def _worst(errors: np.ndarray) -> float:
    return float(np.nanmax(errors)) if np.isfinite(errors).any() else math.nan


# --- a grid in worker processes ------------------------------------------------------


@dataclass(frozen=True)
class GridTask:
    method: str
    seed: int


@dataclass(frozen=True)
class GridOutcome:
    method: str
    seed: int
    metrics: dict  # RunResult.metrics(), or a stub with ``stopped_by`` when the run failed
    seconds: float

    @property
    def stopped_by(self) -> str | None:
        return self.metrics.get("stopped_by")


GridProgress = Callable[[int, int, GridOutcome, float], None]

_worker: dict = {}  # what each worker process holds: the table, the base config, the settings


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
    so comparisons are paired), in ``workers`` processes; write the files of the module doc."""
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
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [GridTask(method, seed) for seed in range(seeds) for method in methods]
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    settings = {"table": table, "base": base, "epochs": epochs, "out": out, "save_models": save_models}
    outcomes = []
    started = time.perf_counter()
    # spawn: a fresh interpreter per worker, so that no torch thread pool is forked mid-use
    with multiprocessing.get_context("spawn").Pool(n_workers, initializer=_start_worker, initargs=(settings,)) as pool:
        for outcome in pool.imap_unordered(_run_task, tasks):
            outcomes.append(outcome)
            if progress is not None:
                progress(len(outcomes), len(tasks), outcome, time.perf_counter() - started)
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


def _start_worker(settings: dict) -> None:
    # One thread per worker: the workers themselves use the cores.
    torch.set_num_threads(1)
    _worker.update(settings)


def _run_task(task: GridTask) -> GridOutcome:
    config = replace(_worker["base"], method=task.method, seed=task.seed)
    run_dir = _worker["out"] / "runs" / run_folder(task.method, task.seed)
    started = time.perf_counter()
    try:
        result = train_run(_worker["table"], config, _worker["epochs"])
        metrics = result.metrics()
        if _worker["save_models"]:
            result.write(run_dir)
        else:
            _write_metrics(run_dir, metrics)
    except Exception as error:  # one broken run must not stop the grid: record it and go on
        message = " ".join(str(error).split()) or type(error).__name__
        metrics = {
            "dataset": _worker["table"].name,
            "model": config.model,
            "method": task.method,
            "seed": task.seed,
            "stopped_by": f"internal error ({type(error).__name__}): {message}",
        }
        _write_metrics(run_dir, metrics)
    return GridOutcome(task.method, task.seed, metrics, time.perf_counter() - started)


def _write_metrics(run_dir: Path, metrics: dict) -> None:
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


def _extreme(values: pd.Series, pick) -> float:
    return float(pick(values)) if len(values) else math.nan


def summary_chart(summary: pd.DataFrame, title: str = "") -> alt.HConcatChart:
    """Each column's median error per method, and the median mean error with its range."""
    methods = list(summary["method"])
    error_columns = [c for c in summary.columns if c.startswith("error[")]
    per_column = summary.melt(id_vars="method", value_vars=error_columns, var_name="column", value_name="error")
    per_column["column"] = per_column["column"].str.slice(6, -1)
    colour = alt.Color("method:N", sort=methods, title="method")
    bars = (
        alt.Chart(per_column, title="Median error per column")
        .mark_bar()
        .encode(
            x=alt.X("column:N", sort=list(per_column["column"].drop_duplicates()), title=None),
            xOffset=alt.XOffset("method:N", sort=methods),
            y=alt.Y("error:Q", title="median test error"),
            color=colour,
            tooltip=["method", "column", alt.Tooltip("error:Q", format=".4f")],
        )
        .properties(width=max(300, 14 * len(methods) * len(error_columns)), height=300)
    )
    mean = alt.Chart(summary, title="Mean over columns").encode(x=alt.X("method:N", sort=methods, title=None))
    mean_bars = mean.mark_bar().encode(
        y=alt.Y("mean_error:Q", title="median mean error (line: range over seeds)"),
        color=colour,
        tooltip=[
            "method",
            alt.Tooltip("mean_error:Q", format=".4f"),
            alt.Tooltip("mean_error_min:Q", format=".4f"),
            alt.Tooltip("mean_error_max:Q", format=".4f"),
            "runs",
            "stopped",
            alt.Tooltip("overlooked:Q", title="overlooked columns"),
        ],
    )
    ranges = mean.mark_rule(color="black").encode(y="mean_error_min:Q", y2="mean_error_max:Q")
    chart = alt.hconcat(bars, (mean_bars + ranges).properties(width=max(120, 28 * len(methods)), height=300))
    return chart.properties(title=title) if title else chart


def write_figure(summary: pd.DataFrame, stem: str | Path, title: str = "") -> tuple[Path, Path]:
    """``stem.png`` and a self-contained ``stem.html`` (the scripts inlined: no network needed)."""
    chart = summary_chart(summary, title)
    png, html = Path(f"{stem}.png"), Path(f"{stem}.html")
    chart.save(png, scale_factor=2)
    chart.save(html, inline=True)
    return png, html
