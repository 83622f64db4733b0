"""What one browser session works on: a table, its schema, and a training run, with bounded
histories for the live charts.

The run trains in a worker process of the server's pool (``core.workers``), not in the
server's interpreter: ``trainer`` is a ``RemoteTrainer``. On auto speed a playing run trains
in its worker without pause, and each refresh of the page fetches what was trained since the
last one; at a set speed each refresh asks for that many steps. "Fix it"'s race (see
``race``) trains in a worker too, while the page plays it.

Every user action is a method here that either succeeds or leaves everything as it was and
files a one-line message under the place on the page it belongs to (``messages["data"]``,
``["schema"]``, ``["config"]`` or ``["train"]``) -- a full pool, a worker that died and was
replaced, a step the trainer rejected included. The views only read this object and call its
methods; no tensor is touched outside core/. What the controls ask for but the run does not
have yet lives here too: ``draft``, the model settings waiting for Apply, and
``sample_choice``, the sample waiting for Load.

A click's callback can run while the previous script run is still refreshing, and download
buttons produce their files from the server's own thread: the histories change under
``lock``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from core.errors import DataError
from core.history import History
from core.io import LoadedTable
from core.race import RaceRecord
from core.schema import Schema
from core.trainer import Evaluation, StepRecord, TrainConfig
from core.workers.live import Scored, Update
from core.workers.pool import PoolFull, SessionEnded
from core.workers.remote import RemoteTrainer, WorkerError
from core.workers.remote_race import RemoteRace
from dashboard.exports import bundle_info
from dashboard.state.race import RaceControls
from dashboard.state.samples import DEFAULT_SAMPLE, SYNTHETIC_NAME, load_sample_table, sample_names
from dashboard.state.session import TRAIN_KEY, session_object
from dashboard.state.snapshot import Marginals, Snapshot, points, truncated
from dashboard.state.table import UPLOAD_LIMIT_MB, TableControls

__all__ = ["DRAFT_SETTINGS", "UPLOAD_LIMIT_MB", "DashboardState", "get_state", "new_state"]

# The settings the train view's Model controls edit; they take effect at the next Apply.
DRAFT_SETTINGS = ("model", "lr", "batch_size", "latent", "seed")
HISTORY_CAPACITY = 2000
EVALUATION_ROWS = 2000  # as core.workers.live scores the run
MARGINAL_ROWS = 2000
MARGINAL_SEED = 0  # the same prior draws every time, so that samples change only as the model does
# While playing on auto, the page refreshes about every REFRESH_SECONDS with what the worker
# trained meanwhile. At a set speed a refresh waits for its steps, and refreshes follow each
# other back to back (a rerun asked for while one runs starts right after it).
REFRESH_SECONDS = 1.0
FRAGMENT_TIMER_SECONDS = 0.25
# Marginals need a forward pass and a prior draw on up to MARGINAL_ROWS rows: while
# playing they are recomputed every this many refreshes, not on every one.
MARGINALS_EVERY_REFRESHES = 3

Value = TypeVar("Value")


class DashboardState(RaceControls, TableControls):
    def __init__(self, table: LoadedTable, config: TrainConfig | None = None):
        self.lock = threading.RLock()
        self.messages: dict[str, str] = {}
        self.upload_id: str | None = None  # file_id of the last upload read
        self.playing = False
        self.steps_per_refresh: int | None = None  # None: auto
        self.refreshes = 0
        self.steps_per_second: float | None = None  # while playing: steps over refresh periods
        self._previous_refresh: float | None = None  # when the last refresh started
        self.schema_version = 0
        self.run_number = 0  # moved on by every new run: new table, rebuild or reset
        self.steps = History(HISTORY_CAPACITY)
        self.diagnosed = History(HISTORY_CAPACITY)  # Snapshot.conflict_steps says why apart
        self.evaluations = History(HISTORY_CAPACITY)
        self.table = table
        self.schema = table.schema
        self.trainer = RemoteTrainer(table.data, table.schema, config or TrainConfig())
        self.draft = replace(self.trainer.config)  # the Model controls' settings, applied by Apply
        self.sample_choice: str | None = None  # the data view's sample picker; None: not picked yet
        self.race: RemoteRace | None = None  # "Fix it" while it runs
        self._race_steps = 0
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

    @property
    def training_available(self) -> bool:
        """The run is in a worker and scored: false while the pool has no room for it."""
        return self.evaluation is not None

    def _start_run(self) -> None:
        """Forget the old run's histories and read the untrained model's scores."""
        self.run_number += 1
        for history in (self.steps, self.diagnosed, self.evaluations):
            history.clear()
        self.latest: StepRecord | None = None
        self.latest_cosines: np.ndarray | None = None
        self.evaluation: Evaluation | None = None
        self.previous_evaluation: Evaluation | None = None
        self.verdicts: dict[str, str] = {}
        self._evaluated_at = 0
        self.marginals: Marginals | None = None
        self._absorb(self._ask(self.trainer.fetch))

    def _replace_trainer(
        self, table: LoadedTable, schema: Schema, config: TrainConfig, state: bytes | None = None
    ) -> None:
        """A new run (raises DataError, and nothing changes, if it cannot be built). The new run
        is built before the old one lets go of its place: with a full pool it takes that place
        at its first fetch."""
        trainer = RemoteTrainer(table.data, schema, config, state)
        with self.lock:
            old, self.trainer = self.trainer, trainer
            self.table, self.schema = table, schema
            self.playing = False
            self._end_race()
            self.race_result = None
        old.close()
        self._start_run()

    def _adopt(self, trainer_state: bytes, config: TrainConfig) -> None:
        """Go on from a Trainer built elsewhere (a race's winner), at its state."""
        self._replace_trainer(self.table, self.trainer.schema, config, trainer_state)

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
        if self.trainer.placed:
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
                self._ask(self.trainer.set_method, spec)
        except DataError as error:
            self.messages["config"] = str(error)
            return False
        self.messages.pop("config", None)
        return True

    def reset(self) -> None:
        """Back to step 0 with the same seed, initial weights and batches."""
        with self.lock:
            self._end_race()
            self.playing = False
            self.messages.pop("train", None)
            self._ask(self.trainer.reset)
            self._start_run()

    def play(self) -> None:
        """Play from the next refresh on (which, on auto, sets the worker training)."""
        self.messages.pop("train", None)
        self.playing = True
        self._previous_refresh = None

    def pause(self) -> None:
        with self.lock:
            self.playing = False
            if self.race is not None:
                self._pause_race()
            self._stop_worker()

    def _stop_worker(self) -> None:
        """The worker stops training on its own; what it trained is read in."""
        if self.trainer.playing:
            self._absorb(self._ask(self.trainer.pause))

    def set_speed(self, steps_per_refresh: int | None) -> None:
        """Steps per refresh (None: auto, the worker trains without waiting for the page)."""
        self.steps_per_refresh = steps_per_refresh
        if steps_per_refresh is not None:
            self._stop_worker()

    def train(self, n_steps: int) -> int:
        """Run ``n_steps`` steps now (of the race, while racing); returns how many were done.
        A step the trainer rejects stops playing with its message; the steps before it are kept."""
        if self.race is not None:
            return self._race(n_steps)
        return self._absorb(self._ask(self.trainer.train, n_steps))

    def step_once(self) -> None:
        """One step, then a fresh evaluation: the Step button, for looking closely."""
        self.pause()
        if self.race is not None:
            self._race(1)
        else:
            self._absorb(self._ask(self.trainer.train, 1, True))

    def refresh(self) -> int:
        """One live refresh: what the worker trained since the last one (auto), or
        ``steps_per_refresh`` steps; while racing, a slice of the race."""
        self.refreshes += 1
        started = time.perf_counter()
        if self.race is not None:
            done = self._race(None)
        else:
            # Under the lock, and only while playing: a refresh that began before a click on
            # Pause must neither set the worker playing again nor absorb its rows after the
            # pause's (out of order, with older facts).
            with self.lock:
                if not self.playing:
                    done = 0
                elif self.steps_per_refresh is None:
                    if not self.trainer.playing:
                        self._ask(self.trainer.play)
                    done = self._absorb(self._ask(self.trainer.fetch))
                else:
                    done = self._absorb(self._ask(self.trainer.train, self.steps_per_refresh))
        if self._previous_refresh is not None:
            self.steps_per_second = done / max(1e-6, started - self._previous_refresh)
        self._previous_refresh = started
        return done

    # --- what the worker sends back -----------------------------------------------------
    def _ask(self, call: Callable[..., Value], *args: Any) -> Value | None:
        """``call`` on the remote trainer; a full pool, a lost worker or a bug in it stops
        playing with a one-line message (None back). DataError is the caller's to handle."""
        try:
            return call(*args)
        except PoolFull as full:
            self.messages["train"] = str(full)
        except SessionEnded as ended:  # the worker died again at once
            self.messages["train"] = f"training stopped: {ended}"
        except WorkerError as error:
            self.messages["train"] = f"training stopped by an internal error: {error}"
        finally:
            self._notice()
        self.playing = False
        return None

    def _notice(self) -> None:
        trainer = self.trainer
        if trainer.notice is not None:
            self.messages["train"], trainer.notice = trainer.notice, None
        if trainer.rewound_to is not None:
            with self.lock:
                step, trainer.rewound_to = trainer.rewound_to, None
                histories = (self.steps, self.diagnosed, self.evaluations)
                self.steps, self.diagnosed, self.evaluations = (truncated(h, step) for h in histories)
                if self.latest is not None and self.latest.step > step:
                    self.latest = None

    def _absorb(self, update: Update | None) -> int:
        """Add the steps and evaluations of ``update`` to the histories; how many steps."""
        if update is None:
            return 0
        with self.lock:
            for row in update.rows:
                self.steps.append(**row)
                if row["conflicts"] is not None:
                    self.diagnosed.append(step=row["step"], conflicts=row["conflicts"])
            if update.latest is not None:
                self.latest = update.latest
            if update.cosines is not None:
                self.latest_cosines = update.cosines
            for scored in update.evaluations:
                self._scored(scored)
            if update.message is not None:
                self.messages["train"] = update.message
                self.playing = False
        return len(update.rows)

    def _scored(self, scored: Scored) -> None:
        evaluation = scored.evaluation
        self.previous_evaluation, self.evaluation = self.evaluation, evaluation
        self._evaluated_at, self.verdicts = scored.step, scored.verdicts
        self.evaluations.append(
            step=scored.step,
            mean_error=evaluation.mean_error,
            errors=np.array([s.error for s in evaluation.scores]),
            overlooked=np.array([s.overlooked for s in evaluation.scores]),
        )

    def snapshot(self) -> Snapshot:
        with self.lock:
            assert self.evaluation is not None, "no snapshot before the run is in a worker"
            return Snapshot(
                table_name=self.table.name,
                run_number=self.run_number,
                names=self.names,
                step=self.trainer.step_count,
                epoch=self.trainer.epoch,
                playing=self.playing,
                steps_per_second=self.steps_per_second,
                steps=points(self.steps, "step"),
                column_losses=points(self.steps, "column_losses", len(self.names)),
                conflict_steps=points(self.diagnosed, "step"),
                conflicts=points(self.diagnosed, "conflicts"),
                latest=self.latest,
                cosines=self.latest_cosines,
                evaluation=self.evaluation,
                previous_evaluation=self.previous_evaluation,
                evaluated_at=self._evaluated_at,
                verdicts=self.verdicts,
            )

    def current_marginals(self) -> Marginals | None:
        """The marginals, recomputed when the model changed since -- while playing, only
        every MARGINALS_EVERY_REFRESHES refreshes. None only if the worker could not make them."""
        with self.lock:
            stale = self.marginals is None or self.marginals.step != self.trainer.step_count
            due = self.marginals is None or not self.playing or self.refreshes % MARGINALS_EVERY_REFRESHES == 0
            if stale and due:
                self.marginals = self._ask(self.trainer.marginals, MARGINAL_ROWS, MARGINAL_SEED) or self.marginals
            return self.marginals

    def bundle(self) -> bytes:
        """The model bundle (.zip), as dashboard.exports.bundle_zip writes it, made in the worker."""
        trainer = self.trainer
        return trainer.bundle(bundle_info(self.table.name, trainer.method, trainer.epoch, self.race_result))


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
