"""The training forward pass of R runs of one model, each on its own minibatch.

Each function here is the stacked form of a model's ``forward_tasks`` (``core.models``):
the same formulas with a leading run axis, so that run r's losses, outputs and shared
representations (the trunk's y; HI-VAE's z and s) are those its own model would compute.
A model without a stacked form raises ``NotStackedError``; callers then train the runs
one by one.
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
    mixture_components: int = 10  # HI-VAE's
    temperature: float = 1.0  # HI-VAE's Gumbel-softmax
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
class StackedShared:
    """A ``SharedRepresentation`` of R runs."""

    source: Tensor  # R x ... x dim, in the graph
    weight: Tensor  # R x P x dim: how the outputs depend on its cut, detached, as before the step


@dataclass
class StackedForward:
    """``TaskForward`` of R runs."""

    outputs: Tensor  # R x ... x P, computed from the shared representations' cuts
    shared: list[StackedShared]
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


def _decode_cut(params: StackedTensors, z: Tensor, layers: int) -> tuple[StackedShared, Tensor]:
    """The trunk's output y, shared, and the head's outputs from its cut."""
    y = network.relu_trunk(params, z, layers)
    y_cut = y.detach().requires_grad_(True)
    return StackedShared(y, params["head.weight"].detach().clone()), network.linear(params, "head", y_cut)


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
    shared, outputs = _decode_cut(params, z, arch.layers)
    column_losses = -log_likelihood(outputs, batch, arch, sample_axis=False).mean(1)
    kl = gaussian_kl(mu, logvar).mean(-1)
    latent_loss = arch.beta * kl
    loss = (column_losses.sum(-1) + latent_loss).detach()
    return StackedForward(outputs, [shared], [StackedObjective(column_losses, latent_loss)], loss, kl.detach())


@dataclass
class _WeightedTerms:
    """``IWAE._weighted_terms`` of R runs: samples on axis 1, rows on 2."""

    shared: StackedShared
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
    shared, outputs = _decode_cut(params, z, arch.layers)
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
    return _WeightedTerms(shared, outputs, log_lik, log_prior_ratio, weights, bound, kl)


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
    return StackedForward(t.outputs, [t.shared], [objective], -t.bound.detach(), t.kl)


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
    return StackedForward(t.outputs, [t.shared], [decoder, encoder], -t.bound.detach(), t.kl)


def hivae_forward(
    params: StackedTensors,
    buffers: StackedTensors,
    batch: StackedBatch,
    arch: Architecture,
    generators: Sequence[torch.Generator],
) -> StackedForward:
    """``HIVAE.forward_tasks``: s relaxed by Gumbel-softmax, z given s, both shared."""
    x = torch.cat([batch.inputs, batch.mask.to(batch.inputs.dtype)], -1)
    h = network.encoder(params, buffers, x, arch.layers, arch.dropout, generators)
    logits = network.linear(params, "to_mixture_logits", h)
    uniform = torch.stack(
        [torch.rand(logits.shape[1:], generator=g, dtype=h.dtype, device=h.device) for g in generators]
    ).clamp(1e-10, 1 - 1e-10)
    s = torch.softmax((logits - torch.log(-torch.log(uniform))) / arch.temperature, -1)
    mu, logvar = network.linear(params, "to_posterior", torch.cat([h, s], -1)).chunk(2, dim=-1)
    logvar = logvar.clamp(-12.0, 8.0)
    z = mu + network.gaussian_noise(mu.shape[1:], mu, generators) * torch.exp(0.5 * logvar)
    z_cut = z.detach().requires_grad_(True)
    s_cut = s.detach().requires_grad_(True)
    masked = params["head_y.weight"] * buffers["head_mask"]
    y = network.linear(params, "to_y", z_cut)
    outputs = network.linear_with(y, masked, params["head_y.bias"]) + network.linear_without_bias(
        params["head_s.weight"], s_cut
    )
    column_losses = -log_likelihood(outputs, batch, arch, sample_axis=False).mean(1)
    q_s = torch.softmax(logits, -1)
    log_components = torch.log(torch.tensor(float(arch.mixture_components)))
    kl_s = (q_s * (torch.log_softmax(logits, -1) + log_components)).sum(-1)
    kl_z = gaussian_kl(mu, logvar, network.linear_without_bias(params["prior_means.weight"], s))
    kl = (kl_s + kl_z).mean(-1)
    latent_loss = arch.beta * kl
    with torch.no_grad():  # each run's effective weight on z, a product per run as its model forms it
        w_z = torch.stack([m @ w for m, w in zip(masked, params["to_y.weight"], strict=True)])
    shared = [StackedShared(z, w_z), StackedShared(s, params["head_s.weight"].detach().clone())]
    loss = (column_losses.sum(-1) + latent_loss).detach()
    return StackedForward(outputs, shared, [StackedObjective(column_losses, latent_loss)], loss, kl.detach())


StackedModelForward = Callable[
    [StackedTensors, StackedTensors, StackedBatch, Architecture, Sequence[torch.Generator]], StackedForward
]
STACKED_FORWARDS: dict[str, StackedModelForward] = {
    "vae": vae_forward,
    "iwae": iwae_forward,
    "dreg": dreg_forward,
    "hivae": hivae_forward,
}


def stacked_forward(model: str) -> StackedModelForward:
    try:
        return STACKED_FORWARDS[model]
    except KeyError:
        raise NotStackedError(
            f"model {model!r} is not stacked yet (stacked: {', '.join(STACKED_FORWARDS)}); train its runs one by one"
        ) from None
