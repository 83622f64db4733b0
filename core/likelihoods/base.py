"""What every per-column likelihood shares: the raw -> positive map, the floors, the base class."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Self, TypeAlias

import torch
import torch.nn.functional as F
from torch.distributions import Distribution

# Smallest scale, as a fraction of the column's spread: keeps the density bounded,
# so a column of repeated values cannot drive its log-likelihood to infinity.
MIN_SCALE = 1e-3
# Smallest Poisson rate: keeps log(rate) finite when the softplus underflows.
MIN_RATE = 1e-6

_SOFTPLUS_ONE = math.log(math.expm1(1.0))

# A fitted statistic: one value, or one per column of a stacked likelihood.
Statistic: TypeAlias = torch.Tensor | float | Sequence[float]


def unit_softplus(raw: torch.Tensor) -> torch.Tensor:
    """Softplus shifted so that a raw output of 0 maps to 1."""
    return F.softplus(raw + _SOFTPLUS_ONE)


def as_statistic(value: Statistic) -> torch.Tensor:
    """float32 whatever torch's default dtype: a float64 statistic would promote
    float32 params, and the results, to float64."""
    return torch.as_tensor(value, dtype=torch.float32)


class ColumnLikelihood:
    """Base of the per-type likelihoods.

    ``params`` has ``n_params`` entries in its last dimension; ``x`` and ``mask`` have
    the remaining (leading) shape. Subclasses define ``distribution``, ``mode``,
    ``mean``, ``stack`` and ``fill_value`` (a target with finite log-probability that
    replaces masked cells, which are 0-filled and may be outside the support).
    """

    n_params: int

    def distribution(self, params: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def fill_value(self) -> torch.Tensor:
        raise NotImplementedError

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def stack(cls, members: Sequence[Self]) -> Self:
        """One likelihood of this type over all ``members`` (see ``core.likelihoods``)."""
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor, params: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x | params), 0 where ``mask`` is False (masked cells carry no term)."""
        if mask is None:
            return self.observed_log_prob(x, params)
        mask = mask.bool()
        safe_x = torch.where(mask, x, self.fill_value().to(x))
        return torch.where(mask, self.observed_log_prob(safe_x, params), 0.0)

    def observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x | params) where every cell of ``x`` is observed (in the support)."""
        return self.distribution(params).log_prob(x)

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).sample().to(params.dtype)

    def to(self, device: torch.device | str) -> Self:
        """Moves every statistic and index tensor to ``device``; returns self."""
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        return self
