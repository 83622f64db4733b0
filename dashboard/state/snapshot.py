"""What a refresh of the train view reads of the run: values, copied at one instant."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.history import History
from core.trainer import Evaluation, StepRecord
from core.workers.live import Marginals

__all__ = ["Marginals", "Snapshot", "truncated"]


@dataclass(frozen=True)
class Snapshot:
    """Everything one refresh draws, read at one instant: another thread may change the
    run while the page is being drawn."""

    table_name: str
    run_number: int  # changes with every new run, so that charts forget their zoom
    names: list[str]
    step: int
    epoch: float
    playing: bool
    steps_per_second: float | None
    steps: np.ndarray  # step numbers of the kept history points
    column_losses: np.ndarray  # (points, K)
    # The steps whose gradient diagnostics the worker computed (a few a refresh), from a history
    # of their own: thinning the every-step history would drop them.
    conflict_steps: np.ndarray
    conflicts: np.ndarray  # their conflicting pairs
    latest: StepRecord | None
    cosines: np.ndarray | None  # the last step's that has them
    evaluation: Evaluation
    previous_evaluation: Evaluation | None
    evaluated_at: int
    verdicts: dict[str, str] = field(default_factory=dict)  # per column: why overlooked, or misfit


def points(history: History, name: str, width: int | None = None) -> np.ndarray:
    """``history.field(name)``, or no points before the first (``width``: a per-column field's)."""
    if len(history):
        return history.field(name)
    return np.empty(0 if width is None else (0, width))


def truncated(history: History, last_step: int) -> History:
    """A copy of ``history`` without its points past ``last_step`` (a run rewound to a checkpoint)."""
    kept = History(history.capacity)
    if len(history) == 0:
        return kept
    fields = {name: history.field(name) for name in history.names}
    for i in np.flatnonzero(fields["step"] <= last_step):
        kept.append(**{name: values[i] for name, values in fields.items()})
    return kept
