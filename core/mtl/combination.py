"""What a multi-task method returns: the combined gradient and the weights it implies."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class Combination:
    """``direction`` (d,) is the combined gradient; ``weights`` (K,) the per-column weights.

    For weighting methods the weights are the ones used, and ``weights @ grads`` equals
    ``direction``. Projection methods report the coefficients of their result on the
    original rows: exact where the result is a linear combination of them (PCGrad,
    GradVac), a least-squares fit otherwise (GradDrop); ``Method.exact_weights`` says which.

    ``converged`` is False when an iterative solver (MGDA-UB's active set, CAGrad's
    Frank-Wolfe, Nash-MTL's Newton steps, UPGrad's NNLS) stopped at its iteration cap
    before meeting its stopping test: the result is its last iterate, usable but not the
    method's exact solution. ``Method.combine`` warns the first time this happens.
    """

    direction: Tensor
    weights: Tensor
    converged: bool = True
