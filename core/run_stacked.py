"""Headless runs of one table and one model, trained side by side in one stacked model.

``train_runs(table, configs, epochs)`` gives every configuration the RunResult that
``core.run.train_run(table, config, epochs)`` gives it: the same epochs, validation
rows, test scores, verdicts and files, since each run of a ``StackedTrainer`` equals
its configuration trained alone. Configurations that cannot share a stack
(``stackable``) are trained one by one, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import TrainingError
from core.io import LoadedTable
from core.overlook_why import WINDOW_STEPS, DiagnosticsWindow
from core.race import AUTO
from core.run import VALIDATION_ROWS, RunResult, train_run
from core.stacked import NotStackedError, StackedTrainer, check_stackable
from core.trainer import TrainConfig
from core.verdicts import diagnose_run


def stackable(configs: Sequence[TrainConfig]) -> bool:
    """Whether ``configs`` train as one stack: two or more, of a stacked model and one
    architecture, none racing for its method (``auto`` trains several candidates first)."""
    if len(configs) < 2 or any(c.method == AUTO for c in configs):
        return False
    try:
        check_stackable(configs)
    except NotStackedError:
        return False
    return True


def train_runs(
    table: LoadedTable, configs: Sequence[TrainConfig], epochs: int, impute: bool = False
) -> list[RunResult]:
    """``train_run(table, config, epochs, impute)`` of every configuration, in order."""
    if not stackable(configs):
        return [train_run(table, config, epochs, impute) for config in configs]
    try:
        stack = StackedTrainer(table.data, table.schema, configs, impute_mask=table.impute_mask if impute else None)
    except NotStackedError:  # splits of different sizes: their minibatches cannot line up
        return [train_run(table, config, epochs, impute) for config in configs]
    return _Runs(stack, epochs).train(table.name)


class _Runs:
    """``train_run``'s loop for every run of a stack: a run whose step is rejected stops
    there (its epoch gets no validation row) and sits out while the others go on."""

    def __init__(self, stack: StackedTrainer, epochs: int):
        self.stack, self.epochs = stack, epochs
        runs = range(len(stack))
        self.histories: list[list[dict[str, Any]]] = [[] for _ in runs]
        self.stopped_by: list[str | None] = [None for _ in runs]
        self.windows = [DiagnosticsWindow() for _ in runs]
        self.steps_per_epoch = stack.runs[0].steps_per_epoch  # one training size, one batch size
        # Only the last steps' diagnostics reach the windows: a step computes them only if they are read.
        self.watched_after = epochs * self.steps_per_epoch - WINDOW_STEPS

    def train(self, table_name: str) -> list[RunResult]:
        for epoch in range(1, self.epochs + 1):
            training = [r for r, reason in enumerate(self.stopped_by) if reason is None]
            if not training:
                break
            losses = self._epoch(training)
            for r in training:
                if self.stopped_by[r] is None:
                    self.histories[r].append(self._row(r, epoch, losses[r]))
        results = []
        for r, history in enumerate(self.histories):
            trainer = self.stack.trainer(r)
            test = trainer.evaluate("test")
            # a run stopped by a diverging step has nothing sound to check
            verdicts = diagnose_run(trainer, test, self.windows[r]) if self.stopped_by[r] is None else None
            results.append(
                RunResult(table_name, trainer, len(history), test, history, self.stopped_by[r], None, verdicts)
            )
        return results

    def _epoch(self, training: list[int]) -> dict[int, list[float]]:
        losses: dict[int, list[float]] = {r: [] for r in training}
        for _ in range(self.steps_per_epoch):
            stepping = [r for r in training if self.stopped_by[r] is None]
            if not stepping:
                break
            outcomes = self.stack.step(stepping)
            for r in stepping:
                outcome = outcomes[r]
                if isinstance(outcome, TrainingError):  # rolled back; the run stops here
                    self.stopped_by[r] = str(outcome)
                elif outcome is not None:
                    losses[r].append(outcome.loss)
                    if outcome.step > self.watched_after:
                        self.windows[r].add(outcome.diagnostics)
        return losses

    def _row(self, run: int, epoch: int, losses: list[float]) -> dict[str, Any]:
        """The epoch's history row, as ``train_run`` writes it."""
        validation = self.stack.evaluate(run, "val", max_rows=VALIDATION_ROWS)
        error = validation.mean_error
        return {
            "epoch": epoch,
            "train_loss": float(np.mean(losses)),
            "val_mean_error": float(error) if error is not None and np.isfinite(error) else None,
            "val_rows": min(VALIDATION_ROWS, len(self.stack.runs[run].splits["val"])),
        }
