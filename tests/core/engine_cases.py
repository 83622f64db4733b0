"""A small model and batch for the gradient-engine tests, and the models' losses written out
independently of the engine (no cut at the shared representation): the references that
``loss.backward()`` is taken on. Use under float64 (``double_precision``)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch

from core.likelihoods import (
    BinaryLikelihood,
    CategoricalLikelihood,
    CountLikelihood,
    OrdinalLikelihood,
    PositiveLikelihood,
    RealLikelihood,
    TableLikelihood,
)
from core.models import HIVAE, IWAE, VAE, Batch, DReG
from core.models.layers import gaussian_log_density

MODELS = [(VAE, {}), (IWAE, {"importance_samples": 4}), (DReG, {"importance_samples": 4}), (HIVAE, {})]


@contextlib.contextmanager
def double_precision() -> Iterator[None]:
    """Exact comparisons in float64, without leaking into other test modules."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def table_likelihood() -> TableLikelihood:
    return TableLikelihood(
        [
            RealLikelihood(10.0, 3.0),
            PositiveLikelihood(1.0, 0.5),
            CountLikelihood(4.0),
            BinaryLikelihood(),
            CategoricalLikelihood(4),
            OrdinalLikelihood(5),
            RealLikelihood(-2.0, 0.1),
        ]
    )


def make_batch(n: int = 16, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    targets = torch.stack(
        [
            10 + 3 * torch.randn(n, generator=g),
            torch.exp(1 + 0.5 * torch.randn(n, generator=g)),
            torch.poisson(torch.full((n,), 4.0), generator=g),
            torch.randint(2, (n,), generator=g).double(),
            torch.randint(4, (n,), generator=g).double(),
            torch.randint(5, (n,), generator=g).double(),
            -2 + 0.1 * torch.randn(n, generator=g),
        ],
        1,
    )
    mask = torch.rand(n, 7, generator=g) > 0.15
    inputs = torch.randn(n, 9, generator=g) * mask[:, :1]
    return Batch(inputs, mask, targets * mask)


def make_model(cls: type, seed: int = 0, **kw: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return cls(table_likelihood(), 9, 7, latent=3, hidden=8, layers=2, dropout=0.0, **kw)


def vae_loss(model: VAE, batch: Batch, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = model.posterior(batch, gen)
    z = mu + torch.randn(mu.shape, generator=gen) * torch.exp(0.5 * logvar)
    log_lik = model.likelihood.log_prob(model.head(model.trunk(z)), batch.targets, batch.mask)
    kl = 0.5 * (logvar.exp() + mu**2 - 1 - logvar).sum(-1)
    return -log_lik.sum(-1).mean() + kl.mean()


def importance_terms(model: IWAE, batch: Batch, seed: int, stop_posterior: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """z (S x B x L) and log w (S x B); with ``stop_posterior`` q's parameters are held
    fixed inside log q (z still depends on them)."""
    samples = model.importance_samples
    gen = torch.Generator().manual_seed(seed)
    mu, logvar = model.posterior(batch, gen)
    z = mu + torch.randn((samples, *mu.shape), generator=gen) * torch.exp(0.5 * logvar)
    log_lik = model.likelihood.log_prob(model.head(model.trunk(z)), batch.targets, batch.mask)
    q_mu, q_logvar = (mu.detach(), logvar.detach()) if stop_posterior else (mu, logvar)
    log_w = (
        log_lik.sum(-1)
        + gaussian_log_density(z, torch.zeros_like(mu), torch.zeros_like(mu))
        - gaussian_log_density(z, q_mu, q_logvar)
    )
    return z, log_w


def iwae_loss(model: IWAE, batch: Batch, seed: int) -> torch.Tensor:
    _, log_w = importance_terms(model, batch, seed, stop_posterior=False)
    return -(torch.logsumexp(log_w, 0) - math.log(model.importance_samples)).mean()


def dreg_encoder_surrogate(model: DReG, batch: Batch, seed: int) -> torch.Tensor:
    """Tucker et al.'s surrogate: its gradient in the encoder is the DReG estimator,
    -mean over rows of sum_s w_s^2 d log w_s / d phi, q's parameters fixed inside log q."""
    _, log_w = importance_terms(model, batch, seed, stop_posterior=True)
    weights = torch.softmax(log_w.detach(), dim=0)
    return -(weights**2 * log_w).sum(0).mean()


def hivae_loss(model: HIVAE, batch: Batch, seed: int) -> torch.Tensor:
    """The HI-VAE loss with z and s left attached to the graph."""
    gen = torch.Generator().manual_seed(seed)
    logits, s, mu, logvar = model._posterior(batch, gen, hard=False)
    z = mu + torch.randn(mu.shape, generator=gen) * torch.exp(0.5 * logvar)
    log_lik = model.likelihood.log_prob(model._outputs(z, s), batch.targets, batch.mask)
    q_s = torch.softmax(logits, -1)
    kl_s = (q_s * (torch.log_softmax(logits, -1) + math.log(model.mixture))).sum(-1)
    kl_z = 0.5 * (logvar.exp() + (mu - model.prior_means(s)) ** 2 - 1 - logvar).sum(-1)
    return -log_lik.sum(-1).mean() + (kl_s + kl_z).mean()
