"""Why a column is overlooked, read from what the training steps already measured.

Every step reports each column's gradient norm at the shared layer, the K x K cosines
between the columns' gradients and each column's cosine with the combined step
(``core.diagnostics.GradientDiagnostics``). ``DiagnosticsWindow`` keeps the last
``WINDOW_STEPS`` of them; their means, with the fit check (``core.fit_check``), give one
verdict per overlooked column, the first that holds:

1. misfit: its samples do not fit its data (the fit check's verdict, with its fix);
2. in conflict: its gradient points against the combined step, or against another
   column's, with a mean cosine below ``CONFLICT_COSINE``;
3. drowned out: its gradient is at least ``DROWNED_RATIO`` times shorter than the
   loudest column's and at about right angles to it (|cosine| at most
   ``RIGHT_ANGLE_COSINE``): the step is the loud column's, and nothing in it serves
   this one;
4. none of these: its gradient is heard and not opposed, and its samples fit: the likely
   cause is capacity (the latent code is full) or too short a training.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from core.diagnostics import GradientDiagnostics
from core.fit_check import ColumnFitCheck
from core.metrics import ColumnScore

WINDOW_STEPS = 10
DROWNED_RATIO = 10.0
RIGHT_ANGLE_COSINE = 0.2
CONFLICT_COSINE = -0.2


class Why(StrEnum):
    MISFIT = "misfit"
    CONFLICT = "in conflict"
    DROWNED = "drowned out"
    NONE = "none of these"


@dataclass(frozen=True)
class OverlookedWhy:
    name: str
    why: Why
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.why.value, "sentence": self.sentence}


class DiagnosticsWindow:
    """The diagnostics of the last ``steps`` training steps, and their means."""

    def __init__(self, steps: int = WINDOW_STEPS):
        self._recent: deque[GradientDiagnostics] = deque(maxlen=steps)

    def __len__(self) -> int:
        return len(self._recent)

    def add(self, diagnostics: GradientDiagnostics) -> None:
        self._recent.append(diagnostics)

    def mean_norms(self) -> np.ndarray:
        return np.mean([d.norms for d in self._recent], axis=0)

    def mean_direction_cosines(self) -> np.ndarray:
        return np.mean([d.direction_cosines for d in self._recent], axis=0)

    def mean_cosines(self) -> np.ndarray | None:
        """The mean K x K cosines over the steps that measured them; None if none did."""
        measured = [d.cosines for d in self._recent if d.cosines is not None]
        return np.mean(measured, axis=0) if measured else None


def explain_overlooked(
    names: Sequence[str],
    scores: Sequence[ColumnScore],
    window: DiagnosticsWindow,
    fits: Sequence[ColumnFitCheck] = (),
) -> dict[str, OverlookedWhy]:
    """The verdict of every overlooked column of ``scores`` (see the module docstring);
    ``names`` are the features in the order of the diagnostics' columns."""
    overlooked = [s.name for s in scores if s.overlooked]
    if not overlooked:
        return {}
    fit_of = {f.name: f for f in fits}
    if not len(window):
        return {name: _from_fit(name, fit_of.get(name)) for name in overlooked}
    norms, along, cosines = window.mean_norms(), window.mean_direction_cosines(), window.mean_cosines()
    return {name: _why(list(names), names.index(name), norms, along, cosines, fit_of.get(name)) for name in overlooked}


def _from_fit(name: str, fit: ColumnFitCheck | None) -> OverlookedWhy:
    if fit is not None and fit.misfit:
        return OverlookedWhy(name, Why.MISFIT, f"misfit: {fit.sentence}")
    return OverlookedWhy(name, Why.NONE, "none of these could be checked: no training step was measured")


def _why(
    names: list[str],
    k: int,
    norms: np.ndarray,
    along: np.ndarray,
    cosines: np.ndarray | None,
    fit: ColumnFitCheck | None,
) -> OverlookedWhy:
    name = names[k]
    if fit is not None and fit.misfit:
        return OverlookedWhy(name, Why.MISFIT, f"misfit: {fit.sentence}")
    if along[k] < CONFLICT_COSINE:
        return OverlookedWhy(
            name, Why.CONFLICT, f"in conflict: its gradient points against the combined step (cosine {along[k]:.2f})"
        )
    others = [j for j in range(len(names)) if j != k]
    if cosines is not None and others:
        opponent = min(others, key=lambda j: cosines[k, j])
        apart = float(cosines[k, opponent])
        if apart < CONFLICT_COSINE:
            return OverlookedWhy(
                name,
                Why.CONFLICT,
                f"in conflict with {names[opponent]!r}: their gradients point apart (cosine {apart:.2f})",
            )
    loudest = int(np.argmax(norms))
    ratio = float(norms[loudest] / norms[k]) if norms[k] > 0 else float("inf")
    angle = None if cosines is None else float(cosines[k, loudest])
    times = f"{ratio:,.0f}" if ratio >= 100 else f"{ratio:.2g}"
    shorter = f"{times}x shorter than that of {names[loudest]!r}"
    if loudest != k and ratio >= DROWNED_RATIO and (angle is None or abs(angle) <= RIGHT_ANGLE_COSINE):
        at = "" if angle is None else f" and at about right angles to it (cosine {angle:.2f})"
        return OverlookedWhy(name, Why.DROWNED, f"drowned out: its gradient is {shorter}{at}")
    heard = "the loudest" if loudest == k else f"{shorter}, not drowned out"
    return OverlookedWhy(
        name,
        Why.NONE,
        f"none of these: its gradient is {heard}, not opposed, and its samples fit; "
        "likely capacity (the latent code is full): try a larger latent or longer training",
    )
