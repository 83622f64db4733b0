"""Where synthetic rows come from: latent codes, drawn from the prior or from the aggregate posterior.

A VAE's prior N(0, I) and the codes its encoder actually gives the training rows (the
aggregate posterior, the average of q(z|x) over the rows) differ: some regions of the prior
hold no row's code, and the decoder turns codes from there into rows unlike any real one.
Two samplers:

- ``prior``: z ~ p(z), the model's own prior (``generate``);
- ``mixture``: z from a Gaussian mixture matched to the aggregate posterior. The mixture is
  fitted by EM to the training rows' posterior means (diagonal covariances; the number of
  components picked by the log-likelihood of the validation rows' means), then each
  component's variance is widened by the posterior variance of the rows it holds, so that
  the mixture approximates the sum of the rows' q(z|x), not just their centres. HI-VAE has a
  mixture in its latent already: there each of its components s gets one Gaussian,
  moment-matched to the codes of the rows whose most likely component is s.

Decoded parameters become values by sampling each column's likelihood. Numerical values are
then clipped into the range of the training values, as SDV's synthesizers do by default: a
heavy-tailed likelihood (a LogNormal with a wide scale) otherwise draws a few values orders of
magnitude beyond any real one. Without known ranges, positive columns are still clipped at
0, where the likelihood's shifted support (x > -1) reaches below the type's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F

from core.encoding import TableEncoder
from core.errors import DataError, TrainingError
from core.likelihoods import TableLikelihood
from core.models import HIVAE, Batch, TabularVAE
from core.schema import ColumnType

SAMPLERS = ("prior", "mixture")
MIXTURE_SIZES = (1, 2, 5, 10, 20, 40)  # numbers of components tried
MIN_ROWS_PER_COMPONENT = 10
EM_ITERATIONS = 300
EM_TOLERANCE = 1e-7  # stop when the mean log-likelihood per point gains less than this
_VARIANCE_FLOOR = 1e-6  # relative to each dimension's spread: keeps a component from collapsing


@dataclass(frozen=True)
class GaussianMixture:
    """A diagonal Gaussian mixture over latent codes; ``labels``: HI-VAE's component s of each, else None."""

    weights: torch.Tensor  # (M,)
    means: torch.Tensor  # (M, L)
    variances: torch.Tensor  # (M, L)
    labels: torch.Tensor | None = None  # (M,) long

    def log_density(self, points: torch.Tensor) -> torch.Tensor:
        """log p(x) of each of ``points`` (N x L)."""
        return torch.logsumexp(_component_log_densities(points, self.weights, self.means, self.variances), -1)

    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` codes and the component each came from."""
        component = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        noise = torch.randn(n, self.means.shape[1], generator=generator, dtype=self.means.dtype)
        return self.means[component] + noise * self.variances[component].sqrt(), component

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {"weights": self.weights, "means": self.means, "variances": self.variances}
        return state if self.labels is None else {**state, "labels": self.labels}

    @staticmethod
    def from_state_dict(state: dict[str, torch.Tensor]) -> GaussianMixture:
        return GaussianMixture(state["weights"], state["means"], state["variances"], state.get("labels"))


def fit_mixture(points: torch.Tensor, n_components: int, generator: torch.Generator) -> GaussianMixture:
    """EM for a diagonal Gaussian mixture of ``n_components`` over ``points`` (N x L), float64."""
    x = points.double()
    n, _ = x.shape
    floor = _VARIANCE_FLOOR * x.var(0, correction=0).clamp(min=1e-12)
    means = x[_spread_out_seeds(x, n_components, generator)]
    variances = x.var(0, correction=0).clamp(min=1e-12).expand_as(means).clone()
    weights = torch.full((n_components,), 1.0 / n_components, dtype=x.dtype)
    previous = -math.inf
    for _ in range(EM_ITERATIONS):
        log_joint = _component_log_densities(x, weights, means, variances)
        log_total = torch.logsumexp(log_joint, -1, keepdim=True)
        responsibilities = torch.exp(log_joint - log_total)
        counts = responsibilities.sum(0) + 1e-12
        weights = counts / n
        means = (responsibilities.T @ x) / counts[:, None]
        variances = ((responsibilities.T @ (x * x)) / counts[:, None] - means**2).clamp(min=0) + floor
        current = float(log_total.mean())
        if current - previous < EM_TOLERANCE:
            break
        previous = current
    return GaussianMixture(weights, means, variances)


def _spread_out_seeds(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding: each next seed drawn with probability proportional to its squared distance."""
    chosen = [int(torch.randint(len(x), (1,), generator=generator))]
    distance = ((x - x[chosen[0]]) ** 2).sum(-1)
    for _ in range(1, k):
        total = float(distance.sum())
        if total <= 0:  # fewer distinct points than components
            chosen.append(int(torch.randint(len(x), (1,), generator=generator)))
            continue
        pick = int(torch.multinomial(distance / total, 1, generator=generator))
        chosen.append(pick)
        distance = torch.minimum(distance, ((x - x[pick]) ** 2).sum(-1))
    return torch.tensor(chosen)


def _component_log_densities(
    x: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, variances: torch.Tensor
) -> torch.Tensor:
    """N x M: log w_m + log N(x_n; mean_m, diag(variance_m))."""
    squared = ((x[:, None, :] - means[None]) ** 2 / variances[None]).sum(-1)
    log_norm = variances.log().sum(-1) + means.shape[1] * math.log(2 * math.pi)
    return weights.log()[None] - 0.5 * (squared + log_norm[None])


# --- the network's side -------------------------------------------------------------


@torch.no_grad()
def posterior_codes(model: TabularVAE, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Posterior means, posterior variances and (HI-VAE) the most likely component of each row."""
    model.eval()
    try:
        if isinstance(model, HIVAE):
            logits, _, mu, logvar = model._posterior(batch, None, hard=True)
            return mu, logvar.exp(), logits.argmax(-1)
        mu, logvar = model.posterior(batch)
        return mu, logvar.exp(), None
    finally:
        model.train()


@torch.no_grad()
def decode_codes(model: TabularVAE, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Likelihood parameters from latent codes (and, for HI-VAE, their components)."""
    model.eval()
    try:
        if isinstance(model, HIVAE):
            if labels is None:
                raise ValueError("HI-VAE codes need their mixture components")
            return model._outputs(z, F.one_hot(labels, model.mixture).to(z.dtype))
        return model.head(model.trunk(z))
    finally:
        model.train()


def fit_posterior_mixture(
    model: TabularVAE, train: Batch, validation: Batch | None, seed: int, sizes: Sequence[int] = MIXTURE_SIZES
) -> GaussianMixture:
    """The mixture sampler for ``model``, matched to the posterior codes of the ``train`` rows;
    its number of components is the one of ``sizes`` that fits the ``validation`` rows' codes best."""
    mu, variance, labels = posterior_codes(model, train)
    mu, variance = mu.double().cpu(), variance.double().cpu()
    if labels is not None:
        return _per_component_mixture(mu, variance, labels.cpu())
    generator = torch.Generator().manual_seed(seed)
    usable = [m for m in sizes if m == 1 or m * MIN_ROWS_PER_COMPONENT <= len(mu)] or [1]
    held_out = mu if validation is None else posterior_codes(model, validation)[0].double().cpu()
    fits = [fit_mixture(mu, m, generator) for m in usable]
    best = max(fits, key=lambda fit: float(fit.log_density(held_out).mean()))
    return _widened(best, mu, variance)


def _widened(mixture: GaussianMixture, mu: torch.Tensor, variance: torch.Tensor) -> GaussianMixture:
    """Each component's variance plus the mean posterior variance of the rows it is responsible for."""
    log_joint = _component_log_densities(mu, mixture.weights, mixture.means, mixture.variances)
    responsibilities = torch.softmax(log_joint, -1)
    extra = (responsibilities.T @ variance) / (responsibilities.sum(0)[:, None] + 1e-12)
    return GaussianMixture(mixture.weights, mixture.means, mixture.variances + extra)


def _per_component_mixture(mu: torch.Tensor, variance: torch.Tensor, labels: torch.Tensor) -> GaussianMixture:
    present = torch.unique(labels)
    weights, means, variances = [], [], []
    for s in present:
        rows = labels == s
        weights.append(rows.double().mean())
        means.append(mu[rows].mean(0))
        variances.append(mu[rows].var(0, correction=0) + variance[rows].mean(0) + _VARIANCE_FLOOR)
    return GaussianMixture(torch.stack(weights), torch.stack(means), torch.stack(variances), present.long())


# --- rows ---------------------------------------------------------------------------


@torch.no_grad()
def sample_rows(
    model: TabularVAE,
    likelihood: TableLikelihood,
    encoder: TableEncoder,
    n: int,
    seed: int,
    mixture: GaussianMixture | None,
    bounds: torch.Tensor | None = None,
) -> pd.DataFrame:
    """``n`` synthetic rows in original units and labels: codes from ``mixture`` (None: the prior);
    ``bounds`` (K x 2: lowest, highest training value) clip the numerical columns."""
    if n < 1:
        raise DataError(f"the number of rows to sample must be at least 1, got {n}")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    if mixture is None:
        model.eval()
        params = model.generate(n, generator).to(device)
        model.train()
    else:
        z, component = mixture.draw(n, generator)
        labels = None if mixture.labels is None else mixture.labels[component].to(device)
        params = decode_codes(model, z.float().to(device), labels)
    check_finite(params)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        values = likelihood.sample(params).cpu()
    for j, column in enumerate(encoder.features):
        if bounds is not None and column.type.is_numerical:
            values[:, j].clamp_(min=float(bounds[j, 0]), max=float(bounds[j, 1]))
        elif column.type is ColumnType.POSITIVE:
            values[:, j].clamp_(min=0.0)
    return encoder.decode(values)


def check_finite(params: torch.Tensor) -> None:
    """TrainingError unless every decoded parameter is a finite number (a diverged model's are not)."""
    if not bool(torch.isfinite(params).all()):
        raise TrainingError(
            "the model's outputs are not finite numbers (its training diverged); "
            "train it again with a lower learning rate"
        )
