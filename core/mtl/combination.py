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
    """

    direction: Tensor
    weights: Tensor
