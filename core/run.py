"""A headless training run from start to finish: epochs of Trainer steps, validation
after each epoch, test scores at the end, and the files a run leaves behind.

Validation after each epoch reads at most ``VALIDATION_ROWS`` rows of the validation split
(evenly spread over its seeded rows, the same ones every epoch), so that on a large table
it does not outweigh a short epoch; the test scores at the end read the whole test split.
"""

from __future__ import annotations

import copy
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from core.bundle import DEFAULT_SAMPLER, bundle_from_trainer, write_bundle
from core.errors import TrainingError
from core.io import LoadedTable
from core.overlook_why import WINDOW_STEPS, DiagnosticsWindow
from core.race import AUTO, RACE_CANDIDATES, Race, RaceRecord
from core.trainer import Evaluation, TrainConfig, Trainer
from core.verdicts import RunVerdicts, diagnose_run


@dataclass
class RunResult:
    dataset: str
    trainer: Trainer
    epochs: int
    test: Evaluation
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per epoch
    stopped_by: str | None = None  # why training ended early (a rejected, diverging step)
    race: RaceRecord | None = None  # the race that picked the method, for ``auto``
    verdicts: RunVerdicts | None = None  # the fit check, and why each overlooked column is

    def metrics(self) -> dict[str, Any]:
        cfg = self.trainer.config
        out: dict[str, Any] = {
            "dataset": self.dataset,
            "model": cfg.model,
            "method": self.trainer.method,
            "seed": cfg.seed,
            "epochs": self.epochs,
            "mean_error": _finite(self.test.mean_error),
            "features": [
                {
                    "name": s.name,
                    "type": s.type,
                    "error": _finite(s.error),
                    "baseline_error": _finite(s.baseline_error),
                    "overlooked": bool(s.overlooked),
                }
                for s in self.test.scores
            ],
            "history": self.history,
        }
        if self.verdicts is not None:
            out["verdicts"] = self.verdicts.to_dict()
        if self.stopped_by is not None:
            out["stopped_by"] = self.stopped_by
        if self.test.imputation_scores is not None:
            out["imputation_mean_error"] = _finite(self.test.imputation_mean_error)
        if self.race is not None:
            out["race"] = self.race.to_dict()
        return out

    def bundle_info(self) -> dict[str, Any]:
        """How the model was trained, for its bundle."""
        race = None if self.race is None else self.race.to_dict()
        return {"table": self.dataset, "method": self.trainer.method, "epochs": self.epochs, "race": race}

    def write(self, out_dir: str | Path) -> None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(self.metrics(), indent=2))
        torch.save(self.trainer.state_dict(), out / "model.pt")
        write_bundle(bundle_from_trainer(self.trainer, DEFAULT_SAMPLER, self.bundle_info()), out)


ProgressFn = Callable[[int, int, dict[str, Any]], None]
VALIDATION_ROWS = 5000  # per-epoch validation reads at most this many rows of the split


def train_run(
    table: LoadedTable,
    config: TrainConfig,
    epochs: int,
    impute: bool = False,
    progress: ProgressFn | None = None,
    splits: dict[str, np.ndarray] | None = None,
    race_epochs: int | None = None,
    candidates: Sequence[str] = RACE_CANDIDATES,
    keep_best: bool = False,
) -> RunResult:
    """Train for ``epochs`` passes over the training split; ``progress(epoch, epochs, row)``
    after each. ``impute``: hide the table's imputation mask from the model and score it.
    ``splits``: the Trainer's row split (default: its seeded 70/10/20). Method ``auto``: first
    a race of ``race_epochs`` (default: half of ``epochs``) among ``candidates``, then the
    winner trains on to ``epochs``. ``keep_best``: end with the weights of the epoch (after the
    race) whose validation error was lowest."""
    mask = table.impute_mask if impute else None
    race: RaceRecord | None = None
    history: list[dict[str, Any]] = []
    if config.method == AUTO:
        contest = Race(
            table.data,
            table.schema,
            replace(config, method=candidates[0] if candidates else "none"),
            race_epochs or max(1, epochs // 2),
            candidates,
            impute_mask=mask,
            splits=splits,
        )
        race = contest.run()
        trainer = contest.winner.trainer
        history = list(contest.winner.history)
    else:
        trainer = Trainer(table.data, table.schema, config, impute_mask=mask, splits=splits)
    stopped_by: str | None = None
    window = DiagnosticsWindow()
    # Only the last steps' diagnostics reach the window: a step computes them only if they are read.
    watched_after = trainer.step_count + (epochs - len(history)) * trainer.steps_per_epoch - WINDOW_STEPS
    best = _Best(trainer, history[-1]["val_mean_error"] if history else None) if keep_best else None
    for epoch in range(len(history) + 1, epochs + 1):
        losses = []
        try:
            for _ in range(trainer.steps_per_epoch):
                record = trainer.step()
                losses.append(record.loss)
                if record.step > watched_after:
                    window.add(record.diagnostics)
        except TrainingError as error:  # the trainer has rolled the bad step back
            stopped_by = str(error)
            break
        validation = trainer.evaluate("val", max_rows=VALIDATION_ROWS)
        row = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "val_mean_error": _finite(validation.mean_error),
            "val_rows": min(VALIDATION_ROWS, len(trainer.splits["val"])),
        }
        history.append(row)
        if best is not None:
            best.offer(epoch, row["val_mean_error"])
        if progress is not None:
            progress(epoch, epochs, row)
    if best is not None:
        best.restore()
    test = trainer.evaluate("test")
    # a run stopped by a diverging step has nothing sound to check
    verdicts = diagnose_run(trainer, test, window) if stopped_by is None else None
    return RunResult(table.name, trainer, len(history), test, history, stopped_by, race, verdicts)


class _Best:
    """The trainer's weights at its lowest validation error so far (a copy, restored on request)."""

    def __init__(self, trainer: Trainer, error: float | None):
        self.trainer = trainer
        self.epoch: int | None = None  # None: the weights it started with
        self.error = math.inf if error is None else error
        self.weights = copy.deepcopy(trainer.model.state_dict())

    def offer(self, epoch: int, error: float | None) -> None:
        if error is not None and error < self.error:
            self.epoch, self.error = epoch, error
            self.weights = copy.deepcopy(self.trainer.model.state_dict())

    def restore(self) -> None:
        self.trainer.model.load_state_dict(self.weights)


def progress_bar(stream: TextIO = sys.stderr, width: int = 30) -> ProgressFn:
    """A one-line progress bar that rewrites itself; a plain line per epoch when the
    stream is not a terminal (logs stay readable)."""
    tty = stream.isatty()

    def show(epoch: int, epochs: int, row: dict[str, Any]) -> None:
        filled = int(width * epoch / epochs)
        text = (
            f"epoch {epoch}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
            f"loss {row['train_loss']:.4g}  val error {row['val_mean_error']:.4f}{_sampled(row)}"
        )
        stream.write(("\r" + text + ("\n" if epoch == epochs else "")) if tty else text + "\n")
        stream.flush()

    return show


def _sampled(row: dict[str, Any]) -> str:
    """Where validation read a sample of its split (a large table), how many rows."""
    return f" (on {row['val_rows']:,} rows)" if row.get("val_rows") == VALIDATION_ROWS else ""


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None
