"""Per-column gradients of R runs and their combination, run by run or batched.

Run r's gradients at its shared layer are ``ColumnRows(layout, d_outputs[r], W[r])``,
as a single Trainer has them, with their R x K x K Gramians. Each run's method then
combines its own rows. Methods whose combination is a closed form over the run axis
are batched across the runs that use them (``BATCHED``); every other method is applied
run by run with the run's own instance, so stateful and random methods keep their
state and their draws per run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from core.errors import TrainingError
from core.gradients import ColumnLayout, ColumnRows
from core.mtl import Combination, combine_gradients
from core.mtl.base import Method
from core.mtl.plain_sum import PlainSum


def run_gramians(d_outputs: Tensor, weights: Tensor, layouts: Sequence[ColumnLayout]) -> Tensor:
    """R x K x K float64 Gramians (d_outputs R x N x P, weights R x P x dim), each formed by
    its run's ``ColumnLayout.gramian`` on fresh copies: a batched product rounds a run's
    slice differently, and methods that cut near-dependent directions (Aligned-MTL) can
    turn that rounding into a visible change of weights."""
    return torch.stack(
        [
            layout.gramian(d.clone(), w.clone())
            for d, w, layout in zip(d_outputs.unbind(0), weights.unbind(0), layouts, strict=True)
        ]
    )


@dataclass
class RunGradients:
    """What the combination of R runs works on; row r is run r's."""

    d_outputs: Tensor  # R x N x P, N the rows (times samples) of a minibatch
    weights: Tensor  # R x P x dim, the head weights
    losses: Tensor  # R x K column losses, detached
    gramians: Tensor  # R x K x K
    layouts: Sequence[ColumnLayout]

    def rows(self, run: int) -> ColumnRows:
        return ColumnRows(self.layouts[run], self.d_outputs[run], self.weights[run])


def _check_run(gradients: RunGradients, run: int) -> None:
    """What ``combine_gradients`` checks before a method sees a run's gradients."""
    for values, what in ((gradients.gramians[run].diagonal(), "gradient"), (gradients.losses[run], "loss")):
        finite = torch.isfinite(values)
        if not finite.all():
            column = int((~finite).nonzero().flatten()[0])
            raise TrainingError(f"the {what} of column {column} is not finite; the step cannot be combined")


def plain_sums(gradients: RunGradients, runs: Sequence[int], rescale: Sequence[bool]) -> dict[int, Combination]:
    """PlainSum for ``runs`` (checked by ``combine_runs``) at once: every weight 1, the
    direction the sum of the rows. Rescaled to its own norm it is unchanged, so
    ``rescale`` does not matter."""
    index = torch.tensor(list(runs), device=gradients.d_outputs.device)
    directions = torch.bmm(gradients.d_outputs[index], gradients.weights[index]).flatten(1)
    k = gradients.losses.shape[1]
    ones = torch.ones(k, dtype=directions.dtype, device=directions.device)
    return {run: Combination(directions[i], ones.clone()) for i, run in enumerate(runs)}


BatchedCombine = Callable[[RunGradients, Sequence[int], Sequence[bool]], dict[int, Combination]]
BATCHED: dict[type[Method], BatchedCombine] = {PlainSum: plain_sums}


def combine_runs(
    gradients: RunGradients, methods: Sequence[Method | None], rescale: Sequence[bool]
) -> dict[int, Combination | TrainingError]:
    """Each run's Combination (or why it could not be combined); ``None``: the run sits out."""
    result: dict[int, Combination | TrainingError] = {}
    batched: dict[type[Method], list[int]] = {}
    for run, method in enumerate(methods):
        if method is None:
            continue
        if type(method) in BATCHED:
            batched.setdefault(type(method), []).append(run)
            continue
        try:
            result[run] = combine_gradients(
                method, gradients.rows(run), gradients.losses[run], rescale[run], gradients.gramians[run]
            )
        except TrainingError as error:
            result[run] = error
    for kind, runs in batched.items():
        good = []
        for run in runs:
            try:
                _check_run(gradients, run)
                good.append(run)
            except TrainingError as error:
                result[run] = error
        if good:
            result.update(BATCHED[kind](gradients, good, rescale))
    return result
