"""A vector of learnable per-column values with its own Adam optimiser.

GradNorm and uncertainty weighting learn their weights beside the model, with their own
Adam (lr 1e-3 in the paper); the model's optimiser never sees them.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor


class AdamVector:
    def __init__(self, initial: Tensor, lr: float):
        self.values = initial.detach().clone().to(torch.float64).requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.values], lr=lr)

    def step(self, gradient: Tensor) -> None:
        """One Adam step along the given gradient of the values' own objective."""
        self.values.grad = gradient.to(torch.float64)
        self.optimizer.step()
        self.values.grad = None

    def state_dict(self) -> dict:
        # Adam's state_dict shares its moment tensors with the optimiser, which steps them in
        # place: cloned here (a deep copy of the whole dict costs several times more, every step).
        adam = self.optimizer.state_dict()
        moments = {
            index: {name: value.clone() if isinstance(value, Tensor) else value for name, value in state.items()}
            for index, state in adam["state"].items()
        }
        groups = [{**group, "params": list(group["params"])} for group in adam["param_groups"]]
        return {"values": self.values.detach().clone(), "adam": {"state": moments, "param_groups": groups}}

    @staticmethod
    def from_state_dict(state: dict, lr: float) -> AdamVector:
        vector = AdamVector(state["values"], lr)
        vector.optimizer.load_state_dict(copy.deepcopy(state["adam"]))
        return vector
