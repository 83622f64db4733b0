"""The paper's "multi-objective cocktail": a weighting method, then a projection method.

The weighting method's weights scale the rows; the projection method runs on the scaled
rows. Since the projection's coefficients apply to the scaled rows, the weights on the
original rows are their product with the first weights when the projection's are exact;
otherwise (GradDrop) they are the least-squares fit of the direction by the original rows.
"""

from __future__ import annotations

from torch import Tensor

from core.mtl.base import Method
from core.mtl.combination import Combination
from core.mtl.system import GradientSystem


class Cocktail(Method):
    def __init__(self, weighting: Method, projection: Method):
        self.weighting = weighting
        self.projection = projection
        self.name = f"{weighting.name}+{projection.name}"
        self.description = f"{weighting.name} weights, then {projection.name} on the weighted gradients"
        self.kind = weighting.kind
        self.exact_weights = weighting.exact_weights and projection.exact_weights

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        first = self.weighting.combine_system(system, losses)
        second = self.projection.combine_system(system.scaled(first.weights), losses)
        converged = first.converged and second.converged
        if self.exact_weights:
            return Combination(second.direction, first.weights * second.weights, converged)
        return Combination(second.direction, system.least_squares_weights(second.direction), converged)

    def state_dict(self) -> dict:
        parts = {"weighting": self.weighting.state_dict(), "projection": self.projection.state_dict()}
        return {part: state for part, state in parts.items() if state}

    def load_state_dict(self, state: dict) -> None:
        self.weighting.load_state_dict(state.get("weighting", {}))
        self.projection.load_state_dict(state.get("projection", {}))
