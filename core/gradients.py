"""The per-column gradient engine.

Column k's loss reaches a shared representation r only through its own slice of the
decoder outputs, and the outputs are linear in r (``outputs = r @ W.T + b``), so

    dL_k / dr = (dL_k / d outputs_k) @ W_k.

One backward pass from the summed losses to the outputs gives every
``dL_k / d outputs_k`` at once (column k's outputs feed only column k's loss); a
batched product with the matching rows of W gives all K gradients. No K backward
passes. Weighting methods need only the K x K Gramian and the mix ``weights @ G``, which
are both cheaper than the K x (N * dim) matrix itself, so ``ColumnRows`` forms that
matrix only when a method asks for it (GradDrop, the parameter-space mode). The combined
gradient is then sent back through the trunk and the encoder in
one pass, while the heads get their ordinary gradients.

``parameter_space_gradients`` gives the per-column gradients with respect to whole
parameter sets instead (batched with ``is_grads_batched``), for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.models.base import Objective, TaskForward


class ColumnLayout:
    """Which decoder outputs belong to which column, padded for a batched product."""

    def __init__(self, param_owner: torch.Tensor, n_columns: int):
        owner = param_owner.long().cpu()
        self.n_columns = n_columns
        self.n_params = owner.numel()
        counts = torch.bincount(owner, minlength=n_columns)
        width = int(counts.max()) if n_columns else 0
        # index[k, j] = j-th output of column k, or n_params (a zero pad) past its end
        index = torch.full((n_columns, width), self.n_params, dtype=torch.long)
        for k in range(n_columns):
            cols = torch.nonzero(owner == k).flatten()
            index[k, : cols.numel()] = cols
        self.index = index
        self.owner = owner

    def to(self, device: torch.device | str) -> ColumnLayout:
        self.index = self.index.to(device)
        self.owner = self.owner.to(device)
        return self

    def gather(self, d_outputs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Per-column gradients at the representation: K x (N * dim).

        d_outputs: [..., P] gradient of the summed column losses at the outputs;
        weight: P x dim.
        """
        p = d_outputs.shape[-1]
        flat = d_outputs.reshape(-1, p)
        padded_d = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], 1)[:, self.index]  # N x K x w
        padded_w = torch.cat([weight, weight.new_zeros(1, weight.shape[1])], 0)[self.index]  # K x w x dim
        grads = torch.bmm(padded_d.transpose(0, 1), padded_w)  # K x N x dim
        return grads.reshape(self.n_columns, -1)

    def gramian(self, d_outputs: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """K x K float64 Gramian of the rows ``gather`` returns, without forming them:

            <g_k, g_l> = sum over outputs i of k, j of l of (D^T D)[i, j] (W W^T)[i, j]

        P x P products instead of a K x K product over N * dim coordinates; at K = 200
        columns this is several times cheaper than ``G @ G.T``."""
        flat = d_outputs.reshape(-1, d_outputs.shape[-1]).double()
        w = weight.double()
        pairwise = (flat.T @ flat) * (w @ w.T)  # P x P
        owner = self.owner
        rows = pairwise.new_zeros(self.n_columns, self.n_params).index_add_(0, owner, pairwise)
        gram = rows.new_zeros(self.n_columns, self.n_columns).index_add_(1, owner, rows)
        return (gram + gram.T) / 2


class ColumnRows:
    """The per-column gradients at one shared representation, K x (N * dim), known
    implicitly: row k is ``d_outputs[:, outputs of k] @ W[outputs of k]``, flattened.
    Satisfies ``core.mtl.system.GradientRows``."""

    def __init__(self, layout: ColumnLayout, d_outputs: torch.Tensor, weight: torch.Tensor):
        self.layout = layout
        self.d_outputs = d_outputs.reshape(-1, d_outputs.shape[-1])
        self.weight = weight
        self.shape = torch.Size((layout.n_columns, self.d_outputs.shape[0] * weight.shape[1]))
        self.dtype, self.device = weight.dtype, weight.device
        self._rows: torch.Tensor | None = None
        self._gramian: torch.Tensor | None = None

    def rows(self) -> torch.Tensor:
        if self._rows is None:
            self._rows = self.layout.gather(self.d_outputs, self.weight)
        return self._rows

    def mix(self, weights: torch.Tensor) -> torch.Tensor:
        """weights @ rows: one N x P by P x dim product."""
        per_output = weights.to(self.dtype)[self.layout.owner]
        return ((self.d_outputs * per_output) @ self.weight).flatten()

    def dot(self, direction: torch.Tensor) -> torch.Tensor:
        """rows @ direction: <g_k, d> = sum over n and k's outputs i of D[n, i] (d_n . W_i)."""
        along = (self.d_outputs * (direction.to(self.dtype).reshape(self.d_outputs.shape[0], -1) @ self.weight.T)).sum(
            0
        )
        return along.new_zeros(self.layout.n_columns).index_add_(0, self.layout.owner, along)

    def gramian(self) -> torch.Tensor:
        if self._gramian is None:
            self._gramian = self.layout.gramian(self.d_outputs, self.weight)
        return self._gramian


@dataclass
class ObjectiveGradients:
    """One objective's per-column gradients, one ``ColumnRows`` per shared representation."""

    objective: Objective
    d_outputs: torch.Tensor
    per_representation: list[ColumnRows]


def column_gradients(forward: TaskForward, layout: ColumnLayout) -> list[ObjectiveGradients]:
    result = []
    for objective in forward.objectives:
        (d_outputs,) = torch.autograd.grad(objective.column_losses.sum(), forward.outputs, retain_graph=True)
        result.append(
            ObjectiveGradients(
                objective, d_outputs, [ColumnRows(layout, d_outputs, rep.weight.detach()) for rep in forward.shared]
            )
        )
    return result


def backward_combined(
    forward: TaskForward,
    gradients: list[ObjectiveGradients],
    directions: list[list[torch.Tensor]],
    params: list[torch.nn.Parameter],
) -> None:
    """Accumulate into ``.grad``: each objective's combined directions through the shared
    representations, its latent loss, and (if it trains them) the heads' ordinary gradient."""
    for i, (grads, dirs) in enumerate(zip(gradients, directions, strict=True)):
        objective = grads.objective
        tensors, grad_tensors = [], []
        if objective.trains_heads:
            tensors.append(forward.outputs)
            grad_tensors.append(grads.d_outputs)
        for rep, direction in zip(forward.shared, dirs, strict=True):
            tensors.append(rep.source)
            grad_tensors.append(direction.reshape(rep.source.shape))
        if objective.latent_loss.requires_grad:
            tensors.append(objective.latent_loss)
            grad_tensors.append(torch.ones_like(objective.latent_loss))
        targets = objective.params if objective.params is not None else params
        targets = [p for p in targets if p.requires_grad]
        torch.autograd.backward(tensors, grad_tensors, inputs=targets, retain_graph=i < len(gradients) - 1)


def parameter_space_gradients(
    forward: TaskForward, grads: ObjectiveGradients, params: list[torch.nn.Parameter]
) -> torch.Tensor:
    """K x n: each column's gradient with respect to ``params`` (flattened), pushed from
    the shared representations back through the trunk and encoder in one vmapped
    backward pass (``is_grads_batched``) rather than K passes."""
    k = grads.objective.column_losses.numel()
    sources = [rep.source for rep in forward.shared]
    per_rep = [
        g.rows().reshape(k, *rep.source.shape) for g, rep in zip(grads.per_representation, forward.shared, strict=True)
    ]
    result = torch.autograd.grad(
        sources, params, grad_outputs=per_rep, is_grads_batched=True, retain_graph=True, allow_unused=True
    )
    return torch.cat(
        [
            (g if g is not None else p.new_zeros(k, *p.shape)).reshape(k, -1)
            for g, p in zip(result, params, strict=True)
        ],
        1,
    )


def backward_parameter_space(
    forward: TaskForward,
    grads: ObjectiveGradients,
    direction: torch.Tensor,
    shared_params: list[torch.nn.Parameter],
    params: list[torch.nn.Parameter],
) -> None:
    """Accumulate into ``.grad``: ``direction`` (a combined K-column gradient over
    ``shared_params``), the heads' ordinary gradient and the latent loss."""
    objective = grads.objective
    targets = [p for p in (objective.params if objective.params is not None else params) if p.requires_grad]
    tensors, grad_tensors = [], []
    if objective.trains_heads:
        tensors.append(forward.outputs)
        grad_tensors.append(grads.d_outputs)
    if objective.latent_loss.requires_grad:
        tensors.append(objective.latent_loss)
        grad_tensors.append(torch.ones_like(objective.latent_loss))
    if tensors:
        # kept: a later objective (DReG's encoder) backpropagates through the same graph
        torch.autograd.backward(tensors, grad_tensors, inputs=targets, retain_graph=True)
    allowed = {id(p) for p in targets}
    offset = 0
    for p in shared_params:
        n = p.numel()
        if id(p) in allowed:
            piece = direction[offset : offset + n].reshape(p.shape)
            p.grad = piece.clone() if p.grad is None else p.grad + piece
        offset += n
