"""What a browser session holds of its comparison: a proxy for the LiveComparison a worker
process of the server's pool trains.

``RemoteComparison`` reads like a ``core.comparison.Comparison`` -- ``runs``, ``labels``,
``names``, ``configs``, ``fairness()``, ``active``, the frames, ``to_json()``, ``pause``,
``resume``, ``cancel`` -- all from the last ``ComparisonView`` a reply carried, so drawing a
page costs one round trip (``refresh``) however much it reads. The worker trains while the
page keeps asking (``core.workers.live_comparison``).

When the worker has died, or the pool released the comparison as idle, the comparison cannot
go on (its runs live only in that worker): the last view is kept -- its scores, curves and
exports stay -- its unfinished runs read "cancelled", and ``notice`` says why in one line.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

import pandas as pd

from core.comparison_view import CANCELLED, ComparisonView
from core.schema import Schema
from core.trainer import TrainConfig
from core.workers.pool import SessionEnded, TrainingPool, default_pool
from core.workers.remote import RELEASED, WorkerError, reply_value

__all__ = ["RemoteComparison"]


class RemoteComparison:
    def __init__(
        self,
        table_name: str,
        data: pd.DataFrame,
        schema: Schema,
        configs: Sequence[TrainConfig],
        epochs: int,
        evaluate_every: int = 50,
        evaluation_rows: int | None = 2000,
        pool: TrainingPool | None = None,
    ):
        """Raises DataError for what a Comparison refuses, PoolFull when the pool has no room."""
        self.id = uuid.uuid4().hex
        self._pool = pool or default_pool()
        self.lock = threading.RLock()  # as Comparison's: held while reading the view's frames together
        self.notice: str | None = None
        self.ended = False
        weakref.finalize(self, self._pool.close, self.id)
        reply = self._pool.open(
            self.id,
            table_name,
            data,
            schema,
            list(configs),
            epochs,
            evaluate_every,
            evaluation_rows,
            command="create_comparison",
        )
        try:
            self.view: ComparisonView = reply_value(reply)
        except BaseException:
            self._pool.close(self.id)
            raise

    def __getattr__(self, name: str) -> Any:
        """Everything else is the view's: runs, labels, names, configs, fairness(), the frames..."""
        if name.startswith("_") or name == "view":
            raise AttributeError(name)
        return getattr(self.view, name)

    @property
    def active(self) -> bool:
        return self.view.active

    # --- commands -------------------------------------------------------------------
    def refresh(self) -> ComparisonView:
        """The comparison as the worker has it now."""
        return self._call("view")

    def advance(self, seconds: float) -> ComparisonView:
        """Wait until the worker has trained about ``seconds`` more (a script's or a test's loop)."""
        return self._call("advance", seconds)

    def pause(self, index: int) -> None:
        self._call("pause", index)

    def resume(self, index: int) -> None:
        self._call("resume", index)

    def cancel(self, index: int) -> None:
        self._call("cancel", index)

    def close(self) -> None:
        """Free the comparison's place in the pool; the last view stays readable."""
        self._pool.close(self.id)
        self._end("closed")

    def _call(self, command: str, *args: Any) -> ComparisonView:
        if self.ended:
            return self.view
        try:
            view = reply_value(self._pool.call(self.id, command, *args))
        except WorkerError as error:  # a bug in the worker: the comparison may still train
            self.notice = f"the comparison's worker failed: {error}"
            return self.view
        except SessionEnded as ended:
            reason = str(ended)
            self.notice = (
                "the comparison was released after the page stopped asking for it; its results so far are kept"
                if reason == RELEASED
                else f"{reason}; the comparison's results so far are kept (Start trains it again from step 0)"
            )
            self._end(reason)
            return self.view
        with self.lock:
            self.view = view
        return view

    def _end(self, reason: str) -> None:
        with self.lock:
            if not self.ended:
                self.ended = True
                self.view = self.view.halted(CANCELLED, f"stopped: {reason}")
