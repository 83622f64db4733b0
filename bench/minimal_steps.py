"""Hand-written reference training steps, one function per model, for ``bench_step``.

Each is what someone would write by hand for one model on one table: the same layers
as the library's model (weights copied from a ``Trainer``, so both start equal), the
same likelihood formulas for the table's column types -- each type vectorised over its
columns, the columns' log-likelihoods summed without putting them back in table order
-- one loss, ``backward`` (DReG: one gradient call per parameter set), Adam. No
per-column gradients, no diagnostics, no finiteness checks, no bookkeeping.

Noise is drawn from the generator handed in, in the library's order (dropout masks,
then the Gumbel noise of HI-VAE's s, then z), so that with the same generator state a
minimal step and ``Trainer.step`` see the same numbers and must reach the same loss;
``tests/core/test_minimal_steps.py`` checks that they do, which is what makes the
minimal step a fair reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from core.likelihoods import (
    MIN_RATE,
    MIN_SCALE,
    BinaryLikelihood,
    CategoricalLikelihood,
    CountLikelihood,
    OrdinalLikelihood,
    PositiveLikelihood,
    RealLikelihood,
)
from core.trainer import Trainer

LOG_2PI = math.log(2 * math.pi)
SOFTPLUS_ONE = math.log(math.expm1(1.0))  # softplus(r + this) is 1 at r = 0


@dataclass
class TypeColumns:
    """The columns of one likelihood type and the fitted statistics their formulas read."""

    kind: type
    n_columns: int
    width: int  # outputs per column, padded to the widest (a narrower column repeats its first output)
    stats: tuple[Tensor, ...]  # one value per column each
    valid: Tensor | None  # (n, width) bool: which outputs are real classes (class types)


@dataclass
class TypeLayout:
    """Every type's columns, and the index tensors that gather them from a row in one go each."""

    groups: list[TypeColumns]
    output_order: Tensor  # decoder outputs, type by type
    column_order: Tensor  # table columns, type by type


def _type_layout(trainer: Trainer) -> TypeLayout:
    by_type: dict[type, list[int]] = {}
    for k, column in enumerate(trainer.likelihood.columns):
        by_type.setdefault(type(column), []).append(k)
    owner = trainer.likelihood.param_owner.cpu()
    device = trainer.device
    groups, output_order, column_order = [], [], []
    for kind, members in by_type.items():
        columns = [trainer.likelihood.columns[k] for k in members]
        starts = [int(torch.nonzero(owner == k)[0]) for k in members]
        widths = [int((owner == k).sum()) for k in members]
        width = max(widths)
        output_order += [s + (j if j < w else 0) for s, w in zip(starts, widths, strict=True) for j in range(width)]
        column_order += members
        if kind in (RealLikelihood, PositiveLikelihood):
            stats: tuple[Tensor, ...] = (
                torch.stack([c.center for c in columns]).float(),
                torch.stack([c.spread for c in columns]).float(),
            )
        elif kind is CountLikelihood:
            stats = (torch.stack([c.rate_scale for c in columns]).float(),)
        else:
            stats = ()
        valid = torch.arange(width) < torch.tensor(widths)[:, None]
        is_class = kind in (CategoricalLikelihood, OrdinalLikelihood)
        groups.append(
            TypeColumns(
                kind,
                len(members),
                width,
                tuple(s.to(device) for s in stats),
                valid.to(device) if is_class else None,
            )
        )
    return TypeLayout(groups, torch.tensor(output_order, device=device), torch.tensor(column_order, device=device))


def _type_log_lik(group: TypeColumns, raw: Tensor, x: Tensor) -> Tensor:
    """log p(x | raw) of the columns of one type: raw [..., n, width], x [..., n]."""
    kind = group.kind
    if kind in (RealLikelihood, PositiveLikelihood):
        center, spread = group.stats
        loc = center + spread * raw[..., 0]
        scale = spread * (F.softplus(raw[..., 1] + SOFTPLUS_ONE) + MIN_SCALE)
        value = x if kind is RealLikelihood else torch.log(x + 1)
        normal = -((value - loc) ** 2) / (2 * scale**2) - scale.log() - 0.5 * LOG_2PI
        return normal if kind is RealLikelihood else normal - value
    if kind is CountLikelihood:
        (rate_scale,) = group.stats
        # in float64: x log(rate) and lgamma(x + 1) cancel to a few nats for large counts
        rate = rate_scale * F.softplus(raw[..., 0].double() + SOFTPLUS_ONE) + MIN_RATE
        xd = x.double()
        return (xd.xlogy(rate) - rate - torch.lgamma(xd + 1)).float()
    if kind is BinaryLikelihood:
        logits = raw[..., 0]
        return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none")
    assert group.valid is not None
    classes = x.long().expand(raw.shape[:-1]).unsqueeze(-1)  # IWAE: the same class for every sample
    if kind is CategoricalLikelihood:
        logits = raw.masked_fill(~group.valid, -math.inf)
        return logits.gather(-1, classes).squeeze(-1) - torch.logsumexp(logits, -1)
    # ordinal: P(class c) = sigmoid(theta_c - mu) - sigmoid(theta_{c-1} - mu), theta = cumsum(softplus(raw[1:]))
    thresholds = torch.cumsum(F.softplus(raw[..., 1:]).masked_fill(~group.valid[:, 1:], math.inf), -1)
    edge = torch.full_like(raw[..., :1], math.inf)
    cuts = torch.cat([-edge, thresholds, edge], -1)
    lower, upper = cuts.gather(-1, classes).squeeze(-1), cuts.gather(-1, classes + 1).squeeze(-1)
    # log(1 - e^(lower - upper)) = logsigmoid of the class's raw width; 0 for the unbounded end classes
    widths = F.pad(F.logsigmoid(raw[..., 2:]), (1, 1))[..., : raw.shape[-1]]
    log_width = torch.where(lower.isinf() | upper.isinf(), 0.0, widths.gather(-1, classes).squeeze(-1))
    location = raw[..., 0]
    return log_width + F.logsigmoid(upper - location) + F.logsigmoid(location - lower)


class MinimalModel:
    """A copy of a Trainer's model as plain tensors, its table's type groups, and Adam."""

    def __init__(self, trainer: Trainer):
        self.name = trainer.config.model
        self.beta = trainer.config.beta
        self.dropout = trainer.config.dropout
        self.samples = trainer.config.importance_samples
        self.w = {n: p.detach().clone().requires_grad_(True) for n, p in trainer.model.named_parameters()}
        self.buffers = {n: b.detach().clone() for n, b in trainer.model.named_buffers()}
        self.n_layers = trainer.config.layers
        self.layout = _type_layout(trainer)
        self.inputs, self.mask, self.targets = trainer.inputs, trainer.model_mask, trainer.targets
        self.decoder = [p for n, p in self.w.items() if not n.startswith(("encoder.", "to_posterior", "to_mixture"))]
        self.encoder = [p for n, p in self.w.items() if n.startswith(("encoder.", "to_posterior", "to_mixture"))]
        self.optimizer = torch.optim.Adam(list(self.w.values()), lr=trainer.config.lr, **adam_implementation())

    def batch(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.inputs.index_select(0, rows), self.mask.index_select(0, rows), self.targets.index_select(0, rows)

    def linear(self, name: str, x: Tensor) -> Tensor:
        return F.linear(x, self.w[f"{name}.weight"], self.w.get(f"{name}.bias"))

    def encode(self, x: Tensor, m: Tensor, generator: torch.Generator) -> Tensor:
        h = torch.cat([x, m.float()], -1)
        for i in range(self.n_layers):
            h = self.linear(f"encoder.linears.{i}", h)
            norm = f"encoder.norms.{i}"
            h = F.batch_norm(
                h,
                self.buffers[f"{norm}.running_mean"],
                self.buffers[f"{norm}.running_var"],
                self.w[f"{norm}.weight"],
                self.w[f"{norm}.bias"],
                training=True,
            )
            h = torch.tanh(h)
            keep = torch.rand(h.shape, generator=generator, device=h.device) >= self.dropout
            h = h * keep / (1.0 - self.dropout)
        return h

    def trunk(self, z: Tensor) -> Tensor:
        for i in range(self.n_layers):
            z = torch.relu(self.linear(f"trunk.{2 * i}", z))
        return z

    def log_lik(self, outputs: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        """Sum over the columns of log p(x_k | outputs), observed cells only: [...] (outputs [..., P])."""
        layout = self.layout
        raws = outputs.index_select(-1, layout.output_order).split([g.n_columns * g.width for g in layout.groups], -1)
        sizes = [g.n_columns for g in layout.groups]
        xs = targets.index_select(-1, layout.column_order).split(sizes, -1)
        seens = mask.index_select(-1, layout.column_order).split(sizes, -1)
        total = outputs.new_zeros(())
        for g, raw, x, seen in zip(layout.groups, raws, xs, seens, strict=True):
            lp = _type_log_lik(g, raw.unflatten(-1, (g.n_columns, g.width)), x)
            total = total + (lp * seen).sum(-1)
        return total

    def step(self, rows: Tensor, generator: torch.Generator) -> Tensor:
        """One step on the rows ``rows``; returns the loss (the negative bound) as a tensor."""
        return STEPS[self.name](self, rows, generator)


def adam_implementation() -> dict[str, bool]:
    """The Adam implementation the Trainer uses (``foreach``: one call per operation over
    all tensors), so that the optimizer costs the same on both sides."""
    return {"foreach": True}


def _vae_step(m: MinimalModel, rows: Tensor, generator: torch.Generator) -> Tensor:
    x, seen, targets = m.batch(rows)
    mu, logvar = m.linear("to_posterior", m.encode(x, seen, generator)).chunk(2, -1)
    logvar = logvar.clamp(-12.0, 8.0)
    z = mu + torch.randn(mu.shape, generator=generator, device=mu.device) * torch.exp(0.5 * logvar)
    outputs = m.linear("head", m.trunk(z))
    kl = 0.5 * (logvar.exp() + mu**2 - 1.0 - logvar).sum(-1)
    loss = -m.log_lik(outputs, targets, seen).mean() + m.beta * kl.mean()
    m.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    m.optimizer.step()
    return loss.detach()


def _importance_terms(
    m: MinimalModel, rows: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """log p(x|z_s), z_s, mu, logvar, and log p(z_s): S x B each (z: S x B x L)."""
    x, seen, targets = m.batch(rows)
    mu, logvar = m.linear("to_posterior", m.encode(x, seen, generator)).chunk(2, -1)
    logvar = logvar.clamp(-12.0, 8.0)
    z = mu + torch.randn((m.samples, *mu.shape), generator=generator, device=mu.device) * torch.exp(0.5 * logvar)
    log_lik = m.log_lik(m.linear("head", m.trunk(z)), targets, seen)
    log_prior = -0.5 * (z**2 + LOG_2PI).sum(-1)
    return log_lik, z, mu, logvar, log_prior


def _log_q(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    return -0.5 * (((z - mu) ** 2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(-1)


def _iwae_step(m: MinimalModel, rows: Tensor, generator: torch.Generator) -> Tensor:
    log_lik, z, mu, logvar, log_prior = _importance_terms(m, rows, generator)
    log_w = log_lik + m.beta * (log_prior - _log_q(z, mu, logvar))
    loss = -(torch.logsumexp(log_w, 0) - math.log(m.samples)).mean()
    m.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    m.optimizer.step()
    return loss.detach()


def _dreg_step(m: MinimalModel, rows: Tensor, generator: torch.Generator) -> Tensor:
    log_lik, z, mu, logvar, log_prior = _importance_terms(m, rows, generator)
    log_w = log_lik + m.beta * (log_prior - _log_q(z, mu, logvar))
    weights = torch.softmax(log_w.detach(), 0)
    # decoder: the IWAE gradient; encoder: through z only, squared weights, q's parameters held fixed
    decoder_loss = -(weights * log_lik).sum(0).mean()
    encoder_loss = -(weights**2 * (log_lik + m.beta * (log_prior - _log_q(z, mu.detach(), logvar.detach())))).sum(0)
    decoder_grads = torch.autograd.grad(decoder_loss, m.decoder, retain_graph=True)
    encoder_grads = torch.autograd.grad(encoder_loss.mean(), m.encoder)
    for p, g in zip(m.decoder + m.encoder, decoder_grads + encoder_grads, strict=True):
        p.grad = g
    m.optimizer.step()
    return -(torch.logsumexp(log_w.detach(), 0) - math.log(m.samples)).mean()


def _hivae_step(m: MinimalModel, rows: Tensor, generator: torch.Generator) -> Tensor:
    x, seen, targets = m.batch(rows)
    h = m.encode(x, seen, generator)
    logits = m.linear("to_mixture_logits", h)
    u = torch.rand(logits.shape, generator=generator, device=logits.device).clamp(1e-10, 1 - 1e-10)
    s = torch.softmax(logits - torch.log(-torch.log(u)), -1)  # Gumbel-softmax, temperature 1
    mu, logvar = m.linear("to_posterior", torch.cat([h, s], -1)).chunk(2, -1)
    logvar = logvar.clamp(-12.0, 8.0)
    z = mu + torch.randn(mu.shape, generator=generator, device=mu.device) * torch.exp(0.5 * logvar)
    head = F.linear(m.linear("to_y", z), m.w["head_y.weight"] * m.buffers["head_mask"], m.w["head_y.bias"])
    outputs = head + m.linear("head_s", s)
    log_q_s = torch.log_softmax(logits, -1)
    kl_s = (log_q_s.exp() * (log_q_s + math.log(logits.shape[-1]))).sum(-1)
    kl_z = 0.5 * (logvar.exp() + (mu - m.linear("prior_means", s)) ** 2 - 1.0 - logvar).sum(-1)
    loss = -m.log_lik(outputs, targets, seen).mean() + m.beta * (kl_s + kl_z).mean()
    m.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    m.optimizer.step()
    return loss.detach()


STEPS: dict[str, Callable[[MinimalModel, Tensor, torch.Generator], Tensor]] = {
    "vae": _vae_step,
    "iwae": _iwae_step,
    "dreg": _dreg_step,
    "hivae": _hivae_step,
}
