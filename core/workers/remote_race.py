"""What a browser session holds of its "Fix it" race: a proxy for the LiveRace a worker
process of the server's pool trains (``core.workers.live_race``).

``view`` is the last ``RaceView`` a reply carried. A worker that died, a race released as
idle, a full pool or a bug in the worker raise ``RaceStopped`` with a one-line reason: the
page's run goes on as it was before the race.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

import pandas as pd

from core.errors import DataError
from core.schema import Schema
from core.trainer import TrainConfig
from core.workers.live_race import RaceView
from core.workers.pool import PoolFull, SessionEnded, TrainingPool, default_pool

__all__ = ["RaceStopped", "RemoteRace"]


class RaceStopped(Exception):
    """The race cannot go on; its message is one line."""


class RemoteRace:
    def __init__(
        self,
        table: pd.DataFrame,
        schema: Schema,
        config: TrainConfig,
        race_epochs: int,
        pool: TrainingPool | None = None,
    ):
        """Raises DataError for what a Race refuses, RaceStopped when the pool has no room."""
        self.id = uuid.uuid4().hex
        self._pool = pool or default_pool()
        weakref.finalize(self, self._pool.close, self.id)
        try:
            reply = self._pool.open(self.id, table, schema, config, race_epochs, command="create_race")
        except PoolFull as full:
            raise RaceStopped(str(full)) from None
        try:
            self.view: RaceView = self._value(reply)
        except BaseException:
            self._pool.close(self.id)
            raise

    @property
    def finished(self) -> bool:
        return self.view.finished

    @property
    def schedule(self) -> tuple[int, ...]:
        return self.view.schedule

    @property
    def candidates(self) -> tuple[Any, ...]:
        return self.view.candidates

    def refresh(self, playing: bool) -> RaceView:
        """The race as the worker has it; while ``playing`` the worker trains it on."""
        return self._call("view", playing)

    def advance(self, steps: int) -> RaceView:
        return self._call("advance", steps)

    def pause(self) -> RaceView:
        return self._call("pause")

    def winner_state(self) -> tuple[bytes, TrainConfig]:
        state: tuple[bytes, TrainConfig] = self._value(self._send("winner_state"))
        return state

    def close(self) -> None:
        self._pool.close(self.id)

    def _call(self, command: str, *args: Any) -> RaceView:
        self.view = self._value(self._send(command, *args))
        if self.view.error is not None:
            raise RaceStopped(self.view.error)
        return self.view

    def _send(self, command: str, *args: Any) -> tuple[str, Any, Any]:
        try:
            return self._pool.call(self.id, command, *args)
        except SessionEnded as ended:
            raise RaceStopped(f"the race stopped: {ended}") from None

    @staticmethod
    def _value(reply: tuple[str, Any, Any]) -> Any:
        outcome, value, _facts = reply
        if outcome == "ok":
            return value
        if outcome == "DataError":
            raise DataError(value)
        raise RaceStopped(f"the race stopped by an internal error: {value}")
