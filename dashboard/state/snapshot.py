"""What a refresh of the train view reads of the run: values, copied at one instant."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.schema import Column
from core.trainer import Evaluation, StepRecord


@dataclass
class Marginals:
    """The data, its reconstruction and the model's samples on a bounded set of rows."""

    step: int
    features: tuple[Column, ...]
    data: pd.DataFrame
    reconstruction: pd.DataFrame
    samples: pd.DataFrame


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
    conflicts: np.ndarray  # (points,), NaN where a step skipped the cosines
    latest: StepRecord | None
    cosines: np.ndarray | None  # the last step's that has them
    evaluation: Evaluation
    previous_evaluation: Evaluation | None
    evaluated_at: int
