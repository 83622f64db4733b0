"""What one browser session works on: a table, its schema, and a training run around a
core Trainer, with bounded histories for the live charts.

Every user action is a method here that either succeeds or leaves everything as it
was and files a one-line message under the place on the page it belongs to
(``messages["data"]``, ``["schema"]``, ``["config"]`` or ``["train"]``). The views
only read this object and call its methods; no tensor is touched outside core/.
What the controls ask for but the run does not have yet lives here too: ``draft``, the
model settings waiting for Apply, and ``sample_choice``, the sample waiting for Load.

Two threads can be in here at once: a click's callback starts a new script run while
the previous one may still be training (streamlit stops a run only at its next st.*
call), and download buttons produce their files from the server's own thread. So
every step and every change of the run happens under ``lock``, and a training loop
stops as soon as a pause, a reset or a rebuild has moved ``generation`` on.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import DataError, TrainingError
from core.history import History
from core.inference import validate_override
from core.io import LoadedTable, check_usable, table_from_csv
from core.overlook_why import DiagnosticsWindow
from core.race import Race, RaceRecord
from core.schema import ColumnType, Schema
from core.trainer import Evaluation, StepRecord, TrainConfig, Trainer
from core.verdicts import diagnose_run
from dashboard.state.race import RaceControls
from dashboard.state.samples import DEFAULT_SAMPLE, SYNTHETIC_NAME, load_sample_table, sample_names
from dashboard.state.session import TRAIN_KEY, session_object
from dashboard.state.snapshot import Marginals, Snapshot, compute_marginals

# The settings the train view's Model controls edit; they take effect at the next Apply.
DRAFT_SETTINGS = ("model", "lr", "batch_size", "latent", "seed")
UPLOAD_LIMIT_MB = 50  # the same number as server.maxUploadSize in .streamlit/config.toml
HISTORY_CAPACITY = 2000
EVALUATION_ROWS = 2000
EVALUATE_EVERY_STEPS = 100
MARGINAL_ROWS = 2000
MARGINAL_SEED = 0  # the same prior draws every time, so that samples change only as the model does
REFRESH_SECONDS = 1.0
# The live fragment asks to rerun this often; a rerun asked for while one is running
# starts right after it, so refreshes follow each other back to back and their length
# is set by the training budget below, not by a timer that would leave the server idle.
FRAGMENT_TIMER_SECONDS = 0.25
# With the speed on auto, each refresh trains for REFRESH_SECONDS minus what the rest
# of a refresh cycle takes -- drawing, sending, the browser's redraw -- measured as the
# time between two refresh starts less the training in it (a moving average). Aiming a
# little under REFRESH_SECONDS keeps the cycle within it; training never gets less than
# MIN_TRAINING_SECONDS, so that a slow browser slows the charts, not training to a halt.
CYCLE_TARGET_SHARE = 0.95
MIN_TRAINING_SECONDS = 0.3
# Marginals need a forward pass and a prior draw on up to MARGINAL_ROWS rows: while
# playing they are recomputed every this many refreshes, not on every one.
MARGINALS_EVERY_REFRESHES = 3

_log = logging.getLogger(__name__)


class DashboardState(RaceControls):
    def __init__(self, table: LoadedTable, config: TrainConfig | None = None):
        self.lock = threading.RLock()
        self.messages: dict[str, str] = {}
        self.upload_id: str | None = None  # file_id of the last upload read
        self.playing = False
        self.steps_per_refresh: int | None = None  # None: auto
        self.refreshes = 0
        self.steps_per_second: float | None = None  # while playing: steps over refresh periods
        self._previous_refresh: tuple[int, float, float] | None = None  # (steps, start, seconds training)
        self.overhead_seconds = 0.3  # running estimate of a refresh cycle's time not spent training
        self.schema_version = 0
        self.generation = 0  # moved on by anything that must stop a training loop
        self.run_number = 0  # moved on by every new run: new table, rebuild or reset
        self.steps = History(HISTORY_CAPACITY)
        self.evaluations = History(HISTORY_CAPACITY)
        self.table = table
        self.schema = table.schema
        self.trainer = Trainer(table.data, table.schema, config or TrainConfig())
        self.draft = replace(self.trainer.config)  # the Model controls' settings, applied by Apply
        self.sample_choice: str | None = None  # the data view's sample picker; None: not picked yet
        self.race: Race | None = None  # "Fix it" while it runs
        self.race_result: RaceRecord | None = None  # the last race, once over
        self._start_run()

    # --- the run ----------------------------------------------------------------
    @property
    def config(self) -> TrainConfig:
        return self.trainer.config

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.trainer.features]

    @property
    def schema_pending(self) -> bool:
        """The schema was edited since the model was built (Apply rebuilds it)."""
        return self.schema != self.trainer.schema

    def _start_run(self) -> None:
        """Forget the old run's histories and score the untrained model."""
        self.run_number += 1
        self.steps.clear()
        self.evaluations.clear()
        self.latest: StepRecord | None = None
        self.latest_cosines: np.ndarray | None = None
        self.evaluation: Evaluation | None = None
        self.previous_evaluation: Evaluation | None = None
        self.marginals: Marginals | None = None
        self.window = DiagnosticsWindow()  # the last steps' diagnostics, for why a column is overlooked
        self._evaluate()

    def _replace_trainer(self, table: LoadedTable, schema: Schema, config: TrainConfig) -> None:
        trainer = Trainer(table.data, schema, config)
        with self.lock:
            self.generation += 1
            self.table, self.schema, self.trainer = table, schema, trainer
            self.playing = False
            self.race, self.race_result = None, None
            self._start_run()

    def apply(self, **changes: Any) -> bool:
        """Rebuild the model with config ``changes`` (model, lr, batch_size, latent, seed, ...)
        on the current table and schema. On a DataError nothing changes."""
        try:
            config = replace(self.config, **changes).validate()
            self._replace_trainer(self.table, self.schema, config)
        except DataError as error:
            self.messages["config"] = str(error)
            return False
        self.draft = replace(self.draft, **{name: getattr(config, name) for name in changes if name in DRAFT_SETTINGS})
        self.messages.pop("config", None)
        self.messages.pop("train", None)
        return True

    def edit_draft(self, **changes: Any) -> None:
        """Change the settings waiting for Apply (DRAFT_SETTINGS); the run is untouched."""
        self.draft = replace(self.draft, **changes)

    def pending_changes(self) -> dict[str, Any]:
        """The draft's settings that differ from the run's: what Apply would change."""
        wanted = {name: getattr(self.draft, name) for name in DRAFT_SETTINGS}
        return {name: value for name, value in wanted.items() if getattr(self.config, name) != value}

    def apply_draft(self) -> bool:
        return self.apply(**self.pending_changes())

    def set_method(self, spec: str) -> bool:
        """Train with ``spec`` from the next step on, on the same model."""
        try:
            with self.lock:
                self.trainer.set_method(spec)
        except DataError as error:
            self.messages["config"] = str(error)
            return False
        self.messages.pop("config", None)
        return True

    def reset(self) -> None:
        """Back to step 0 with the same seed, initial weights and batches."""
        with self.lock:
            self.generation += 1
            self.race = None
            self.trainer.reset()
            self.playing = False
            self._start_run()
        self.messages.pop("train", None)

    def play(self) -> None:
        self.messages.pop("train", None)
        self.playing = True
        self._previous_refresh = None

    def pause(self) -> None:
        with self.lock:
            self.generation += 1
            self.playing = False

    def train(self, n_steps: int | None = None, seconds: float | None = None) -> int:
        """Run ``n_steps`` steps, or steps for about ``seconds``; returns how many were done.

        A step the Trainer rejects (TrainingError: it has already rolled back) stops
        playing and files its message; the steps before it are kept. A pause, reset or
        rebuild from another thread stops the loop before its next step.
        """
        if (n_steps is None) == (seconds is None):
            raise ValueError("give either a number of steps or a time budget")
        generation = self.generation
        started = time.perf_counter()
        done = 0
        try:
            while (done < n_steps) if n_steps is not None else (time.perf_counter() - started < seconds):
                with self.lock:
                    if self.generation != generation:
                        break
                    if self.race is None:
                        self._record(self.trainer.step())
                    elif not self.race.advance(1):
                        self._finish_race()
                done += 1
        except TrainingError as error:
            self.messages["train"] = str(error)
            self.playing = False
        except Exception as error:  # a bug must not take the page down: say so in one line, log the rest
            _log.exception("training step failed")
            self.messages["train"] = f"training stopped by an internal error: {_one_line(error)}"
            self.playing = False
        with self.lock:
            if (
                done
                and self.generation == generation
                and self.trainer.step_count - self._evaluated_at >= EVALUATE_EVERY_STEPS
            ):
                self._evaluate()
        return done

    def step_once(self) -> None:
        """One step, then a fresh evaluation: the Step button, for looking closely."""
        self.pause()
        if self.train(n_steps=1):
            with self.lock:
                if self._evaluated_at != self.trainer.step_count:
                    self._evaluate()

    def refresh(self) -> int:
        """One live refresh: ``steps_per_refresh`` steps, or on auto as many as fit in a
        REFRESH_SECONDS cycle next to the rest of the cycle."""
        self.refreshes += 1
        started = time.perf_counter()
        if self._previous_refresh is not None:
            steps, previous_start, trained = self._previous_refresh
            period = started - previous_start
            self.steps_per_second = steps / period
            self.overhead_seconds = 0.7 * self.overhead_seconds + 0.3 * max(0.0, period - trained)
        if self.steps_per_refresh is None:
            done = self.train(seconds=self.training_budget)
        else:
            done = self.train(n_steps=self.steps_per_refresh)
        self._previous_refresh = (done, started, time.perf_counter() - started)
        return done

    @property
    def training_budget(self) -> float:
        return max(MIN_TRAINING_SECONDS, CYCLE_TARGET_SHARE * REFRESH_SECONDS - self.overhead_seconds)

    def _record(self, record: StepRecord) -> None:
        d = record.diagnostics
        self.steps.append(
            step=record.step,
            epoch=record.epoch,
            method=record.method,
            loss=record.loss,
            kl=record.kl,
            column_losses=record.column_losses,
            gradient_norms=d.norms,
            weights=d.weights,
            conflicts=d.n_conflicts,
            seconds=record.seconds,
        )
        self.latest = record
        self.window.add(d)
        if d.cosines is not None:
            self.latest_cosines = d.cosines

    def _evaluate(self) -> None:
        with self.lock:
            evaluation = self.trainer.evaluate("val", max_rows=EVALUATION_ROWS)
            step = self.trainer.step_count
            self.verdicts = diagnose_run(self.trainer, evaluation, self.window, "val", EVALUATION_ROWS).sentences()
        self.previous_evaluation, self.evaluation = self.evaluation, evaluation
        self._evaluated_at = step
        self.evaluations.append(
            step=step,
            mean_error=evaluation.mean_error,
            errors=np.array([s.error for s in evaluation.scores]),
            overlooked=np.array([s.overlooked for s in evaluation.scores]),
        )

    def snapshot(self) -> Snapshot:
        with self.lock:
            recorded = len(self.steps) > 0
            return Snapshot(
                table_name=self.table.name,
                run_number=self.run_number,
                names=self.names,
                step=self.trainer.step_count,
                epoch=self.trainer.epoch,
                playing=self.playing,
                steps_per_second=self.steps_per_second,
                steps=self.steps.field("step") if recorded else np.empty(0),
                column_losses=self.steps.field("column_losses") if recorded else np.empty((0, len(self.names))),
                conflicts=self.steps.field("conflicts") if recorded else np.empty(0),
                latest=self.latest,
                cosines=self.latest_cosines,
                evaluation=self.evaluation,
                previous_evaluation=self.previous_evaluation,
                evaluated_at=self._evaluated_at,
                verdicts=self.verdicts,
            )

    def current_marginals(self) -> Marginals:
        """The marginals, recomputed when the model changed since -- while playing, only
        every MARGINALS_EVERY_REFRESHES refreshes."""
        with self.lock:
            stale = self.marginals is None or self.marginals.step != self.trainer.step_count
            due = self.marginals is None or not self.playing or self.refreshes % MARGINALS_EVERY_REFRESHES == 0
            if stale and due:
                self.marginals = compute_marginals(self.trainer, self.table.data, MARGINAL_ROWS, MARGINAL_SEED)
            return self.marginals

    # --- the table and its schema ---------------------------------------------------
    def load_sample(self, name: str) -> bool:
        try:
            table = load_sample_table(name)
            self._replace_trainer(table, table.schema, self.config)
        except DataError as error:
            self.messages["data"] = str(error)
            return False
        self._table_changed()
        return True

    def load_upload(self, file_name: str, content: bytes) -> bool:
        """A CSV as uploaded: read, typed, checked; on any DataError the old table and run stay."""
        try:
            if len(content) > UPLOAD_LIMIT_MB * 2**20:
                raise DataError(f"the file is {len(content) / 2**20:.0f} MB; the limit is {UPLOAD_LIMIT_MB} MB")
            table = table_from_csv(content, Path(file_name).stem or "upload")
            self._replace_trainer(table, table.schema, self.config)
        except DataError as error:
            self.messages["data"] = f"{file_name}: {error}"
            return False
        except Exception as error:  # any bytes can arrive: an unforeseen failure is still a message
            _log.exception("reading upload %r failed", file_name)
            self.messages["data"] = f"{file_name}: cannot be read as a table ({_one_line(error)})"
            return False
        self._table_changed()
        return True

    def _table_changed(self) -> None:
        self.schema_version += 1
        for place in ("data", "schema", "config", "train"):
            self.messages.pop(place, None)

    def override_column(
        self, name: str, new_type: ColumnType | str | None = None, excluded: bool | None = None
    ) -> bool:
        """Retype, exclude or include one column; takes effect at the next Apply."""
        try:
            schema = validate_override(self.table.data, self.schema, name, new_type, excluded=excluded)
            check_usable(self.table.data, schema)
        except DataError as error:
            self.messages["schema"] = str(error)
            return False
        finally:
            # the editor is redrawn from the schema either way: a refused edit disappears from it
            self.schema_version += 1
        self.schema = schema
        self.messages.pop("schema", None)
        return True

    def discard_schema_edits(self) -> None:
        self.schema = self.trainer.schema
        self.schema_version += 1
        self.messages.pop("schema", None)


def new_state() -> DashboardState:
    """What a new session opens on: Adult, or the synthetic table when Adult is absent
    or cannot be trained on (then the data view says why)."""
    if DEFAULT_SAMPLE in sample_names():
        try:
            return DashboardState(load_sample_table(DEFAULT_SAMPLE))
        except DataError as error:
            state = DashboardState(load_sample_table(SYNTHETIC_NAME))
            state.messages["data"] = (
                f"sample {DEFAULT_SAMPLE!r} could not be opened ({error}); showing the synthetic table"
            )
            return state
    return DashboardState(load_sample_table(SYNTHETIC_NAME))


def get_state() -> DashboardState:
    """This browser session's table and run, created on its first page load."""
    return session_object(TRAIN_KEY, new_state)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__
