"""The method ``auto``: a short race between candidate methods, by successive halving.

Every candidate trains from the same initial weights, on the same minibatches with the
same noise (one seed for all: the Trainer's three random streams see to it), so the only
difference between two candidates is how they combine the column gradients. The race
runs in rounds; in each round the surviving candidates train on to the round's number of
epochs, are scored on the validation split (mean column error), and the better half goes
on. The epochs double from round to round, ending at ``race_epochs``, so each round costs
about as much as the one before while the field halves. The last one standing wins; the
margin is how much lower its validation error was than the runner-up's in the final round.

``Race`` is steppable (``advance(max_steps)``), for a page that draws the race as it runs;
the winner's trainer is handed on, so "then train with the winner" continues its run
rather than starting again (the same run, since it began from the same state).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from core.errors import DataError, TrainingError
from core.mtl import make_method
from core.schema import Schema
from core.trainer import TrainConfig, Trainer

AUTO = "auto"
# Plain training and the methods that did best in this project's scans, one of each family.
RACE_CANDIDATES = ("none", "aligned-mtl", "imtl-g", "nash-mtl", "upgrad", "imtl-g+pcgrad", "gradnorm", "pcgrad")


@dataclass
class Candidate:
    method: str
    trainer: Trainer
    # One row per epoch, as a run's history has them: epoch, train_loss, val_mean_error (None if not finite).
    history: list[dict[str, Any]] = field(default_factory=list)
    eliminated_in: int | None = None  # the round it lost, 1-based
    stopped_by: str | None = None  # a rejected (diverging) step ended its run
    _epoch_losses: list[float] = field(default_factory=list)

    @property
    def error(self) -> float:
        """Its latest validation mean error; infinite once it diverged."""
        if self.stopped_by is not None or not self.history or self.history[-1]["val_mean_error"] is None:
            return math.inf
        return float(self.history[-1]["val_mean_error"])


@dataclass(frozen=True)
class RaceRecord:
    """What a finished race leaves in a run's files."""

    candidates: tuple[str, ...]
    rounds: tuple[dict[str, Any], ...]  # each: epochs, validation errors per method, methods kept
    winner: str
    runner_up: str | None
    margin: float | None  # the runner-up's final validation error minus the winner's

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates": list(self.candidates),
            "rounds": [dict(r) for r in self.rounds],
            "winner": self.winner,
            "runner_up": self.runner_up,
            "margin": self.margin,
        }


def round_epochs(race_epochs: int, n_candidates: int) -> list[int]:
    """The cumulative epochs at the end of each round: doubling, ending at ``race_epochs``."""
    # Keeping the better half, rounded up, leaves one candidate after exactly ceil(log2 n) rounds.
    n_rounds = max(1, math.ceil(math.log2(max(2, n_candidates))))
    epochs = [max(1, round(race_epochs / 2 ** (n_rounds - 1 - r))) for r in range(n_rounds)]
    # At least one more epoch per round, so that every round trains.
    for r in range(1, n_rounds):
        epochs[r] = max(epochs[r], epochs[r - 1] + 1)
    return epochs


class Race:
    def __init__(
        self,
        table: pd.DataFrame,
        schema: Schema,
        config: TrainConfig,
        race_epochs: int,
        candidates: Sequence[str] = RACE_CANDIDATES,
        **trainer_options: Any,
    ):
        if len(candidates) < 1:
            raise DataError("a race needs at least one candidate method")
        if race_epochs < 1:
            raise DataError(f"a race needs at least 1 epoch, got {race_epochs}")
        for method in candidates:
            make_method(method)
        self.candidates = [
            Candidate(m, Trainer(table, schema, replace(config, method=m), **trainer_options)) for m in candidates
        ]
        self.schedule = round_epochs(race_epochs, len(self.candidates))
        self.round = 0  # index into schedule of the round being run
        self.rounds: list[dict[str, Any]] = []

    # --- progress -------------------------------------------------------------------
    @property
    def alive(self) -> list[Candidate]:
        return [c for c in self.candidates if c.eliminated_in is None]

    @property
    def finished(self) -> bool:
        return len(self.alive) == 1 and (self.round >= len(self.schedule) or len(self.candidates) == 1)

    @property
    def winner(self) -> Candidate:
        if not self.finished:
            raise RuntimeError("the race is not over")
        return self.alive[0]

    @property
    def progress(self) -> float:
        """The share of the race's planned trainer steps done so far, 0 to 1."""
        steps_per_epoch = self.candidates[0].trainer.steps_per_epoch
        planned, field_size, previous = 0, len(self.candidates), 0
        for epochs in self.schedule:
            planned += field_size * (epochs - previous) * steps_per_epoch
            field_size, previous = math.ceil(field_size / 2), epochs
        done = sum(c.trainer.step_count for c in self.candidates)
        return 1.0 if self.finished else min(1.0, done / max(1, planned))

    def advance(self, max_steps: int) -> int:
        """Up to ``max_steps`` trainer steps, always to the candidate furthest behind; returns
        how many were done (0 once the race is over)."""
        done = 0
        while not self.finished:
            target = self.schedule[self.round] * self.candidates[0].trainer.steps_per_epoch
            behind = [c for c in self.alive if c.stopped_by is None and c.trainer.step_count < target]
            if not behind:  # closed as soon as its last step is done, so that a round never waits
                self._close_round()
                continue
            if done >= max_steps:
                break
            candidate = min(behind, key=lambda c: c.trainer.step_count)
            try:
                candidate._epoch_losses.append(candidate.trainer.step().loss)
            except TrainingError as error:
                candidate.stopped_by = str(error)
                continue
            done += 1
            trainer = candidate.trainer
            if trainer.step_count % trainer.steps_per_epoch == 0:
                candidate.history.append(
                    {
                        "epoch": trainer.step_count // trainer.steps_per_epoch,
                        "train_loss": sum(candidate._epoch_losses) / len(candidate._epoch_losses),
                        "val_mean_error": _plain(trainer.evaluate("val").mean_error),
                    }
                )
                candidate._epoch_losses.clear()
        return done

    def run(self) -> RaceRecord:
        while not self.finished:
            self.advance(1 << 30)
        return self.record()

    def _close_round(self) -> None:
        alive = self.alive
        ranked = sorted(alive, key=lambda c: c.error)  # stable: ties go to the earlier candidate
        kept = ranked[: math.ceil(len(alive) / 2)] if len(alive) > 1 else ranked
        for c in alive:
            if c not in kept:
                c.eliminated_in = self.round + 1
        self.rounds.append(
            {
                "epochs": self.schedule[self.round],
                "validation_error": {c.method: _plain(c.error) for c in alive},
                "kept": [c.method for c in kept],
            }
        )
        self.round += 1

    def record(self) -> RaceRecord:
        winner = self.winner
        final = self.rounds[-1]["validation_error"] if self.rounds else {winner.method: _plain(winner.error)}
        others = sorted((e, m) for m, e in final.items() if m != winner.method and e is not None)
        runner_up = others[0][1] if others else None
        own = final.get(winner.method)
        margin = others[0][0] - own if others and own is not None else None
        return RaceRecord(
            tuple(c.method for c in self.candidates), tuple(self.rounds), winner.method, runner_up, margin
        )


def _plain(error: float) -> float | None:
    return float(error) if math.isfinite(error) else None
