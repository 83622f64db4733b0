"""What a refresh of the train view reads of the run: values, copied at one instant."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.bundle import DEFAULT_SAMPLER, trainer_mixture, training_bounds
from core.samplers import sample_rows
from core.schema import Column
from core.trainer import Evaluation, StepRecord, Trainer

# The marginals' samples come from the sampler ``sample`` uses; its mixture is refitted with
# each recomputation, on a bounded number of training rows and with one size, to stay quick.
LIVE_MIXTURE_SIZES = (10,)


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
    verdicts: dict[str, str] = field(default_factory=dict)  # per column: why overlooked, or misfit


def compute_marginals(trainer: Trainer, table: pd.DataFrame, max_rows: int, seed: int) -> Marginals:
    """Data, reconstruction and samples on at most ``max_rows`` validation rows."""
    rows = trainer.splits["val"]
    if len(rows) > max_rows:
        rows = rows[np.linspace(0, len(rows) - 1, max_rows).round().astype(int)]
    reconstruction = trainer.encoder.decode(trainer.reconstruct(rows))
    mixture = trainer_mixture(trainer, max_rows, LIVE_MIXTURE_SIZES) if DEFAULT_SAMPLER == "mixture" else None
    bounds = training_bounds(trainer)
    samples = sample_rows(trainer.model, trainer.likelihood, trainer.encoder, len(rows), seed, mixture, bounds)
    data = table.iloc[rows][[c.name for c in trainer.features]].reset_index(drop=True)
    # Reconstructions of missing cells are imputations: compare like with like.
    reconstruction = reconstruction.where(data.notna().to_numpy())
    return Marginals(trainer.step_count, trainer.features, data, reconstruction, samples)
