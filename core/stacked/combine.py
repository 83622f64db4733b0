"""Per-column gradients of R runs and their combination, batched across the runs.

Run r's gradients at its shared layer are ``ColumnRows(layout, d_outputs[r], W[r])``,
as a single Trainer has them, with their R x K x K Gramians. Each run's method then
combines its own rows: the plain sum and the methods of ``core.stacked.methods`` with a
batched form for all their runs at once; the methods that solve or keep state per run
(``PER_RUN_WEIGHTED``) each on its run's Gramian, their directions then formed and
rescaled for all of them at once; GradDrop's masks drawn and applied for all its runs at
once; the rest (cocktails) run by run through ``combine_gradients``. Every run's instance
is its own, so stateful and random methods keep their state and their draws per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from core.errors import TrainingError
from core.gradients import ColumnLayout, ColumnRows
from core.mtl import Combination, combine_gradients
from core.mtl.base import Method
from core.mtl.graddrop import GradDrop
from core.mtl.plain_sum import PlainSum
from core.mtl.system import GradientSystem, active_rows
from core.stacked.methods import BATCHED_WEIGHTS, PER_RUN_WEIGHTED, GramianOnly


def run_gramians(d_outputs: Tensor, weights: Tensor, layout: ColumnLayout) -> Tensor:
    """R x K x K float64 Gramians (d_outputs R x N x P, weights R x P x dim), each as
    ``ColumnLayout.gramian`` forms its run's. Only D^T D is a product per run: a batched
    product over the N rows rounds some runs' slices differently, and methods that cut
    near-dependent directions (Aligned-MTL) can turn that rounding into other weights."""
    flat = d_outputs.double()
    w = weights.double()
    outputs = torch.stack([d.T @ d for d in flat.unbind(0)])
    pairwise = outputs * torch.bmm(w, w.transpose(1, 2))  # R x P x P
    runs, k = len(pairwise), layout.n_columns
    rows = pairwise.new_zeros(runs, k, layout.n_params).index_add_(1, layout.owner, pairwise)
    gram = rows.new_zeros(runs, k, k).index_add_(2, layout.owner, rows)
    return (gram + gram.transpose(1, 2)) / 2


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


def _combined(
    gradients: RunGradients,
    runs: Sequence[int],
    weights: Tensor,
    rescale: Sequence[bool],
    converged: Sequence[bool],
) -> dict[int, Combination]:
    """The Combinations of ``weights`` (len(runs) x K) for ``runs``, as
    ``GradientSystem.combination`` and ``combine_gradients``'s rescaling to the plain sum's
    length form them."""
    index = torch.tensor(list(runs), device=gradients.d_outputs.device)
    d_outputs, head = gradients.d_outputs[index], gradients.weights[index]
    plain = torch.bmm(d_outputs, head).flatten(1)
    weights = weights.to(device=plain.device, dtype=plain.dtype)
    per_output = weights[:, gradients.layouts[0].owner]
    directions = torch.bmm(d_outputs * per_output[:, None, :], head).flatten(1)
    sizes = directions.norm(dim=1)
    # A zero direction stays zero, as does a run that keeps its method's length (factor 1).
    keep_length = (sizes == 0) | ~torch.tensor([rescale[run] for run in runs], dtype=torch.bool, device=sizes.device)
    factors = torch.where(keep_length, torch.ones_like(sizes), plain.norm(dim=1) / sizes)
    directions, weights = directions * factors[:, None], weights * factors[:, None]
    return {run: Combination(directions[i], weights[i], converged[i]) for i, run in enumerate(runs)}


def combine_runs(
    gradients: RunGradients, methods: Sequence[Method | None], rescale: Sequence[bool]
) -> dict[int, Combination | TrainingError]:
    """Each run's Combination (or why it could not be combined); ``None``: the run sits out."""
    result: dict[int, Combination | TrainingError] = {}
    diagonals = gradients.gramians.diagonal(dim1=1, dim2=2)
    # one read of the device for every run: finite gradients and losses, every row active
    finite = (torch.isfinite(diagonals).all(1) & torch.isfinite(gradients.losses).all(1)).tolist()
    active = active_rows(diagonals.clamp_min(0).sqrt(), gradients.d_outputs.dtype).all(1)
    all_active = active.tolist()
    k = gradients.losses.shape[1]
    plain: list[int] = []
    batched: dict[type[Method], list[tuple[int, Method]]] = {}
    solved: dict[int, Combination] = {}  # by each run's own instance, its direction left to form
    dropping: list[tuple[int, GradDrop]] = []
    for run, method in enumerate(methods):
        if method is None:
            continue
        try:
            if not finite[run]:
                _check_run(gradients, run)
            if isinstance(method, PlainSum):
                plain.append(run)
            elif type(method) in BATCHED_WEIGHTS and all_active[run]:
                batched.setdefault(type(method), []).append((run, method))
            elif type(method) is GradDrop:
                dropping.append((run, method))
            elif type(method) in PER_RUN_WEIGHTED:
                rows = GramianOnly(gradients.gramians[run], gradients.rows(run).shape[1], gradients.d_outputs.dtype)
                solved[run] = method.combine(rows, gradients.losses[run], gradients.gramians[run])
            else:
                result[run] = combine_gradients(
                    method, gradients.rows(run), gradients.losses[run], rescale[run], gradients.gramians[run]
                )
        except TrainingError as error:
            result[run] = error
    # Every weighted run's direction formed at once: the plain sum's weights are ones (a
    # product by one is exact, and so is its rescaling by its own length).
    weighted: dict[int, tuple[Tensor, bool]] = {}
    for run in plain:
        weighted[run] = (torch.ones(k, dtype=torch.float64, device=gradients.losses.device), True)
    for run, combination in solved.items():
        weighted[run] = (combination.weights, combination.converged)
    for kind, pairs in batched.items():
        runs = [run for run, _ in pairs]
        weights, converged = BATCHED_WEIGHTS[kind](gradients.gramians[runs], [method for _, method in pairs])
        for (run, method), w, run_converged in zip(pairs, weights.unbind(0), converged, strict=True):
            method.note_convergence(run_converged)
            weighted[run] = (w, run_converged)
    if weighted:
        runs = sorted(weighted)
        stacked = torch.stack([weighted[run][0].to(gradients.d_outputs.device, torch.float64) for run in runs])
        result.update(_combined(gradients, runs, stacked, rescale, [weighted[run][1] for run in runs]))
    if dropping:
        result.update(_graddrop(gradients, dropping, rescale))
    return result


def _graddrop(
    gradients: RunGradients, pairs: Sequence[tuple[int, GradDrop]], rescale: Sequence[bool]
) -> dict[int, Combination]:
    """``GradDrop.combine_system`` for its runs at once, each run's draw from its own instance's
    generator, then each run's least-squares weights and ``combine_gradients``'s rescaling."""
    runs = [run for run, _ in pairs]
    rows = torch.stack([gradients.rows(run).rows() for run in runs])  # R' x K x D
    total, spread = rows.sum(dim=1), rows.abs().sum(dim=1)
    purity = torch.where(spread > 0, 0.5 * (1 + total / spread), 0.5)
    width = rows.shape[2]
    draws = torch.stack([torch.rand(width, generator=m.generator, dtype=torch.float64) for _, m in pairs]).to(rows)
    keep = ((purity > draws)[:, None] & (rows > 0)) | ((purity < draws)[:, None] & (rows < 0))
    # the leakages as a run alone has them: float scalars of the rows' dtype
    leakage = torch.tensor([m.leakage for _, m in pairs], dtype=rows.dtype)[:, None, None]
    passing = torch.tensor([1 - m.leakage for _, m in pairs], dtype=rows.dtype)[:, None, None]
    directions = ((leakage + passing * keep.to(rows.dtype)) * rows).sum(dim=1)
    result = {}
    for i, run in enumerate(runs):
        system = GradientSystem(gradients.rows(run), gradients.gramians[run])
        combination = Combination(directions[i], system.least_squares_weights(directions[i]))
        if rescale[run] and (size := combination.direction.norm()) != 0:
            target = system.source.mix(torch.ones(rows.shape[1], dtype=rows.dtype, device=rows.device)).norm()
            factor = target / size
            combination = Combination(combination.direction * factor, combination.weights * factor)
        result[run] = combination
    return result
