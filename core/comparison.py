"""A live comparison: several configurations trained side by side in one process.

The dashboard keeps one ``Comparison`` per session. ``advance(seconds)`` steps the run
that is furthest behind, in epochs, until the time is spent, so that all runs move
forward together; each run can be paused, resumed or cancelled on its own. How fair
the comparison is (what the runs share) is ``core.configurations.fairness_notes``.

Configurations that can share one stacked model (one model, one architecture, one batch
size: ``core.run_stacked.stackable``) are trained in a ``StackedTrainer``: the runs that
are furthest behind take their step together, for little more than the price of one,
and each run's numbers are those it has trained alone.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from core.comparison_view import CANCELLED, DIVERGED, FINISHED, PAUSED, RUNNING, ComparisonView, RunView
from core.configurations import check_configuration_count, configuration_labels, fairness_notes
from core.errors import DataError, TrainingError
from core.history import History
from core.records import StepRecord
from core.run_stacked import stackable
from core.schema import Schema
from core.stacked import NotStackedError, StackedTrainer
from core.trainer import Evaluation, TrainConfig, Trainer

__all__ = ["CANCELLED", "DIVERGED", "FINISHED", "PAUSED", "RUNNING", "ComparedRun", "Comparison", "ComparisonView"]


@dataclass
class ComparedRun:
    """One configuration of a comparison: its trainer, its state and its scores so far."""

    label: str
    trainer: Trainer
    total_steps: int
    evaluate_every: int
    evaluation: Evaluation  # the latest validation scores
    status: str = RUNNING
    message: str | None = None  # why a run stopped early
    evaluated_at: int = 0  # the step `evaluation` is of
    evaluations: History = field(default_factory=lambda: History(500))  # step, epoch, validation scores
    losses: History = field(default_factory=lambda: History(2000))  # step, epoch, training loss

    def __post_init__(self) -> None:
        self.record(self.evaluation)

    def record(self, evaluation: Evaluation) -> None:
        """Make ``evaluation`` (of the trainer's current step) the latest and add it to the curve."""
        self.evaluation, self.evaluated_at = evaluation, self.trainer.step_count
        self.evaluations.append(
            step=self.trainer.step_count,
            epoch=self.trainer.epoch,
            mean_error=evaluation.mean_error,
            worst_error=_worst(np.array([s.error for s in evaluation.scores])),
            overlooked=len(evaluation.overlooked),
        )

    @property
    def config(self) -> TrainConfig:
        return self.trainer.config

    @property
    def step_count(self) -> int:
        return self.trainer.step_count

    @property
    def epoch(self) -> float:
        return self.trainer.epoch

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
        check_configuration_count(len(configs))
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
        self.stack = _stack(data, schema, self.configs)
        trainers = self.stack.runs if self.stack is not None else [Trainer(data, schema, c) for c in self.configs]
        self.runs: list[ComparedRun] = []
        for label, trainer in zip(self.labels, trainers, strict=True):
            # at least once an epoch, so that short runs on small tables still draw a curve
            every = max(1, min(evaluate_every, trainer.steps_per_epoch))
            total = epochs * trainer.steps_per_epoch
            self.runs.append(ComparedRun(label, trainer, total, every, self._scores(trainer)))
        self.names = [c.name for c in self.runs[0].trainer.features]
        first = [p.detach() for p in self.runs[0].trainer.model.parameters()]
        self.same_initial_weights = all(_same_tensors(first, run.trainer.model.parameters()) for run in self.runs[1:])

    def fairness(self) -> tuple[bool, list[str]]:
        """``fairness_notes`` of these configurations, with their initial weights compared."""
        return fairness_notes(self.configs, self.same_initial_weights)

    @property
    def stacked(self) -> bool:
        """Whether the runs are trained side by side in one stacked model."""
        return self.stack is not None

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
        step_budget = math.inf if steps is None else steps
        deadline = math.inf if seconds is None else time.perf_counter() + seconds
        done = 0
        while self.active and done < step_budget and time.perf_counter() < deadline:
            if self.stack is None:
                run = min((r for r in self.runs if r.active), key=lambda r: r.progress)
                self._step(run)
                done += 1
            else:
                done += self._step_stacked(step_budget - done)
        if self.stack is not None:
            with self.lock:  # every run's Trainer brought up to date, for whoever reads it next
                for index in range(len(self.runs)):
                    self.stack.trainer(index)
        return done

    def _step(self, run: ComparedRun) -> None:
        with self.lock:
            if not run.active:  # paused, cancelled or ended since it was picked
                return
            try:
                outcome: StepRecord | TrainingError = run.trainer.step()
            except TrainingError as error:  # the trainer rolled the step back
                outcome = error
            self._took(run, outcome)

    def _step_stacked(self, budget: float) -> int:
        """One stacked step of the active runs furthest behind (they share one number of
        steps per epoch), at most ``budget`` of them; how many stepped."""
        assert self.stack is not None
        with self.lock:
            active = [i for i, run in enumerate(self.runs) if run.active]
            behind = min(self.runs[i].trainer.step_count for i in active)
            stepping = [i for i in active if self.runs[i].trainer.step_count == behind][: int(min(budget, len(active)))]
            outcomes = self.stack.step(stepping)
            for i in stepping:
                outcome = outcomes[i]
                assert outcome is not None
                self._took(self.runs[i], outcome)
        return len(stepping)

    def _took(self, run: ComparedRun, outcome: StepRecord | TrainingError) -> None:
        """A run's step done (or rejected and rolled back): its curves, status and scores."""
        if isinstance(outcome, TrainingError):
            run.status, run.message = DIVERGED, str(outcome)
            self._evaluate(run)
            return
        run.losses.append(step=outcome.step, epoch=outcome.epoch, loss=outcome.loss)
        if run.trainer.step_count >= run.total_steps:
            run.status = FINISHED
        if run.status == FINISHED or run.trainer.step_count - run.evaluated_at >= run.evaluate_every:
            self._evaluate(run)

    def _scores(self, trainer: Trainer) -> Evaluation:
        return trainer.evaluate("val", max_rows=self.evaluation_rows)

    def _evaluate(self, run: ComparedRun) -> None:
        with self.lock:
            if self.stack is not None:  # the run's weights into its Trainer first
                self.stack.trainer(self.runs.index(run))
            run.record(self._scores(run.trainer))

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
        fields = ["step", "epoch", "mean_error", "worst_error", "overlooked"]
        with self.lock:
            frames = [_history_frame(run.label, run.evaluations, fields) for run in self.runs]
        return pd.concat(frames, ignore_index=True)

    def losses_frame(self) -> pd.DataFrame:
        """Training loss over steps, one row per configuration x kept step."""
        fields = ["step", "epoch", "loss"]
        with self.lock:
            frames = [_history_frame(run.label, run.losses, fields) for run in self.runs if len(run.losses)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["configuration", *fields])

    def view(self) -> ComparisonView:
        """Every run's state and scores and the frames drawn of them, at one moment."""
        with self.lock:
            runs = [
                RunView(
                    run.label,
                    run.config,
                    run.status,
                    run.message,
                    run.step_count,
                    run.epoch,
                    run.total_steps,
                    run.evaluate_every,
                    run.evaluation,
                    run.evaluated_at,
                )
                for run in self.runs
            ]
            frames = self.summary_frame(), self.scores_frame(), self.curves_frame(), self.losses_frame()
        return ComparisonView(
            self.table_name,
            self.seed,
            self.epochs,
            self.configs,
            self.labels,
            self.names,
            self.stacked,
            self.same_initial_weights,
            runs,
            *frames,
        )

    def to_json(self) -> str:
        """The whole comparison: settings, fairness, each run's state, scores and curves."""
        return self.view().to_json()

    def stop(self, message: str) -> None:
        """End every running or paused run where it is, saying ``message`` (a bug stopped training)."""
        with self.lock:
            for run in self.runs:
                if run.status in (RUNNING, PAUSED):
                    run.status, run.message = DIVERGED, message


def _stack(data: pd.DataFrame, schema: Schema, configs: Sequence[TrainConfig]) -> StackedTrainer | None:
    """One stacked trainer for ``configs``, or None where they cannot share one."""
    if not stackable(configs):
        return None
    try:
        return StackedTrainer(data, schema, configs)
    except NotStackedError:  # splits of different sizes
        return None


def _history_frame(label: str, history: History, fields: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({"configuration": label, **{name: history.field(name) for name in fields}})


def _same_tensors(first: list[torch.Tensor], other: Iterable[torch.Tensor]) -> bool:
    others = [p.detach() for p in other]
    return len(first) == len(others) and all(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(first, others, strict=True)
    )


def _worst(errors: np.ndarray) -> float:
    return float(np.nanmax(errors)) if np.isfinite(errors).any() else math.nan
