"""Likelihoods of the numerical types, over original units: real, positive, count."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Self

import torch
from torch.distributions import AffineTransform, LogNormal, Normal, Poisson, TransformedDistribution

from core.likelihoods.base import MIN_RATE, MIN_SCALE, ColumnLikelihood, Statistic, as_statistic, unit_softplus

_HALF_LOG_2PI = math.log(math.sqrt(2 * math.pi))


class _LocationScale(ColumnLikelihood):
    """Two outputs read as a location and a scale on the scale of fitted statistics:
    ``center + spread * r0`` and ``spread * (usp(r1) + MIN_SCALE)``."""

    n_params = 2

    def __init__(self, center: Statistic, spread: Statistic):
        self.center = as_statistic(center)
        self.spread = as_statistic(spread)

    def location_scale(self, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc = self.center + self.spread * params[..., 0]
        scale = self.spread * (unit_softplus(params[..., 1]) + MIN_SCALE)
        return loc, scale

    def normal_log_prob(self, value: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log Normal(value; location, scale), computed as torch's ``Normal.log_prob`` does
        (the same operations, the same numbers) without building the distribution: in the
        training step, its construction costs more than the formula."""
        loc, scale = self.location_scale(params)
        return -((value - loc) ** 2) / (2 * scale**2) - scale.log() - _HALF_LOG_2PI

    @classmethod
    def stack(cls, members: Sequence[Self]) -> Self:
        return cls(torch.stack([m.center for m in members]), torch.stack([m.spread for m in members]))


class RealLikelihood(_LocationScale):
    """Normal over original units, built with the column's training mean and std."""

    def distribution(self, params: torch.Tensor) -> Normal:
        return Normal(*self.location_scale(params), validate_args=False)

    def observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return self.normal_log_prob(x, params)

    def fill_value(self) -> torch.Tensor:
        return self.center

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).loc

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).loc


class PositiveLikelihood(_LocationScale):
    """Non-negative reals as HI-VAE models them: x + 1 ~ LogNormal(mu, sigma).

    The shift puts zeros (amounts that are often exactly 0) inside the support;
    the statistics are the mean and std of log(1 + x).
    """

    def shifted_distribution(self, params: torch.Tensor) -> LogNormal:
        """The LogNormal of x + 1."""
        return LogNormal(*self.location_scale(params), validate_args=False)

    def distribution(self, params: torch.Tensor) -> TransformedDistribution:
        return TransformedDistribution(
            self.shifted_distribution(params), AffineTransform(-1.0, 1.0), validate_args=False
        )

    def observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # The LogNormal's density at y = x + 1 (the shift's log-Jacobian is 0): the Normal's
        # at log y, less log y, as torch's LogNormal computes it.
        log_y = torch.log(x + 1)
        return -log_y + self.normal_log_prob(log_y, params)

    def fill_value(self) -> torch.Tensor:
        return torch.zeros(())

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        """The LogNormal's mode exp(mu - sigma^2), shifted; where that falls below 0 the
        density over x >= 0 is decreasing, so the most likely value is 0."""
        d = self.shifted_distribution(params)
        return torch.clamp(torch.expm1(d.loc - d.scale**2), min=0.0)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        d = self.shifted_distribution(params)
        return torch.expm1(d.loc + d.scale**2 / 2)


class CountLikelihood(ColumnLikelihood):
    """Poisson with rate ``rate_scale * usp(raw)``.

    Softplus rather than exp: the rate grows linearly in the raw output, so a large
    raw value cannot overflow and the gradient d rate / d raw stays bounded by
    ``rate_scale``; scaling by the training mean starts the rate at the column's
    mean, whatever its magnitude (counts up to 1e5 and beyond).
    """

    n_params = 1

    def __init__(self, mean: Statistic):
        training_mean = as_statistic(mean)
        # An all-zero training column has mean 0, which would pin the rate at 0.
        self.rate_scale = torch.where(training_mean > 0, training_mean, 1.0)

    def rate(self, params: torch.Tensor) -> torch.Tensor:
        return self.rate_scale * unit_softplus(params[..., 0]) + MIN_RATE

    def distribution(self, params: torch.Tensor) -> Poisson:
        return Poisson(self.rate(params), validate_args=False)

    def observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # x*log(rate) and lgamma(x+1) are both ~1e6 for counts ~1e5 and cancel to a
        # value of a few nats: in float32 that would lose the whole result.
        rate = self.rate(params.double())
        x = x.double()
        return (x.xlogy(rate) - rate - torch.lgamma(x + 1)).to(params.dtype)

    def fill_value(self) -> torch.Tensor:
        return torch.zeros(())

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return torch.floor(self.distribution(params).rate)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).rate

    @classmethod
    def stack(cls, members: Sequence[Self]) -> Self:
        return cls(torch.stack([m.rate_scale for m in members]))
