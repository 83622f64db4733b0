"""The training forward pass of R runs of one model, each on its own minibatch.

Each function here is the stacked form of a model's ``forward_tasks`` (``core.models``):
the same formulas with a leading run axis, so that run r's losses, outputs and shared
representation are those its own model would compute. Models without a stacked form
raise ``NotStackedError``; callers then train the runs one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

import core.stacked.network as network
from core.errors import DataError
from core.likelihoods import TableLikelihood
from core.models.layers import gaussian_kl, gaussian_log_density
from core.stacked.likelihood import stack_likelihoods
from core.stacked.network import StackedTensors


class NotStackedError(DataError):
    """These runs cannot share one stacked model; train them one by one instead."""


@dataclass
class StackedBatch:
    """Every run's minibatch: R x B x D inputs, R x B x K mask and targets."""

    inputs: Tensor
    mask: Tensor
    targets: Tensor


@dataclass
class Architecture:
    """What the stacked layers need to know of the model every run shares."""

    layers: int
    dropout: float
    beta: float
    importance_samples: int
    likelihoods: list[TableLikelihood]  # each run's, fitted to its training split
    _stacked: dict[int, TableLikelihood] = field(default_factory=dict)

    def likelihood(self, inner_dims: int) -> TableLikelihood:
        """The runs' likelihoods stacked, over R x (``inner_dims`` axes) x P outputs."""
        if inner_dims not in self._stacked:
            self._stacked[inner_dims] = stack_likelihoods(self.likelihoods, inner_dims)
        return self._stacked[inner_dims]


@dataclass
class StackedObjective:
    """An ``Objective`` of R runs."""

    column_losses: Tensor  # R x K
    latent_loss: Tensor | None  # (R,); None: no latent part
    trains: str | None = None  # "encoder" or "decoder": whose parameters it trains (None: all)
    trains_heads: bool = True


@dataclass
class StackedForward:
    """``TaskForward`` of R runs, for a model with one shared layer y."""

    outputs: Tensor  # R x ... x P, computed from y_cut
    y: Tensor  # R x ... x hidden, in the graph
    y_cut: Tensor  # its detached copy
    objectives: list[StackedObjective]
    loss: Tensor  # (R,), detached
    kl: Tensor  # (R,), detached

    @property
    def column_losses(self) -> Tensor:
        """The first objective's, as a run's record has them."""
        return self.objectives[0].column_losses


def posterior(
    params: StackedTensors,
    buffers: StackedTensors,
    batch: StackedBatch,
    arch: Architecture,
    generators: Sequence[torch.Generator] | None,
) -> tuple[Tensor, Tensor]:
    x = torch.cat([batch.inputs, batch.mask.to(batch.inputs.dtype)], -1)
    h = network.encoder(params, buffers, x, arch.layers, arch.dropout, generators)
    mu, logvar = network.linear(params, "to_posterior", h).chunk(2, dim=-1)
    return mu, logvar.clamp(-12.0, 8.0)


def log_likelihood(outputs: Tensor, batch: StackedBatch, arch: Architecture, sample_axis: bool) -> Tensor:
    """R x ... x K per-cell log-likelihoods, each run under its own fitted likelihood."""
    targets, mask = (batch.targets[:, None], batch.mask[:, None]) if sample_axis else (batch.targets, batch.mask)
    return arch.likelihood(targets.ndim - 2).log_prob(outputs, targets, mask)


def _decode_cut(params: StackedTensors, z: Tensor, layers: int) -> tuple[Tensor, Tensor, Tensor]:
    y = network.relu_trunk(params, z, layers)
    y_cut = y.detach().requires_grad_(True)
    return y, y_cut, network.linear(params, "head", y_cut)


def vae_forward(
    params: StackedTensors,
    buffers: StackedTensors,
    batch: StackedBatch,
    arch: Architecture,
    generators: Sequence[torch.Generator],
) -> StackedForward:
    mu, logvar = posterior(params, buffers, batch, arch, generators)
    eps = network.gaussian_noise(mu.shape[1:], mu, generators)
    z = mu + eps * torch.exp(0.5 * logvar)
    y, y_cut, outputs = _decode_cut(params, z, arch.layers)
    column_losses = -log_likelihood(outputs, batch, arch, sample_axis=False).mean(1)
    kl = gaussian_kl(mu, logvar).mean(-1)
    latent_loss = arch.beta * kl
    loss = (column_losses.sum(-1) + latent_loss).detach()
    return StackedForward(outputs, y, y_cut, [StackedObjective(column_losses, latent_loss)], loss, kl.detach())


@dataclass
class _WeightedTerms:
    """``IWAE._weighted_terms`` of R runs: samples on axis 1, rows on 2."""

    y: Tensor
    y_cut: Tensor
    outputs: Tensor
    log_lik: Tensor  # R x S x B x K
    log_prior_ratio: Tensor  # R x S x B
    weights: Tensor  # R x S x B, normalised and detached
    bound: Tensor  # (R,)
    kl: Tensor  # (R,), detached


def _weighted_terms(
    params: StackedTensors,
    buffers: StackedTensors,
    batch: StackedBatch,
    arch: Architecture,
    generators: Sequence[torch.Generator],
    stop_posterior_params: bool,
) -> _WeightedTerms:
    samples = arch.importance_samples
    mu, logvar = posterior(params, buffers, batch, arch, generators)
    eps = network.gaussian_noise((samples, *mu.shape[1:]), mu, generators)
    mu, logvar = mu[:, None], logvar[:, None]  # broadcast over the samples, as alone
    z = mu + eps * torch.exp(0.5 * logvar)  # R x S x B x L
    y, y_cut, outputs = _decode_cut(params, z, arch.layers)
    log_lik = log_likelihood(outputs, batch, arch, sample_axis=True)  # R x S x B x K
    q_mu, q_logvar = (mu.detach(), logvar.detach()) if stop_posterior_params else (mu, logvar)
    log_prior_ratio = arch.beta * (
        gaussian_log_density(z, torch.zeros_like(mu), torch.zeros_like(logvar))
        - gaussian_log_density(z, q_mu, q_logvar)
    )  # R x S x B
    log_w = log_lik.sum(-1).detach() + log_prior_ratio
    weights = torch.softmax(log_w.detach(), dim=1)
    bound = (torch.logsumexp(log_w, 1) - math.log(samples)).mean(-1)
    kl = gaussian_kl(mu[:, 0], logvar[:, 0]).mean(-1).detach()
    return _WeightedTerms(y, y_cut, outputs, log_lik, log_prior_ratio, weights, bound, kl)


def iwae_forward(
    params: StackedTensors,
    buffers: StackedTensors,
    batch: StackedBatch,
    arch: Architecture,
    generators: Sequence[torch.Generator],
) -> StackedForward:
    t = _weighted_terms(params, buffers, batch, arch, generators, False)
    column_losses = -(t.weights.unsqueeze(-1) * t.log_lik).sum(1).mean(1)
    latent_loss = -t.bound - column_losses.sum(-1).detach()
    objective = StackedObjective(column_losses, latent_loss)
    return StackedForward(t.outputs, t.y, t.y_cut, [objective], -t.bound.detach(), t.kl)


def dreg_forward(
    params: StackedTensors,
    buffers: StackedTensors,
    batch: StackedBatch,
    arch: Architecture,
    generators: Sequence[torch.Generator],
) -> StackedForward:
    """``DReG.forward_tasks``: the decoder's objective with weights w, the encoder's with w^2."""
    t = _weighted_terms(params, buffers, batch, arch, generators, True)
    w, w2 = t.weights.unsqueeze(-1), (t.weights**2).unsqueeze(-1)
    decoder = StackedObjective(-(w * t.log_lik).sum(1).mean(1), None, "decoder")
    encoder = StackedObjective(
        -(w2 * t.log_lik).sum(1).mean(1),
        -(t.weights**2 * t.log_prior_ratio).sum(1).mean(-1),
        "encoder",
        trains_heads=False,
    )
    return StackedForward(t.outputs, t.y, t.y_cut, [decoder, encoder], -t.bound.detach(), t.kl)


StackedModelForward = Callable[
    [StackedTensors, StackedTensors, StackedBatch, Architecture, Sequence[torch.Generator]], StackedForward
]
STACKED_FORWARDS: dict[str, StackedModelForward] = {"vae": vae_forward, "iwae": iwae_forward, "dreg": dreg_forward}


def stacked_forward(model: str) -> StackedModelForward:
    try:
        return STACKED_FORWARDS[model]
    except KeyError:
        raise NotStackedError(
            f"model {model!r} is not stacked yet (stacked: {', '.join(STACKED_FORWARDS)}); train its runs one by one"
        ) from None
