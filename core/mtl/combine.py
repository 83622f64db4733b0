"""One training step's combination: check the gradients, combine, rescale.

As in the paper, the combined direction is rescaled to the norm of the plain sum of the
column gradients, so a method changes where the step goes, not how long it is. The
weights are scaled alike, so weights @ grads == direction still holds where it did.
"""

from __future__ import annotations

import torch
from torch import Tensor

from core.errors import TrainingError
from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.system import GradientRows, as_rows


def combine_gradients(
    method: Method, grads: Tensor | GradientRows, losses: Tensor, rescale: bool = True, gramian: Tensor | None = None
) -> Combination:
    """grads: K x d per-column gradients, a tensor or implicit rows (``GradientRows``);
    losses: (K,); gramian: their float64 Gramian, if known (it is computed otherwise).

    A non-finite gradient or loss raises TrainingError before the method sees it, so a
    stateful method's state is not poisoned.
    """
    if isinstance(grads, Tensor) and not (grads.ndim == 2 and losses.shape == grads.shape[:1]):
        return method.combine(grads, losses, gramian)  # the method says what is wrong
    rows = as_rows(grads)
    if isinstance(grads, Tensor):
        _check_finite(torch.isfinite(grads).all(dim=1), "gradient")
    else:
        # A row holding an inf or NaN has an inf or NaN squared norm: checking K numbers
        # instead of K x d.
        gramian = rows.gramian() if gramian is None else gramian
        _check_finite(torch.isfinite(gramian.diagonal()), "gradient")
    _check_finite(torch.isfinite(losses), "loss")
    combination = method.combine(rows, losses, gramian)
    if not rescale:
        return combination
    target = rows.mix(torch.ones(rows.shape[0], dtype=rows.dtype, device=rows.device)).norm()
    size = combination.direction.norm()
    # A zero direction (nothing to move along, e.g. Pareto-stationary) stays zero.
    if size == 0:
        return combination
    factor = target / size
    return Combination(combination.direction * factor, combination.weights * factor, combination.converged)


def _check_finite(finite: Tensor, what: str) -> None:
    if not finite.all():
        column = int((~finite).nonzero().flatten()[0])
        raise TrainingError(f"the {what} of column {column} is not finite; the step cannot be combined")
