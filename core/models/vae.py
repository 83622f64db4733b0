"""VAE trained on the ELBO: sum over columns of E_q[log p(x_k|z)] minus beta * KL."""

from __future__ import annotations

import torch

from core.models.base import Batch, Objective, SharedRepresentation, TabularVAE, TaskForward
from core.models.layers import gaussian_kl, gaussian_sample


class VAE(TabularVAE):
    NAME = "vae"
    DESCRIPTION = "VAE on the ELBO"

    def forward_tasks(self, batch: Batch, generator: torch.Generator | None = None) -> TaskForward:
        mu, logvar = self.posterior(batch, generator)
        z = gaussian_sample(mu, logvar, None, generator)
        y, y_cut, outputs = self.decode_cut(z)
        log_lik = self.likelihood.log_prob(outputs, batch.targets, batch.mask)  # B x K
        column_losses = -log_lik.mean(0)
        kl = gaussian_kl(mu, logvar).mean()
        latent_loss = self.beta * kl
        return TaskForward(
            outputs=outputs,
            shared=[SharedRepresentation("y", y, y_cut, self.head.weight)],
            objectives=[Objective("elbo", column_losses, latent_loss)],
            loss=(column_losses.sum() + latent_loss).detach(),
            kl=kl.detach(),
        )
