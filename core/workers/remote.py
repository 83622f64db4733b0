"""What a browser session holds of its run: a proxy for the LiveRun a worker process hosts.

``RemoteTrainer`` has the part of the Trainer API the dashboard reads -- ``config``,
``schema``, ``features``, ``method``, ``step_count``, ``epoch``, ``steps_per_epoch``,
``splits``, ``set_method``, ``reset``, ``evaluate``, ``reconstructed_table``,
``state_bytes`` -- plus the live commands (``play``, ``pause``, ``train``, ``fetch``,
``marginals``, ``bundle``). Its attributes are the facts the last reply carried, so reading
them costs no round trip. Anything else (the model, its encoder: what an export or a test
inspects) is read from ``local()``, a copy of the run built in this process at its current
state.

When the session's worker has died, or the pool released the session as idle, the next call
opens it again from the last checkpoint a fetch brought (or from step 0 if none had come),
sets ``rewound_to`` to the step it went back to, and -- for a dead worker -- ``notice`` to a
one-line message for the page. If the pool is full, the session is not placed (``placed`` is
False, ``notice`` says why) and each call tries again.
"""

from __future__ import annotations

import hashlib
import io
import math
import uuid
import weakref
from dataclasses import replace
from typing import Any

import pandas as pd
import torch

from core.errors import DataError, TrainingError
from core.mtl import make_method
from core.schema import Schema
from core.splits import split_indices
from core.trainer import Evaluation, TrainConfig, Trainer
from core.workers.live import Facts, Marginals, Update
from core.workers.pool import PoolFull, SessionEnded, TrainingPool, default_pool

__all__ = ["PoolFull", "RemoteTrainer", "WorkerError", "reply_value"]

RELEASED = "released"  # SessionEnded's reason when the pool let an idle session go


class WorkerError(Exception):
    """A command failed in the worker by a bug; its message is one line."""


class RemoteTrainer:
    def __init__(
        self,
        table: pd.DataFrame,
        schema: Schema,
        config: TrainConfig,
        state: bytes | None = None,
        pool: TrainingPool | None = None,
    ):
        """``state``: a Trainer's ``state_bytes()`` to start from (a race's winner, say)."""
        config = replace(config).validate()  # the worker's Trainer owns its own copy
        self.table = table
        self.schema = schema
        self.features = schema.features
        self.splits = split_indices(len(table), config.seed)
        self.id = uuid.uuid4().hex
        self._pool = pool or default_pool()
        self._facts = Facts(0, 0.0, config.method, config, False)
        self._checkpoint: tuple[int, bytes] | None = None if state is None else (-1, state)
        self._local: tuple[str, Trainer] | None = None
        self.notice: str | None = None
        self.rewound_to: int | None = None
        self.placed = False
        weakref.finalize(self, self._pool.close, self.id)
        try:
            self._open()
        except PoolFull as full:
            self._check_trainable()
            self.notice = str(full)
        if self._checkpoint is not None and self._checkpoint[0] < 0:
            self._checkpoint = (self.step_count, self._checkpoint[1])

    # --- the facts ------------------------------------------------------------------
    @property
    def config(self) -> TrainConfig:
        return self._facts.config

    @property
    def method(self) -> str:
        return self._facts.method

    @property
    def step_count(self) -> int:
        return self._facts.step_count

    @property
    def epoch(self) -> float:
        return self._facts.epoch

    @property
    def playing(self) -> bool:
        return self._facts.playing

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.splits["train"]) / self.config.batch_size))

    # --- commands -------------------------------------------------------------------
    def set_method(self, spec: str) -> None:
        if self.placed:
            self._call("set_method", spec)
            return
        make_method(spec)  # the check the worker's Trainer would make
        config = replace(self.config, method=spec)
        self._facts = replace(self._facts, method=spec, config=config)

    def reset(self) -> None:
        self._call("reset")
        self._checkpoint = None

    def play(self) -> None:
        self._call("play")

    def pause(self) -> Update:
        return self._update(self._call("pause"))

    def train(self, n_steps: int, evaluate: bool = False) -> Update:
        return self._update(self._call("step", n_steps, evaluate))

    def fetch(self) -> Update:
        return self._update(self._call("fetch"))

    def evaluate(self, split: str = "test", max_rows: int | None = None) -> Evaluation:
        return self._call("evaluate", split, max_rows)

    def reconstructed_table(self) -> pd.DataFrame:
        return self._call("reconstructed_table")

    def state_bytes(self) -> bytes:
        return self._call("state_bytes")

    def marginals(self, max_rows: int, seed: int) -> Marginals:
        return self._call("marginals", max_rows, seed)

    def bundle(self, info: dict[str, Any]) -> bytes:
        return self._call("bundle", info)

    def close(self) -> None:
        self._pool.close(self.id)
        self.placed = False

    def local(self) -> Trainer:
        """A Trainer in this process at the run's current state (rebuilt only when it changed)."""
        state = self.state_bytes()
        digest = hashlib.sha1(state).hexdigest()
        if self._local is None or self._local[0] != digest:
            trainer = Trainer(self.table, self.schema, self.config)
            trainer.load_state_dict(torch.load(io.BytesIO(state), weights_only=False))
            self._local = (digest, trainer)
        return self._local[1]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.local(), name)

    # --- the round trip -------------------------------------------------------------
    def _call(self, command: str, *args: Any) -> Any:
        if not self.placed:
            self._reopen(None)
        try:
            reply = self._pool.call(self.id, command, *args)
        except SessionEnded as ended:
            self._reopen(str(ended))
            reply = self._pool.call(self.id, command, *args)
        return self._unpack(reply)

    def _unpack(self, reply: tuple[str, Any, Any]) -> Any:
        if reply[2] is not None:
            self._facts = reply[2]
        return reply_value(reply)

    def _update(self, update: Update) -> Update:
        if update.checkpoint is not None:
            self._checkpoint = update.checkpoint
        return update

    def _open(self) -> None:
        state = None if self._checkpoint is None else self._checkpoint[1]
        reply = self._pool.open(self.id, self.table, self.schema, self.config, state)
        try:
            self._unpack(reply)
        except BaseException:
            self._pool.close(self.id)
            raise
        self.placed = True

    def _reopen(self, reason: str | None) -> None:
        """Open the session again from its checkpoint. ``reason``: why it had ended (None: it
        had never been placed)."""
        playing, method = self.playing, self.method
        self.placed = False
        self._open()
        if reason is None:
            self.notice = None
            return
        step = self.step_count
        self.rewound_to = step
        if self.method != method:  # set after the checkpoint
            self._unpack(self._pool.call(self.id, "set_method", method))
        if playing:
            self._unpack(self._pool.call(self.id, "play"))
        if reason != RELEASED:
            self.notice = (
                f"{reason}; the run goes on from its checkpoint at step {step:,}"
                if self._checkpoint is not None
                else f"{reason}; no checkpoint had been taken yet, so the run restarted from step 0"
            )

    def _check_trainable(self) -> None:
        """What the worker's Trainer would refuse, checked here while no worker has the run."""
        if len(self.features) < 1:
            raise DataError("no columns left to train on: every column is excluded")
        if len(self.splits["train"]) < 2:
            raise DataError(f"the table has {len(self.table)} rows: too few to train on")


def reply_value(reply: tuple[str, Any, Any]) -> Any:
    """A worker's reply's value, or its error raised as the exception it names."""
    outcome, value, _facts = reply
    if outcome == "ok":
        return value
    if outcome == "DataError":
        raise DataError(value)
    if outcome == "TrainingError":
        raise TrainingError(value)
    raise WorkerError(value)
