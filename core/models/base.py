"""What every model of the family hands to the per-column gradient engine.

A model's forward pass for training returns a ``TaskForward``: the decoder outputs
(the likelihood parameters of every column), the shared representations the outputs
are *linear* in, and one or more objectives, each a vector of per-column losses plus
a latent term. The engine needs the linearity: with ``outputs = cut @ weight.T + b``,
the gradient of column k's loss at the shared representation is
``d_outputs[:, cols_k] @ weight[cols_k]`` -- one backward pass to the outputs and a
batched product, instead of K backward passes.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from core.likelihoods import TableLikelihood
from core.models.layers import EncoderNet, relu_mlp


@dataclass(frozen=True)
class ModelOption:
    """A whole-number setting that a model reads beyond the ones every model shares.

    ``name`` is both the model's constructor keyword and the ``TrainConfig`` field that
    holds its value and default, so the value is saved with a run, set apart in
    comparisons, and given a command-line flag (``--name-with-dashes``).
    """

    name: str
    help: str  # one line, for the command line's --help
    minimum: int = 1

    def problem(self, value: object) -> str | None:
        """Why ``value`` will not do, or None."""
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= self.minimum:
            return None
        return f"{self.name.replace('_', ' ')} must be at least {self.minimum}"


@dataclass
class SharedRepresentation:
    """A shared layer where column gradients meet.

    ``source`` is the representation inside the graph (it leads back to the trunk and
    the encoder); ``cut`` is a detached leaf copy from which ``outputs`` were computed,
    so that the heads' backward pass stops there; ``weight`` (P x dim) is the matrix
    through which ``outputs`` depend on ``cut``.
    """

    name: str
    source: torch.Tensor
    cut: torch.Tensor
    weight: torch.Tensor


@dataclass
class Objective:
    """Per-column losses (their gradient reaches the model only through ``outputs``)
    and the latent part of the objective (no path through ``outputs``).

    ``params``: which parameters this objective trains (``None``: all of them).
    ``trains_heads``: whether the heads get this objective's ordinary gradient.
    """

    name: str
    column_losses: torch.Tensor
    latent_loss: torch.Tensor
    params: list[nn.Parameter] | None = None
    trains_heads: bool = True


@dataclass
class TaskForward:
    outputs: torch.Tensor
    shared: list[SharedRepresentation]
    objectives: list[Objective]
    loss: torch.Tensor  # the objective's value (negative bound), for reporting
    kl: torch.Tensor  # the KL part of it, for reporting
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Batch:
    inputs: torch.Tensor  # B x D, zero where missing
    mask: torch.Tensor  # B x K bool, True = seen by the model
    targets: torch.Tensor  # B x K


class TabularVAE(nn.Module):
    """Shared skeleton: encoder over [inputs, mask] -> Gaussian q(z|x); ReLU trunk -> y;
    one linear output layer whose slices are the per-column heads.

    A model declares itself: ``NAME`` (its registry key), ``DESCRIPTION`` (one line for
    menus and --help) and ``OPTIONS``, the settings of its own that its constructor
    takes as keywords after the shared ones.
    """

    NAME: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    OPTIONS: ClassVar[tuple[ModelOption, ...]] = ()
    OBJECTIVES: ClassVar[tuple[str, ...]] = ("elbo",)  # names of the objectives forward_tasks returns
    SHARED: ClassVar[tuple[str, ...]] = ("y",)  # names of its shared representations

    def __init__(
        self,
        likelihood: TableLikelihood,
        input_dim: int,
        n_features: int,
        latent: int,
        hidden: int,
        layers: int,
        dropout: float = 0.1,
        beta: float = 1.0,
    ):
        super().__init__()
        self.likelihood = likelihood
        self.n_features = n_features
        self.latent = latent
        self.beta = beta
        self.encoder = EncoderNet(input_dim + n_features, hidden, layers, dropout)
        self.to_posterior = nn.Linear(self.encoder.out_dim, 2 * latent)
        self.build_decoder(latent, hidden, layers)

    def build_decoder(self, latent: int, hidden: int, layers: int) -> None:
        self.trunk = relu_mlp(latent, hidden, layers)
        self.head = nn.Linear(hidden if layers > 0 else latent, self.likelihood.n_params)

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters()) + list(self.to_posterior.parameters())

    def head_parameters(self) -> list[nn.Parameter]:
        """The per-column heads: parameters above the shared representations."""
        return list(self.head.parameters())

    def decoder_parameters(self) -> list[nn.Parameter]:
        enc = {id(p) for p in self.encoder_parameters()}
        return [p for p in self.parameters() if id(p) not in enc]

    def posterior(self, batch: Batch, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.cat([batch.inputs, batch.mask.to(batch.inputs.dtype)], -1), generator)
        mu, logvar = self.to_posterior(h).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode_cut(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Trunk output y, its detached copy, and the outputs computed from the copy."""
        y = self.trunk(z)
        y_cut = y.detach().requires_grad_(True)
        return y, y_cut, self.head(y_cut)

    @torch.no_grad()
    def reconstruct(self, batch: Batch) -> torch.Tensor:
        """Likelihood parameters from the mean of q(z|x) (the paper's evaluation)."""
        mu, _ = self.posterior(batch)
        return self.head(self.trunk(mu))

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.latent, generator=generator)
        return self.head(self.trunk(z))

    def forward_tasks(self, batch: Batch, generator: torch.Generator | None = None) -> TaskForward:
        raise NotImplementedError
