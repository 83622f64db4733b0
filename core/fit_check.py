"""The fit check after training: does each column's likelihood reproduce its data?

A posterior predictive check. For the rows of a split (at most ``FIT_ROWS``, evenly
spaced), latent codes are drawn from q(z|x) and each column's value from its likelihood
given the code, ``SAMPLES_PER_ROW`` times per row; the draws of the rows where a column
is observed are compared with its observed values (``core.fit_stats``: a KS or total
variation distance, the spread ratio, the share of zeros). A column whose distance
exceeds ``MISFIT_DISTANCE`` is *misfit*, and its sentence names the likely fix from its
type's spec (``ColumnTypeSpec.fit_advice``): "samples spread 0.2x the data's: a
Poisson's variance equals its mean, too narrow for an amount; try positive".

Codes come from the rows' posteriors rather than the prior so that the check judges the
likelihood family, not how well the prior covers the codes (``core.samplers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.column_types import SPECS
from core.fit_stats import MISFIT_DISTANCE, FitStats, describe, fit_stats
from core.models import Batch
from core.samplers import decode_codes, posterior_codes
from core.trainer import Trainer

__all__ = ["FIT_ROWS", "MISFIT_DISTANCE", "SAMPLES_PER_ROW", "ColumnFitCheck", "check_fit"]

FIT_ROWS = 5000
SAMPLES_PER_ROW = 4


@dataclass(frozen=True)
class ColumnFitCheck:
    """The fit verdict of one column: its statistics, whether it is misfit, and one sentence."""

    stats: FitStats
    sentence: str

    @property
    def name(self) -> str:
        return self.stats.name

    @property
    def misfit(self) -> bool:
        return self.stats.misfit

    def to_dict(self) -> dict[str, Any]:
        """What ``metrics.json`` keeps of it."""
        s = self.stats
        return {
            "misfit": s.misfit,
            "distance": round(s.distance, 4),
            "measure": s.measure,
            "spread_ratio": None if s.spread_ratio is None else round(s.spread_ratio, 4),
            "data_zeros": None if s.data_zeros is None else round(s.data_zeros, 4),
            "sample_zeros": None if s.sample_zeros is None else round(s.sample_zeros, 4),
            "sentence": self.sentence,
        }


def verdict(stats: FitStats) -> ColumnFitCheck:
    """The column's sentence: the likely fix when misfit, else that it fits."""
    if stats.misfit:
        return ColumnFitCheck(stats, SPECS[stats.type].fit_advice(stats))
    return ColumnFitCheck(stats, f"fits ({describe(stats)}; misfit above {MISFIT_DISTANCE:g})")


@torch.no_grad()
def check_fit(trainer: Trainer, split: str = "train", seed: int = 0, max_rows: int = FIT_ROWS) -> list[ColumnFitCheck]:
    """The fit check of every feature of ``trainer``'s model on (at most ``max_rows``,
    evenly spaced) rows of ``split``; a column with no observed cell there is left out."""
    rows = np.asarray(trainer.splits[split])
    if len(rows) > max_rows:
        rows = rows[np.linspace(0, len(rows) - 1, max_rows).round().astype(int)]
    index = torch.as_tensor(rows, device=trainer.device)
    draws = _posterior_draws(trainer, index, seed)  # SAMPLES_PER_ROW x rows x K
    targets = trainer.targets[index].cpu().numpy()
    observed = trainer.observed[index].cpu().numpy()
    checks = []
    for j, column in enumerate(trainer.features):
        seen = observed[:, j]
        if not seen.any():
            continue
        stats = fit_stats(column.name, column.type, targets[seen, j], draws[:, seen, j].reshape(-1))
        checks.append(verdict(stats))
    return checks


def _posterior_draws(trainer: Trainer, index: torch.Tensor, seed: int) -> np.ndarray:
    batch = Batch(trainer.inputs[index], trainer.model_mask[index], trainer.targets[index])
    mu, variance, labels = posterior_codes(trainer.model, batch)
    generator = torch.Generator().manual_seed(seed)
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(SAMPLES_PER_ROW):
            noise = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
            params = decode_codes(trainer.model, mu + noise * variance.sqrt(), labels)
            out.append(trainer.likelihood.sample(params).cpu().numpy())
    return np.stack(out)
