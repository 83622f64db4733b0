""" "Fix it"'s race (``core.race.Race``) as a worker process holds it, and what a page reads of it.

Between commands the worker trains the race while its page plays it and has asked for a view
in the last LEASE_SECONDS, as a comparison (``core.workers.live_comparison``); ``pause`` stops
it at once. Every command replies with a ``RaceView``: each candidate's curve and fate, the
rounds, the progress and, once over, the winner and the race's record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.race import Race, RaceRecord
from core.schema import Schema
from core.trainer import TrainConfig
from core.workers.live_comparison import LEASE_SECONDS


@dataclass(frozen=True)
class CandidateView:
    method: str
    history: tuple[dict[str, Any], ...]  # one row per epoch: epoch, train_loss, val_mean_error
    eliminated_in: int | None  # the round it lost (1-based); None while it is still in
    step_count: int


@dataclass(frozen=True)
class RaceView:
    candidates: tuple[CandidateView, ...]
    schedule: tuple[int, ...]  # the epoch at which each round is scored
    rounds_done: int
    progress: float  # 0 to 1
    steps: int  # candidates' steps trained in all
    record: RaceRecord | None  # once the race is over
    error: str | None = None  # why the race stopped (a bug), if it did

    @property
    def finished(self) -> bool:
        return self.record is not None

    @property
    def winner(self) -> str | None:
        return None if self.record is None else self.record.winner


def race_view(race: Race, error: str | None = None) -> RaceView:
    candidates = tuple(
        CandidateView(c.method, tuple(dict(row) for row in c.history), c.eliminated_in, c.trainer.step_count)
        for c in race.candidates
    )
    steps = sum(c.step_count for c in candidates)
    record = race.record() if race.finished else None
    return RaceView(candidates, tuple(race.schedule), len(race.rounds), race.progress, steps, record, error)


@dataclass(frozen=True)
class RaceFacts:
    finished: bool


class LiveRace:
    # the commands a page may send (core.workers.worker)
    COMMANDS = frozenset({"view", "advance", "pause", "winner_state"})

    def __init__(self, table: pd.DataFrame, schema: Schema, config: TrainConfig, race_epochs: int):
        self.race = Race(table, schema, config, race_epochs)
        self.playing = False
        self.error: str | None = None
        self._lease_until = 0.0

    @property
    def facts(self) -> RaceFacts:
        return RaceFacts(self.race.finished)

    @property
    def runnable(self) -> bool:
        return self.playing and not self.race.finished and time.monotonic() < self._lease_until

    def train_for(self, seconds: float) -> int:
        started, done = time.perf_counter(), 0
        while self.runnable and time.perf_counter() - started < seconds:
            done += self.race.advance(1)
        return done

    def stop(self, message: str) -> None:
        self.playing, self.error = False, message

    def created(self) -> RaceView:
        return race_view(self.race)

    # --- commands -------------------------------------------------------------------
    def view(self, playing: bool) -> RaceView:
        """The race now; while ``playing`` it trains on for LEASE_SECONDS more."""
        self.playing = playing and self.error is None
        self._lease_until = time.monotonic() + LEASE_SECONDS
        return race_view(self.race, self.error)

    def advance(self, steps: int) -> RaceView:
        """``steps`` more steps before replying (the Step button)."""
        if self.error is None:
            self.race.advance(steps)
        return race_view(self.race, self.error)

    def pause(self) -> RaceView:
        self.playing = False
        return race_view(self.race, self.error)

    def winner_state(self) -> tuple[bytes, TrainConfig]:
        """The winner's state bytes and configuration, to train on with it."""
        winner = self.race.winner.trainer
        return winner.state_bytes(), winner.config
