"""The gradient system one combination step works on: K per-column gradients and their Gramian.

Most methods need only the K x K Gramian M = G G^T, not the K x d gradients. It is
computed once per step, in float64 whatever the gradients' dtype: products of float32
numbers are exact in float64, so the Gramian's rounding stays near 1e-16 relative and the
rank decisions in ``core.mtl.linalg`` can tell real rank deficiency from noise.

The gradients themselves may be implicit (``GradientRows``): the engine knows them as
d_outputs and a head weight, so it can mix them (``weights @ G``), project a direction on
them (``G @ d``) and give their Gramian without forming the K x d matrix. Methods that need
the rows (GradDrop) ask for ``grads`` and the rows are formed then, once.

A row that is zero (exactly, below what the dtype can square, or below the dtype's
resolution beside the largest row) is a column with nothing observed in the batch or a
vanished gradient: it is not a task at this step, and the methods that solve for weights
leave it out (``active``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from core.errors import DataError
from core.mtl.combination import Combination
from core.mtl.linalg import cosine_matrix, filtered_pinv


class GradientRows(Protocol):
    """A K x d matrix of per-column gradients, possibly never formed."""

    shape: torch.Size
    dtype: torch.dtype
    device: torch.device

    def rows(self) -> Tensor: ...  # the K x d matrix

    def mix(self, weights: Tensor) -> Tensor: ...  # weights @ rows, (d,)

    def dot(self, direction: Tensor) -> Tensor: ...  # rows @ direction, (K,)

    def gramian(self) -> Tensor: ...  # rows @ rows.T in float64, exactly symmetric


class DenseRows:
    """GradientRows over an explicit K x d tensor."""

    def __init__(self, grads: Tensor):
        self.grads = grads.detach()
        self.shape, self.dtype, self.device = self.grads.shape, self.grads.dtype, self.grads.device
        self._gramian: Tensor | None = None

    def rows(self) -> Tensor:
        return self.grads

    def mix(self, weights: Tensor) -> Tensor:
        return weights.to(self.dtype) @ self.grads

    def dot(self, direction: Tensor) -> Tensor:
        return self.grads @ direction.to(self.dtype)

    def gramian(self) -> Tensor:
        if self._gramian is None:
            rows = self.grads.double()
            gramian = rows @ rows.T
            self._gramian = (gramian + gramian.T) / 2
        return self._gramian


class ScaledRows:
    """Row k of ``base`` times factors[k], still implicit if ``base`` is."""

    def __init__(self, base: GradientRows, factors: Tensor):
        self.base, self.factors = base, factors.to(device=base.device, dtype=base.dtype)
        self.shape, self.dtype, self.device = base.shape, base.dtype, base.device

    def rows(self) -> Tensor:
        return self.base.rows() * self.factors[:, None]

    def mix(self, weights: Tensor) -> Tensor:
        return self.base.mix(weights.to(self.dtype) * self.factors)

    def dot(self, direction: Tensor) -> Tensor:
        return self.base.dot(direction) * self.factors

    def gramian(self) -> Tensor:
        f = self.factors.double()
        return self.base.gramian() * f[:, None] * f[None, :]


def as_rows(grads: Tensor | GradientRows) -> GradientRows:
    if not isinstance(grads, Tensor):
        return grads
    if grads.ndim != 2:
        raise DataError(f"per-column gradients must be a K x d matrix, got shape {tuple(grads.shape)}")
    if not grads.is_floating_point():
        raise DataError(f"per-column gradients must be floating point, got {grads.dtype}")
    return DenseRows(grads)


def active_rows(norms: Tensor, dtype: torch.dtype) -> Tensor:
    """Which rows of norms ``norms`` (K, or R x K for R systems) are tasks at this step, for
    rows of ``dtype``. Not those whose norm is

    - below the square root of the dtype's smallest normal number (1e-19 in float32): their
      squares underflow, and solving for a weight on them divides by the norm and overflows
      (a float32 row of norm 1e-41 did, in training);
    - at most the dtype's epsilon times the largest row's (1.2e-7 in float32): such a row
      changes no digit of the plain sum that the dtype holds, yet the methods that weigh
      unit gradients (IMTL-G, Aligned-MTL, Nash-MTL, UPGrad, NSGD) give it the share of
      any other column. A fitted binary column has such a gradient (its logits saturated:
      Wine's colour, 1e-20 to 1e-15 beside 0.02-0.16); weighted up to 3e15 by Aligned-MTL,
      it steered the trunk into pushing logits already at zero loss, and VAE on Wine with
      IMTL-G or Aligned-MTL, seed 0, went from a validation error of 0.11 at epoch 60 to
      0.27-0.29 at 200 (0.109 and 0.104 with the cut; README, "A vanished column").
    """
    finfo = torch.finfo(dtype)
    if norms.shape[-1] == 0:
        return norms > 0
    largest = norms.amax(dim=-1, keepdim=True)
    return (norms > math.sqrt(finfo.tiny)) & (norms > finfo.eps * largest)


class GradientSystem:
    def __init__(self, grads: Tensor | GradientRows, gramian: Tensor | None = None):
        self.source = as_rows(grads)
        self._gramian = gramian
        self._grads: Tensor | None = None

    @property
    def n_tasks(self) -> int:
        return self.source.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.source.dtype

    @property
    def device(self) -> torch.device:
        return self.source.device

    @property
    def grads(self) -> Tensor:
        """The K x d rows, formed on first use."""
        if self._grads is None:
            self._grads = self.source.rows().detach()
        return self._grads

    @property
    def gramian(self) -> Tensor:
        """M = G G^T, K x K, float64, exactly symmetric, on the gradients' device."""
        if self._gramian is None:
            self._gramian = self.source.gramian()
        return self._gramian

    @property
    def norms(self) -> Tensor:
        """Row norms, float64, from the Gramian's diagonal."""
        return self.gramian.diagonal().clamp_min(0).sqrt()

    @property
    def active(self) -> Tensor:
        """Rows that are not numerically zero (bool, K): ``active_rows`` of the norms."""
        return active_rows(self.norms, self.dtype)

    def scaled(self, factors: Tensor) -> GradientSystem:
        """The system with row k multiplied by factors[k]; its Gramian follows from ours if known."""
        factors64 = factors.to(device=self.device, dtype=torch.float64)
        gramian = None
        if self._gramian is not None:
            gramian = self._gramian * factors64[:, None] * factors64[None, :]
        return GradientSystem(ScaledRows(self.source, factors64.to(self.dtype)), gramian)

    def least_squares_weights(self, direction: Tensor) -> Tensor:
        """w = M^+ G d: the coefficients of d's projection on the span of the rows, with
        M^+ = D^-1 C^+ D^-1 (D the norms, C^+ ``linalg.filtered_pinv``): nearly dependent rows
        share a coefficient as exactly dependent ones do, instead of taking huge opposite
        ones; zero rows get 0."""
        weights = torch.zeros(self.n_tasks, dtype=torch.float64, device=self.device)
        active = self.active
        if active.any():
            cosines, norms = cosine_matrix(self.gramian[active][:, active])
            along = self.source.dot(direction).double()[active] / norms
            weights[active] = filtered_pinv(cosines) @ along / norms
        return weights.to(self.dtype)

    def combination(self, weights: Tensor) -> Combination:
        """The Combination whose direction is exactly ``weights @ grads``."""
        weights = weights.to(device=self.device, dtype=self.dtype)
        return Combination(direction=self.source.mix(weights), weights=weights)

    def solved_on_active(self, solve: Callable[[np.ndarray], tuple[np.ndarray, bool]]) -> Combination:
        """The Combination of weights that ``solve`` finds from the active rows' Gramian (float64, on
        the CPU) and whether it converged; inactive rows get weight 0."""
        weights = torch.zeros(self.n_tasks, dtype=torch.float64)
        active = self.active.cpu()
        converged = True
        if active.any():
            solved, converged = solve(self.gramian.cpu()[active][:, active].numpy())
            weights[active] = torch.from_numpy(solved)
        combination = self.combination(weights)
        combination.converged = converged
        return combination
