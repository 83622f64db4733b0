"""The method instances of one training run: one per (objective, shared representation).

Each instance has its own seeded random stream, so that a stateful method's state
(GradNorm's weights, Nash-MTL's last solution) and a random method's draws (PCGrad's
order, GradDrop's signs) never mix between objectives or representations, and the
same seed gives the same draws whatever else runs.
"""

from __future__ import annotations

from typing import Any

import torch

from core.mtl import Method, make_method

MethodStates = list[list[dict[str, Any]]]
GeneratorStates = list[list[torch.Tensor]]


class MethodInstances:
    """``rows[j][r]``: the instance for objective j at shared representation r."""

    def __init__(self, spec: str, n_objectives: int, n_shared: int, seed: int, options: dict[str, Any]):
        self.spec = spec
        self.rows: list[list[Method]] = []
        self.generators: list[list[torch.Generator]] = []
        for j in range(n_objectives):
            generators = [torch.Generator().manual_seed(seed * 1000 + 10 * j + r + 2) for r in range(n_shared)]
            self.rows.append([make_method(spec, generator=g, **options) for g in generators])
            self.generators.append(generators)

    def state(self) -> tuple[MethodStates, GeneratorStates]:
        """Every instance's state and its generator's, as a checkpoint stores them."""
        return (
            [[m.state_dict() for m in row] for row in self.rows],
            [[g.get_state() for g in row] for row in self.generators],
        )

    def load(self, states: MethodStates, generator_states: GeneratorStates) -> None:
        for row, generators, row_states, row_generator_states in zip(
            self.rows, self.generators, states, generator_states, strict=True
        ):
            for method, generator, state, generator_state in zip(
                row, generators, row_states, row_generator_states, strict=True
            ):
                method.load_state_dict(state)
                generator.set_state(generator_state)
