"""The Train view's "Fix it": a race among candidate methods (``core.race``) run live, then
training goes on with the winner.

The race starts from the current run's settings and seed, so every candidate begins at the
run's initial weights; its length is set in steps (``RACE_FINAL_STEPS`` for the last
round, in whole epochs), so it takes about as long on a small table as on a large one.
``race_picture`` copies what a refresh draws: each candidate's validation curve, whether it
is still in the race, and how far the race has got.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from core.config import TrainConfig
from core.race import RaceRecord
from core.schema import Schema
from core.workers.live_race import RaceView
from core.workers.remote_race import RaceStopped, RemoteRace

RACE_FINAL_STEPS = 400  # trainer steps of the race's last round, rounded up to whole epochs
FIX_IT_HELP = (
    "Race the candidate methods from this run's initial weights, keeping the better half on validation "
    "error each round, then train on with the winner."
)


@dataclass(frozen=True)
class CandidateCurve:
    method: str
    epochs: np.ndarray
    errors: np.ndarray  # validation mean error after each epoch (NaN where not finite)
    eliminated_in: int | None  # the round it lost (1-based); None while it is still in


@dataclass(frozen=True)
class RacePicture:
    curves: tuple[CandidateCurve, ...]
    round_ends: tuple[int, ...]  # the epoch at which each round is scored
    rounds_done: int
    progress: float  # 0 to 1
    winner: str | None  # once the race is over


def race_summary(race: RaceRecord) -> str:
    margin = "" if race.margin is None else f", {race.margin:.4f} lower than {race.runner_up}'s"
    return f"Fix it: **{race.winner}** won the race on validation error{margin}; training goes on with it."


def start_race(table: pd.DataFrame, schema: Schema, config: TrainConfig, steps_per_epoch: int) -> RemoteRace:
    """The race, in a worker of the server's pool (RaceStopped when the pool has no room)."""
    race_epochs = max(2, math.ceil(RACE_FINAL_STEPS / max(1, steps_per_epoch)))
    return RemoteRace(table, schema, replace(config), race_epochs)


def race_picture(race: RaceView) -> RacePicture:
    curves = tuple(
        CandidateCurve(
            c.method,
            np.array([row["epoch"] for row in c.history], dtype=float),
            np.array([np.nan if row["val_mean_error"] is None else row["val_mean_error"] for row in c.history]),
            c.eliminated_in,
        )
        for c in race.candidates
    )
    return RacePicture(curves, race.schedule, race.rounds_done, race.progress, race.winner)


class RaceControls:
    """The "Fix it" part of ``DashboardState`` (which it is mixed into): starting the race,
    reading it, and handing training on to the winner. While ``race`` is set, the state's
    training loop advances the race instead of its own trainer."""

    lock: threading.RLock
    playing: bool
    trainer: Any  # a RemoteTrainer
    table: Any  # a LoadedTable
    race: RemoteRace | None
    race_result: RaceRecord | None
    messages: dict[str, str]
    _race_steps: int  # the race's steps in all at the last view

    def fix_it(self) -> None:
        """Race the candidate methods from this run's initial weights, live; when the race is
        over, training goes on with the winner. The race trains in a worker of the server's
        pool, the run's worker waits paused."""
        try:
            race = start_race(self.table.data, self.trainer.schema, self.trainer.config, self.trainer.steps_per_epoch)
        except RaceStopped as stopped:
            self.messages["train"] = str(stopped)
            return
        self.pause()
        with self.lock:
            self.race, self.race_result = race, None
            self._race_steps = race.view.steps
        self.play()

    def current_race(self) -> RacePicture | None:
        with self.lock:
            return None if self.race is None else race_picture(self.race.view)

    def _race(self, steps: int | None) -> int:
        """``steps`` steps of the race now (None: what its worker trained since the last call,
        training on while playing); the race's end hands training on to the winner. Returns
        the steps done."""
        race = self.race
        assert race is not None
        try:
            view = race.advance(steps) if steps is not None else race.refresh(self.playing)
        except RaceStopped as stopped:
            with self.lock:
                self.messages["train"] = str(stopped)
                self.playing, self.race = False, None
            race.close()
            return 0
        done, self._race_steps = view.steps - self._race_steps, view.steps
        if view.finished:
            self._finish_race()
        return done

    def _pause_race(self) -> None:
        """The race's worker stops training it at once."""
        assert self.race is not None
        try:
            self.race.pause()
        except RaceStopped as stopped:
            self.messages["train"] = str(stopped)
            self._end_race()

    def _end_race(self) -> None:
        """Stop and drop the race (a pause, a reset or a rebuild moved on from it)."""
        race, self.race = self.race, None
        if race is not None:
            race.close()

    def _finish_race(self) -> None:
        """The winner's trainer moves to this run's worker, at the state it reached; playing goes on."""
        race = self.race
        assert race is not None and race.view.record is not None
        record, playing = race.view.record, self.playing
        try:
            state, config = race.winner_state()
        except RaceStopped as stopped:
            self.messages["train"] = str(stopped)
            self.playing = False
            self._end_race()
            return
        self._end_race()
        self._adopt(state, config)
        self.race_result = record
        if playing:
            self.play()

    def play(self) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        raise NotImplementedError

    def _adopt(self, trainer_state: bytes, config: TrainConfig) -> None:
        raise NotImplementedError
