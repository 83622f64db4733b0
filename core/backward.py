"""The backward pass of one training step: the column gradients combined by the step's
methods and sent into ``.grad``, in one of three ways.

- ``plain_backward``: every method is the plain sum. Its combined direction at a shared
  representation is the sum of the column gradients there, ``d_outputs @ W`` -- what the
  method would return, its rescaling a factor of exactly 1 -- so no method is called and
  no Gramian is formed.
- ``combined_backward``: each objective's column gradients at each shared representation
  combined by that pair's method (``core.mtl.combine_gradients``), then one backward pass.
- ``parameter_space_backward``: the column gradients over the shared parameters
  themselves, combined, and written into ``.grad``.

Each returns what the step's diagnostics describe: the first objective's column
gradients at its first shared representation, the direction and the weights applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from core.gradients import (
    ColumnLayout,
    ColumnRows,
    ObjectiveGradients,
    backward_combined,
    backward_parameter_space,
    column_gradients,
    parameter_space_gradients,
)
from core.models import TaskForward
from core.mtl import Method, combine_gradients
from core.mtl.system import DenseRows, GradientRows


@dataclass
class FirstCombination:
    """The combination the step's record describes (first objective, first representation)."""

    rows: GradientRows
    direction: Tensor
    weights: Tensor
    # False when any of the step's combinations (every objective and representation) came from a
    # solver stopped at its iteration cap
    converged: bool = True


def _record_rows(rows: ColumnRows) -> ColumnRows:
    """``rows`` with a copy of its head weight: the optimizer updates that weight in place,
    and the step's diagnostics are of the gradients before the update."""
    rows.weight = rows.weight.clone()
    return rows


def plain_backward(
    forward: TaskForward, layout: ColumnLayout, params: list[torch.nn.Parameter]
) -> tuple[FirstCombination, list[Tensor]]:
    """Also returns each direction's length: where it overflows, a method's rescaling would
    have made the step NaN, and the step is rejected as such (a diverging run shows it there
    before its weights do)."""
    grads = column_gradients(forward, layout)
    directions = [[(rows.d_outputs @ rows.weight).flatten() for rows in g.per_representation] for g in grads]
    backward_combined(forward, grads, directions, params)
    first = grads[0].per_representation[0]
    ones = torch.ones(layout.n_columns, dtype=first.dtype, device=first.device)
    lengths = [d.norm() for row in directions for d in row]
    return FirstCombination(_record_rows(first), directions[0][0], ones), lengths


def combined_backward(
    forward: TaskForward,
    layout: ColumnLayout,
    methods: list[list[Method]],
    params: list[torch.nn.Parameter],
    rescale: bool,
) -> FirstCombination:
    grads = column_gradients(forward, layout)
    directions = []
    first: FirstCombination | None = None
    converged = True
    for j, g in enumerate(grads):
        row = []
        for r, column_rows in enumerate(g.per_representation):
            comb = combine_gradients(methods[j][r], column_rows, g.objective.column_losses.detach(), rescale=rescale)
            row.append(comb.direction)
            converged = converged and comb.converged
            if first is None:
                first = FirstCombination(_record_rows(column_rows), comb.direction, comb.weights)
        directions.append(row)
    backward_combined(forward, grads, directions, params)
    assert first is not None  # every model has an objective and a shared representation
    first.converged = converged
    return first


def parameter_space_backward(
    forward: TaskForward,
    layout: ColumnLayout,
    methods: list[list[Method]],
    params: list[torch.nn.Parameter],
    shared: list[torch.nn.Parameter],
    rescale: bool,
) -> FirstCombination:
    first: FirstCombination | None = None
    converged = True
    grads: list[ObjectiveGradients] = column_gradients(forward, layout)
    for j, g in enumerate(grads):
        # One Gramian for the method and the diagnostics.
        matrix = DenseRows(parameter_space_gradients(forward, g, shared))
        comb = combine_gradients(methods[j][0], matrix, g.objective.column_losses.detach(), rescale=rescale)
        backward_parameter_space(forward, g, comb.direction, shared, params)
        converged = converged and comb.converged
        if first is None:
            first = FirstCombination(matrix, comb.direction, comb.weights)
    assert first is not None
    first.converged = converged
    return first
