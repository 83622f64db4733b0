"""One browser session's comparison as a worker process holds it.

``LiveComparison`` wraps a ``core.comparison.Comparison``: between commands the worker
trains it, a slice at a time beside the other sessions it hosts, while any run is active and
the page has asked for a view in the last LEASE_SECONDS. So a comparison trains while its page
shows it, as it did in the server, and a page left on another view or a closed tab stops
costing CPU within seconds; the next view it asks for sets it going again.

Every command replies with the comparison's ``ComparisonView``: what the page draws.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from core.comparison import Comparison, ComparisonView
from core.schema import Schema
from core.trainer import TrainConfig

LEASE_SECONDS = 5.0


@dataclass(frozen=True)
class ComparisonFacts:
    """What the server mirrors of a comparison after every reply."""

    active: bool


class LiveComparison:
    # the commands a page may send (core.workers.worker)
    COMMANDS = frozenset({"view", "advance", "pause", "resume", "cancel"})

    def __init__(
        self,
        table_name: str,
        data: pd.DataFrame,
        schema: Schema,
        configs: Sequence[TrainConfig],
        epochs: int,
        evaluate_every: int,
        evaluation_rows: int | None,
    ):
        self.comparison = Comparison(table_name, data, schema, configs, epochs, evaluate_every, evaluation_rows)
        self._lease_until = time.monotonic() + LEASE_SECONDS

    @property
    def facts(self) -> ComparisonFacts:
        return ComparisonFacts(self.comparison.active)

    @property
    def runnable(self) -> bool:
        return self.comparison.active and time.monotonic() < self._lease_until

    def train_for(self, seconds: float) -> int:
        return self.comparison.advance(seconds=seconds)

    def stop(self, message: str) -> None:
        self.comparison.stop(message)

    def created(self) -> ComparisonView:
        return self.view()

    # --- commands -------------------------------------------------------------------
    def view(self) -> ComparisonView:
        """The comparison now; it goes on training for LEASE_SECONDS more."""
        self._lease_until = time.monotonic() + LEASE_SECONDS
        return self.comparison.view()

    def advance(self, seconds: float) -> ComparisonView:
        """Train for about ``seconds`` before replying (a script's or a test's loop)."""
        self.comparison.advance(seconds=seconds)
        return self.view()

    def pause(self, index: int) -> ComparisonView:
        self.comparison.pause(index)
        return self.view()

    def resume(self, index: int) -> ComparisonView:
        self.comparison.resume(index)
        return self.view()

    def cancel(self, index: int) -> ComparisonView:
        self.comparison.cancel(index)
        return self.view()
