"""The training forward pass of R runs of one model, each on its own minibatch.

Each function here is the stacked form of a model's ``forward_tasks`` (``core.models``):
the same formulas with a leading run axis, so that run r's losses, outputs and shared
representation are those its own model would compute. Models without a stacked form
raise ``NotStackedError``; callers then train the runs one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

import core.stacked.network as network
from core.errors import DataError
from core.likelihoods import TableLikelihood
from core.models.layers import gaussian_kl, gaussian_log_density
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


@dataclass
class StackedForward:
    """``TaskForward`` of R runs, for a model with one objective and one shared layer y."""

    outputs: Tensor  # R x ... x P, computed from y_cut
    y: Tensor  # R x ... x hidden, in the graph
    y_cut: Tensor  # its detached copy
    column_losses: Tensor  # R x K
    latent_loss: Tensor  # (R,)
    loss: Tensor  # (R,), detached
    kl: Tensor  # (R,), detached


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
    """R x ... x K per-cell log-likelihoods, each run under its own fitted likelihood.

    Run by run, on a fresh copy of its outputs: the likelihoods' kernels round a run's
    slice of a stacked tensor differently from a tensor of its own."""
    targets, mask = (batch.targets[:, None], batch.mask[:, None]) if sample_axis else (batch.targets, batch.mask)
    return torch.stack(
        [likelihood.log_prob(outputs[r].clone(), targets[r], mask[r]) for r, likelihood in enumerate(arch.likelihoods)]
    )


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
    return StackedForward(outputs, y, y_cut, column_losses, latent_loss, loss, kl.detach())


def iwae_forward(
    params: StackedTensors,
    buffers: StackedTensors,
    batch: StackedBatch,
    arch: Architecture,
    generators: Sequence[torch.Generator],
) -> StackedForward:
    samples = arch.importance_samples
    mu, logvar = posterior(params, buffers, batch, arch, generators)
    eps = network.gaussian_noise((samples, *mu.shape[1:]), mu, generators)
    z = mu[:, None] + eps * torch.exp(0.5 * logvar)[:, None]  # R x S x B x L
    y, y_cut, outputs = _decode_cut(params, z, arch.layers)
    log_lik = log_likelihood(outputs, batch, arch, sample_axis=True)  # R x S x B x K
    # The bound's reductions over samples, run by run on fresh copies (see log_likelihood).
    terms = [
        _iwae_terms(z_r.clone(), mu_r.clone(), logvar_r.clone(), log_lik_r.clone(), arch.beta, samples)
        for z_r, mu_r, logvar_r, log_lik_r in zip(
            z.unbind(0), mu.unbind(0), logvar.unbind(0), log_lik.unbind(0), strict=True
        )
    ]
    column_losses, latent_loss, bound = (torch.stack(parts) for parts in zip(*terms, strict=True))
    kl = gaussian_kl(mu, logvar).mean(-1).detach()
    return StackedForward(outputs, y, y_cut, column_losses, latent_loss, -bound.detach(), kl)


def _iwae_terms(
    z: Tensor, mu: Tensor, logvar: Tensor, log_lik: Tensor, beta: float, samples: int
) -> tuple[Tensor, Tensor, Tensor]:
    """One run's column losses, latent loss and bound, as ``IWAE.forward_tasks`` forms them."""
    log_prior_ratio = beta * (
        gaussian_log_density(z, torch.zeros_like(mu), torch.zeros_like(logvar)) - gaussian_log_density(z, mu, logvar)
    )  # S x B
    log_w = log_lik.sum(-1).detach() + log_prior_ratio
    weights = torch.softmax(log_w.detach(), dim=0)
    bound = (torch.logsumexp(log_w, 0) - math.log(samples)).mean()
    column_losses = -(weights.unsqueeze(-1) * log_lik).sum(0).mean(0)
    return column_losses, -bound - column_losses.sum().detach(), bound


StackedModelForward = Callable[
    [StackedTensors, StackedTensors, StackedBatch, Architecture, Sequence[torch.Generator]], StackedForward
]
STACKED_FORWARDS: dict[str, StackedModelForward] = {"vae": vae_forward, "iwae": iwae_forward}


def stacked_forward(model: str) -> StackedModelForward:
    try:
        return STACKED_FORWARDS[model]
    except KeyError:
        raise NotStackedError(
            f"model {model!r} is not stacked yet (stacked: {', '.join(STACKED_FORWARDS)}); train its runs one by one"
        ) from None
