"""What training hands back: a record per optimizer step, and the scores of an evaluation.

A step record is cheap to make and pays only for what is read from it: the trainer
hands it the step's tensors (the loss, the column losses) and a way to compute its
gradient diagnostics, and each is turned into numbers on first use. A headless run
that reads only ``loss`` never builds a diagnostic; the dashboard, which reads the
latest record's at each refresh, computes them for that record alone. Values may also
be given ready-made (floats, arrays, a ``GradientDiagnostics``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from core.diagnostics import GradientDiagnostics
from core.metrics import ColumnScore

# A step's gradient diagnostics, or how to compute them once asked for.
DiagnosticsSource = GradientDiagnostics | Callable[[], GradientDiagnostics]


class StepRecord:
    """One optimizer step: ``step``, ``epoch``, ``method``, ``loss``, ``kl``, ``column_losses``
    (K,), ``diagnostics`` (of the first objective at the first shared representation),
    ``seconds`` (how long the step took) and ``converged`` (False when a method's solver stopped
    at its iteration cap on this step, for any objective or representation)."""

    def __init__(
        self,
        step: int,
        epoch: float,
        method: str,
        loss: float | torch.Tensor,
        kl: float | torch.Tensor,
        column_losses: np.ndarray | torch.Tensor,
        diagnostics: DiagnosticsSource,
        seconds: float,
        converged: bool = True,
    ):
        self.step = step
        self.epoch = epoch
        self.method = method
        self.seconds = seconds
        self.converged = converged
        self._loss, self._kl, self._column_losses = loss, kl, column_losses
        self._diagnostics: DiagnosticsSource | None = diagnostics

    @cached_property
    def loss(self) -> float:
        return float(self._loss)

    @cached_property
    def kl(self) -> float:
        return float(self._kl)

    @cached_property
    def column_losses(self) -> np.ndarray:
        values = self._column_losses
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        return np.asarray(values, dtype=np.float64)

    @cached_property
    def diagnostics(self) -> GradientDiagnostics:
        source, self._diagnostics = self._diagnostics, None  # let go of the step's tensors
        assert source is not None  # cached_property computes this once
        return source if isinstance(source, GradientDiagnostics) else source()

    def __repr__(self) -> str:
        return f"StepRecord(step={self.step}, epoch={self.epoch:.3f}, method={self.method!r}, loss={self.loss:.6g})"


@dataclass
class Evaluation:
    split: str
    scores: list[ColumnScore]
    mean_error: float
    imputation_scores: list[ColumnScore] | None = None
    imputation_mean_error: float | None = None

    @property
    def overlooked(self) -> list[str]:
        return [s.name for s in self.scores if s.overlooked]
