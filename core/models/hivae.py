"""HI-VAE (Nazabal et al., 2020): a Gaussian-mixture prior over z with a categorical s.

Generative side: s ~ Cat(1/S); z | s ~ N(mu_s, I); y = G z split into a small block
y_k per column; column k's parameters are linear in (y_k, s). Inference side:
q(s|x) (relaxed with Gumbel-softmax while training), q(z|x, s) Gaussian.

The outputs are linear in both z and s, so both are shared representations with
their own method instance: the effective weight on z is ``masked_head_y @ G``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import Batch, ModelOption, Objective, SharedRepresentation, TabularVAE, TaskForward
from core.models.layers import gaussian_kl, gaussian_sample


class HIVAE(TabularVAE):
    NAME = "hivae"
    DESCRIPTION = "HI-VAE: Gaussian-mixture prior with a categorical s, per-column heads"
    OPTIONS = (
        ModelOption("mixture_components", "components of the Gaussian-mixture prior over z (the values of s)"),
        ModelOption("y_per_column", "size of each column's block of y"),
    )
    SHARED = ("z", "s")
    head_mask: torch.Tensor  # P x (K * y_per_column): output j reads only its column's block of y

    def __init__(
        self, *args: Any, mixture_components: int = 10, y_per_column: int = 5, temperature: float = 1.0, **kwargs: Any
    ):
        # build_decoder, called by the shared constructor, needs these sizes
        self.mixture = mixture_components
        self.y_per_column = y_per_column
        self.temperature = temperature
        super().__init__(*args, **kwargs)
        h = self.encoder.out_dim
        self.to_mixture_logits = nn.Linear(h, self.mixture)
        self.to_posterior = nn.Linear(h + self.mixture, 2 * self.latent)
        self.prior_means = nn.Linear(self.mixture, self.latent, bias=False)

    def build_decoder(self, latent: int, hidden: int, layers: int) -> None:
        k, m = self.n_features, self.y_per_column
        self.to_y = nn.Linear(latent, k * m)
        self.head_y = nn.Linear(k * m, self.likelihood.n_params)
        self.head_s = nn.Linear(self.mixture, self.likelihood.n_params, bias=False)
        # Column k's parameters read only column k's block of y.
        owner = self.likelihood.param_owner
        block = torch.arange(k * m) // m
        self.register_buffer("head_mask", (owner.unsqueeze(1) == block.unsqueeze(0)).float())

    def encoder_parameters(self) -> list[nn.Parameter]:
        return (
            list(self.encoder.parameters())
            + list(self.to_posterior.parameters())
            + list(self.to_mixture_logits.parameters())
        )

    def head_parameters(self) -> list[nn.Parameter]:
        return list(self.to_y.parameters()) + list(self.head_y.parameters()) + list(self.head_s.parameters())

    def _outputs(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        y = self.to_y(z)
        return F.linear(y, self.head_y.weight * self.head_mask, self.head_y.bias) + self.head_s(s)

    def _posterior(
        self, batch: Batch, generator: torch.Generator | None, hard: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.cat([batch.inputs, batch.mask.to(batch.inputs.dtype)], -1), generator)
        logits = self.to_mixture_logits(h)
        if hard:
            s = F.one_hot(logits.argmax(-1), self.mixture).to(h.dtype)
        else:
            u = torch.rand(logits.shape, generator=generator, dtype=h.dtype).clamp(1e-10, 1 - 1e-10)
            s = torch.softmax((logits - torch.log(-torch.log(u))) / self.temperature, -1)
        mu, logvar = self.to_posterior(torch.cat([h, s], -1)).chunk(2, dim=-1)
        return logits, s, mu, logvar.clamp(-12.0, 8.0)

    def forward_tasks(self, batch: Batch, generator: torch.Generator | None = None) -> TaskForward:
        logits, s, mu, logvar = self._posterior(batch, generator, hard=False)
        z = gaussian_sample(mu, logvar, None, generator)
        z_cut = z.detach().requires_grad_(True)
        s_cut = s.detach().requires_grad_(True)
        outputs = self._outputs(z_cut, s_cut)
        log_lik = self.likelihood.log_prob(outputs, batch.targets, batch.mask)
        column_losses = -log_lik.mean(0)
        q_s = torch.softmax(logits, -1)
        kl_s = (q_s * (torch.log_softmax(logits, -1) + torch.log(torch.tensor(float(self.mixture))))).sum(-1)
        kl_z = gaussian_kl(mu, logvar, self.prior_means(s))
        kl = (kl_s + kl_z).mean()
        latent_loss = self.beta * kl
        with torch.no_grad():  # the engine reads it as a constant of this step: no graph to build
            w_z = (self.head_y.weight * self.head_mask) @ self.to_y.weight
        return TaskForward(
            outputs=outputs,
            shared=[SharedRepresentation("z", z, z_cut, w_z), SharedRepresentation("s", s, s_cut, self.head_s.weight)],
            objectives=[Objective("elbo", column_losses, latent_loss)],
            loss=(column_losses.sum() + latent_loss).detach(),
            kl=kl.detach(),
        )

    @torch.no_grad()
    def reconstruct(self, batch: Batch) -> torch.Tensor:
        _, s, mu, _ = self._posterior(batch, None, hard=True)
        return self._outputs(mu, s)

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        s = F.one_hot(torch.randint(self.mixture, (n,), generator=generator), self.mixture).float()
        z = self.prior_means(s) + torch.randn(n, self.latent, generator=generator)
        return self._outputs(z, s)
