"""One browser session's run as a worker process holds it.

``LiveRun`` wraps a Trainer with what the live page reads of it: per step, a compact row
(the losses the charts draw); the latest step's record with its diagnostics computed; the
validation scores and the why-overlooked sentences every EVALUATE_EVERY_STEPS steps.

A step's gradient diagnostics (norms, weights, cosines, conflicts: about 15 % of a step on
Adult) are computed only where something reads them: for the newest step when the page
fetches (its gradient panel, its conflict count), and for the WINDOW_STEPS steps before each
evaluation (the why-overlooked sentences). Those steps' rows carry them; the other rows leave
gradient norms, weights and conflicts unknown (NaN), and the page draws the conflicts over time
from the steps that have them, one or more a refresh.

All of it waits in the run until the page fetches it (``fetch``), so the page reads at its
own pace what the worker trained at its own. A free-running run
stops stepping once PENDING_LIMIT steps wait unfetched: a tab nobody reads stops costing CPU.

Every CHECKPOINT_SECONDS (and at every pause) a fetch also carries the run's state bytes, so
that the server can rebuild the run elsewhere if this worker dies.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from core.bundle import DEFAULT_SAMPLER, bundle_archive, bundle_from_trainer, trainer_mixture, training_bounds
from core.diagnostics import GradientDiagnostics
from core.errors import TrainingError
from core.overlook_why import WINDOW_STEPS, DiagnosticsWindow
from core.samplers import sample_rows
from core.schema import Column, Schema
from core.trainer import Evaluation, StepRecord, TrainConfig, Trainer
from core.verdicts import diagnose_run

EVALUATION_ROWS = 2000
EVALUATE_EVERY_STEPS = 100
PENDING_LIMIT = 2000
CHECKPOINT_SECONDS = 5.0
# The marginals' samples come from the sampler ``sample`` uses; its mixture is refitted with
# each recomputation, on a bounded number of training rows and with one size, to stay quick.
LIVE_MIXTURE_SIZES = (10,)


@dataclass(frozen=True)
class Facts:
    """What the server mirrors of a run after every reply."""

    step_count: int
    epoch: float
    method: str
    config: TrainConfig
    playing: bool


@dataclass(frozen=True)
class Scored:
    """An evaluation on up to EVALUATION_ROWS validation rows, and the sentences saying why
    each overlooked column is."""

    step: int
    evaluation: Evaluation
    verdicts: dict[str, str]


@dataclass
class Update:
    """What was trained since the last fetch."""

    rows: list[dict[str, Any]]  # one per step, oldest first
    latest: StepRecord | None  # the newest step's record, diagnostics computed; None: no new step
    cosines: np.ndarray | None  # the newest cosines among the new steps (some steps skip them)
    evaluations: list[Scored]
    message: str | None  # why training stopped itself (a step the trainer rejected)
    checkpoint: tuple[int, bytes] | None  # (step, state bytes), when one was taken


@dataclass
class Marginals:
    """The data, its reconstruction and the model's samples on a bounded set of rows."""

    step: int
    features: tuple[Column, ...]
    data: pd.DataFrame
    reconstruction: pd.DataFrame
    samples: pd.DataFrame


class LiveRun:
    # the commands a page may send (core.workers.worker)
    COMMANDS = frozenset(
        {
            "play",
            "pause",
            "reset",
            "set_method",
            "step",
            "fetch",
            "evaluate",
            "reconstructed_table",
            "state_bytes",
            "marginals",
            "bundle",
        }
    )

    def __init__(
        self,
        table: pd.DataFrame,
        schema: Schema,
        config: TrainConfig,
        state: bytes | None = None,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ):
        self.table = table
        self.checkpoint_seconds = checkpoint_seconds
        self.trainer = Trainer(table, schema, config)
        if state is not None:
            self.trainer.load_state_dict(torch.load(io.BytesIO(state), weights_only=False))
        self.playing = False
        self._begin()

    def _begin(self) -> None:
        self.window = DiagnosticsWindow()  # the last steps' diagnostics, for why a column is overlooked
        self._rows: list[dict[str, Any]] = []
        self._evaluations: list[Scored] = []
        self._latest: StepRecord | None = None
        self._newest: tuple[StepRecord, dict[str, Any]] | None = None  # its diagnostics not computed yet
        self._cosines: np.ndarray | None = None
        self._message: str | None = None
        self._checkpoint: tuple[int, bytes] | None = None
        self._saved_at = (self.trainer.step_count, time.monotonic())
        self.evaluate_now()

    @property
    def facts(self) -> Facts:
        t = self.trainer
        return Facts(t.step_count, t.epoch, t.method, t.config, self.playing)

    @property
    def runnable(self) -> bool:
        """Playing, and the page has kept up."""
        return self.playing and len(self._rows) < PENDING_LIMIT

    def created(self) -> None:
        return None  # the server reads the new run by its first fetch

    # --- commands -------------------------------------------------------------------
    def play(self) -> None:
        self.playing = True

    def pause(self) -> Update:
        self.playing = False
        return self.fetch(checkpoint=True)

    def reset(self) -> None:
        """Back to step 0 with the same seed; what was not fetched is dropped."""
        self.playing = False
        self.trainer.reset()
        self._begin()

    def set_method(self, spec: str) -> None:
        self.trainer.set_method(spec)

    def step(self, n: int, evaluate: bool = False) -> Update:
        """``n`` steps now; ``evaluate``: then score the model, whatever the cadence."""
        self.train(n)
        if evaluate and self._evaluated_at != self.trainer.step_count:
            self.evaluate_now()
        return self.fetch()

    def fetch(self, checkpoint: bool = False) -> Update:
        self._save(force=checkpoint)
        if self._newest is not None:
            self._diagnose(*self._newest)
        update = Update(self._rows, self._latest, self._cosines, self._evaluations, self._message, self._checkpoint)
        self._rows, self._evaluations = [], []
        self._latest = self._cosines = None
        self._message, self._checkpoint = None, None
        return update

    def evaluate(self, split: str, max_rows: int | None = None) -> Evaluation:
        return self.trainer.evaluate(split, max_rows)

    def reconstructed_table(self) -> pd.DataFrame:
        return self.trainer.reconstructed_table()

    def state_bytes(self) -> bytes:
        return self.trainer.state_bytes()

    def marginals(self, max_rows: int, seed: int) -> Marginals:
        return compute_marginals(self.trainer, self.table, max_rows, seed)

    def bundle(self, info: dict[str, Any]) -> bytes:
        """The model bundle's archive (``core.bundle``), ``info`` saying how it was trained."""
        return bundle_archive(bundle_from_trainer(self.trainer, DEFAULT_SAMPLER, info))

    # --- training -------------------------------------------------------------------
    def train(self, n: int) -> int:
        done = 0
        while done < n and self._one_step():
            done += 1
        return done

    def train_for(self, seconds: float) -> int:
        """Steps for about ``seconds`` (at least one) while the run stays runnable."""
        started, done = time.perf_counter(), 0
        while self.runnable and self._one_step():
            done += 1
            if time.perf_counter() - started >= seconds:
                break
        return done

    def _one_step(self) -> bool:
        """One step; a step the Trainer rejects (it has rolled it back) stops the run, with its message."""
        try:
            record = self.trainer.step()
        except TrainingError as error:
            self.stop(str(error))
            return False
        self._record(record)
        if self.trainer.step_count - self._evaluated_at >= EVALUATE_EVERY_STEPS:
            self.evaluate_now()
        return True

    def stop(self, message: str) -> None:
        self.playing = False
        self._message = message

    def _record(self, record: StepRecord) -> None:
        unknown = np.full(len(record.column_losses), np.nan)
        row = {
            "step": record.step,
            "epoch": record.epoch,
            "method": record.method,
            "loss": record.loss,
            "kl": record.kl,
            "column_losses": record.column_losses,
            "gradient_norms": unknown,
            "weights": unknown,
            "conflicts": None,
            "seconds": record.seconds,
        }
        self._rows.append(row)
        self._newest = (record, row)
        if EVALUATE_EVERY_STEPS - (record.step - self._evaluated_at) < WINDOW_STEPS:
            self.window.add(self._diagnose(record, row))

    def _diagnose(self, record: StepRecord, row: dict[str, Any]) -> GradientDiagnostics:
        """The step's diagnostics, computed now: into its row, and as the latest record."""
        d = record.diagnostics
        row.update(gradient_norms=d.norms, weights=d.weights, conflicts=d.n_conflicts)
        # the record as plain values: its tensors stay here
        self._latest = StepRecord(
            record.step,
            record.epoch,
            record.method,
            record.loss,
            record.kl,
            record.column_losses,
            d,
            record.seconds,
            record.converged,
        )
        if d.cosines is not None:
            self._cosines = d.cosines
        self._newest = None
        return d

    def evaluate_now(self) -> None:
        if self._newest is not None:  # an evaluation off the cadence (Step, a pause): its step counts too
            self.window.add(self._diagnose(*self._newest))
        step = self.trainer.step_count
        evaluation = self.trainer.evaluate("val", max_rows=EVALUATION_ROWS)
        verdicts = diagnose_run(self.trainer, evaluation, self.window, "val", EVALUATION_ROWS).sentences()
        self._evaluated_at = step
        self._evaluations.append(Scored(step, evaluation, verdicts))

    def _save(self, force: bool) -> None:
        step, when = self._saved_at
        now = time.monotonic()
        if self.trainer.step_count != step and (force or now - when >= self.checkpoint_seconds):
            self._checkpoint = (self.trainer.step_count, self.trainer.state_bytes())
            self._saved_at = (self.trainer.step_count, now)


def compute_marginals(trainer: Trainer, table: pd.DataFrame, max_rows: int, seed: int) -> Marginals:
    """Data, reconstruction and samples on at most ``max_rows`` validation rows."""
    rows = trainer.splits["val"]
    if len(rows) > max_rows:
        rows = rows[np.linspace(0, len(rows) - 1, max_rows).round().astype(int)]
    reconstruction = trainer.encoder.decode(trainer.reconstruct(rows))
    mixture = trainer_mixture(trainer, max_rows, LIVE_MIXTURE_SIZES) if DEFAULT_SAMPLER == "mixture" else None
    bounds = training_bounds(trainer)
    samples = sample_rows(trainer.model, trainer.likelihood, trainer.encoder, len(rows), seed, mixture, bounds)
    data = table.iloc[rows][[c.name for c in trainer.features]].reset_index(drop=True)
    # Reconstructions of missing cells are imputations: compare like with like.
    reconstruction = reconstruction.where(data.notna().to_numpy())
    return Marginals(trainer.step_count, trainer.features, data, reconstruction, samples)
