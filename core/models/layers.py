"""Building blocks shared by the VAE family.

Every source of randomness takes an explicit ``torch.Generator`` so that two models
trained side by side in one process (a comparison) never share a random stream:
the same seed gives the same numbers alone or in company.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn


class SeededDropout(nn.Module):
    """Dropout that draws its mask from the generator handed to ``forward``."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) >= self.p
        return x * keep / (1.0 - self.p)


class EncoderNet(nn.Module):
    """The paper's encoder trunk: Linear -> BatchNorm -> tanh -> dropout, repeated."""

    def __init__(self, in_dim: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in dims[1:])
        self.dropout = SeededDropout(dropout)
        self.out_dim = dims[-1]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for linear, norm in zip(self.linears, self.norms, strict=True):
            # BatchNorm cannot normalise a single row in training; such a batch only
            # happens at the very end of an epoch and is passed through unnormalised.
            h = linear(x)
            if not (self.training and h.shape[0] < 2):
                h = norm(h)
            x = self.dropout(torch.tanh(h), generator)
        return x


def relu_mlp(in_dim: int, hidden: int, layers: int) -> nn.Sequential:
    """The paper's decoder trunk: ReLU layers ending in the last shared layer y."""
    dims = [in_dim] + [hidden] * layers
    mods: list[nn.Module] = []
    for a, b in itertools.pairwise(dims):
        mods += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*mods)


def gaussian_sample(
    mu: torch.Tensor, logvar: torch.Tensor, n_samples: int | None, generator: torch.Generator | None
) -> torch.Tensor:
    """Reparameterised draws; shape [S, *mu.shape] when ``n_samples`` is given."""
    shape = mu.shape if n_samples is None else (n_samples, *mu.shape)
    eps = torch.randn(shape, generator=generator, dtype=mu.dtype, device=mu.device)
    return mu + eps * torch.exp(0.5 * logvar)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * (((z - mu) ** 2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, prior_mu: torch.Tensor | float = 0.0) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(prior_mu, I)) summed over the last dimension."""
    return 0.5 * (torch.exp(logvar) + (mu - prior_mu) ** 2 - 1.0 - logvar).sum(-1)
