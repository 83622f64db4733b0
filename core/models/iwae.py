"""IWAE: the importance-weighted bound with S samples of z per row.

Its gradient at the decoder outputs of sample s is the normalised importance weight
w_s times the gradient of log p(x|z_s), so the per-column losses are the
weight-averaged column log-likelihoods with the weights held fixed; the prior and
posterior terms form the latent part.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import torch

from core.models.base import Batch, ModelOption, Objective, SharedRepresentation, TabularVAE, TaskForward
from core.models.layers import gaussian_kl, gaussian_log_density, gaussian_sample


class WeightedTerms(NamedTuple):
    """The pieces of the importance-weighted bound, per sample s (first dimension)."""

    y: torch.Tensor  # the shared representation, in the graph
    y_cut: torch.Tensor  # its detached copy
    outputs: torch.Tensor  # the decoder outputs computed from y_cut
    log_lik: torch.Tensor  # S x B x K, log p(x_k | z_s)
    log_prior_ratio: torch.Tensor  # S x B, beta * (log p(z_s) - log q(z_s | x))
    log_w: torch.Tensor  # S x B, log importance weights
    weights: torch.Tensor  # S x B, normalised and detached
    bound: torch.Tensor  # the bound, averaged over the batch
    kl: torch.Tensor  # KL(q(z|x) || p(z)), for reporting


class IWAE(TabularVAE):
    NAME = "iwae"
    DESCRIPTION = "importance-weighted autoencoder (S importance samples)"
    OPTIONS = (ModelOption("importance_samples", "importance samples S of z per row"),)
    OBJECTIVES: ClassVar[tuple[str, ...]] = ("iwae",)

    def __init__(self, *args: Any, importance_samples: int = 20, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.importance_samples = importance_samples

    def _weighted_terms(
        self, batch: Batch, generator: torch.Generator | None, stop_posterior_params: bool
    ) -> WeightedTerms:
        mu, logvar = self.posterior(batch, generator)
        z = gaussian_sample(mu, logvar, self.importance_samples, generator)  # S x B x L
        y, y_cut, outputs = self.decode_cut(z)
        log_lik = self.likelihood.log_prob(outputs, batch.targets, batch.mask)  # S x B x K
        q_mu, q_logvar = (mu.detach(), logvar.detach()) if stop_posterior_params else (mu, logvar)
        log_prior_ratio = self.beta * (
            gaussian_log_density(z, torch.zeros_like(mu), torch.zeros_like(logvar))
            - gaussian_log_density(z, q_mu, q_logvar)
        )  # S x B
        log_w = log_lik.sum(-1).detach() + log_prior_ratio
        weights = torch.softmax(log_w.detach(), dim=0)  # S x B
        bound = (torch.logsumexp(log_w, 0) - math.log(self.importance_samples)).mean()
        kl = gaussian_kl(mu, logvar).mean().detach()
        return WeightedTerms(y, y_cut, outputs, log_lik, log_prior_ratio, log_w, weights, bound, kl)

    def forward_tasks(self, batch: Batch, generator: torch.Generator | None = None) -> TaskForward:
        y, y_cut, outputs, log_lik, _, _, weights, bound, kl = self._weighted_terms(batch, generator, False)
        column_losses = -(weights.unsqueeze(-1) * log_lik).sum(0).mean(0)
        # `bound` already holds the column terms as values (detached); subtracting them
        # leaves a latent loss with the right gradient and a total equal to -bound.
        latent_loss = -bound - column_losses.sum().detach()
        return TaskForward(
            outputs=outputs,
            shared=[SharedRepresentation("y", y, y_cut, self.head.weight)],
            objectives=[Objective("iwae", column_losses, latent_loss)],
            loss=-bound.detach(),
            kl=kl,
        )
