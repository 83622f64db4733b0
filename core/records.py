"""What training hands back: a record per optimizer step, and the scores of an evaluation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.diagnostics import GradientDiagnostics
from core.metrics import ColumnScore


@dataclass
class StepRecord:
    step: int
    epoch: float
    method: str
    loss: float
    kl: float
    column_losses: np.ndarray  # (K,)
    diagnostics: GradientDiagnostics  # of the first objective at the first shared representation
    seconds: float


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
