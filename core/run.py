"""A headless training run from start to finish: epochs of Trainer steps, validation
after each epoch, test scores at the end, and the files a run leaves behind."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from core.errors import TrainingError
from core.io import LoadedTable
from core.trainer import Evaluation, TrainConfig, Trainer


@dataclass
class RunResult:
    dataset: str
    trainer: Trainer
    epochs: int
    test: Evaluation
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per epoch
    stopped_by: str | None = None  # why training ended early (a rejected, diverging step)

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
        if self.stopped_by is not None:
            out["stopped_by"] = self.stopped_by
        if self.test.imputation_scores is not None:
            out["imputation_mean_error"] = _finite(self.test.imputation_mean_error)
        return out

    def write(self, out_dir: str | Path) -> None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(self.metrics(), indent=2))
        torch.save(self.trainer.state_dict(), out / "model.pt")


ProgressFn = Callable[[int, int, dict[str, Any]], None]


def train_run(
    table: LoadedTable, config: TrainConfig, epochs: int, impute: bool = False, progress: ProgressFn | None = None
) -> RunResult:
    """Train for ``epochs`` passes over the training split; ``progress(epoch, epochs, row)``
    after each. ``impute``: hide the table's imputation mask from the model and score it."""
    trainer = Trainer(table.data, table.schema, config, impute_mask=table.impute_mask if impute else None)
    history: list[dict[str, Any]] = []
    stopped_by: str | None = None
    for epoch in range(1, epochs + 1):
        try:
            losses = [trainer.step().loss for _ in range(trainer.steps_per_epoch)]
        except TrainingError as error:  # the trainer has rolled the bad step back
            stopped_by = str(error)
            break
        row = {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "val_mean_error": _finite(trainer.evaluate("val").mean_error),
        }
        history.append(row)
        if progress is not None:
            progress(epoch, epochs, row)
    return RunResult(table.name, trainer, len(history), trainer.evaluate("test"), history, stopped_by)


def progress_bar(stream: TextIO = sys.stderr, width: int = 30) -> ProgressFn:
    """A one-line progress bar that rewrites itself; a plain line per epoch when the
    stream is not a terminal (logs stay readable)."""
    tty = stream.isatty()

    def show(epoch: int, epochs: int, row: dict[str, Any]) -> None:
        filled = int(width * epoch / epochs)
        text = (
            f"epoch {epoch}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
            f"loss {row['train_loss']:.4g}  val error {row['val_mean_error']:.4f}"
        )
        stream.write(("\r" + text + ("\n" if epoch == epochs else "")) if tty else text + "\n")
        stream.flush()

    return show


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None
