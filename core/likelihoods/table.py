"""The likelihood of a whole table row: every column's, over one flat decoder output."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch

from core.likelihoods.base import ColumnLikelihood


def _select_last(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x.index_select(-1, index)`` through a 2-D view: PyTorch's CPU kernel for the last
    dimension of a tensor with more than two dimensions is up to 50x slower (IWAE's
    S x B x P outputs, stacked runs' R x S x B x P); the values are the same."""
    return x.reshape(-1, x.shape[-1]).index_select(1, index).view(*x.shape[:-1], len(index))


class _TypeGroup:
    """The columns of one likelihood type, evaluated together on ``[..., n, n_params]``."""

    def __init__(self, likelihood: ColumnLikelihood, n_columns: int):
        self.likelihood = likelihood
        self.n_columns = n_columns
        self.n_outputs = n_columns * likelihood.n_params


class TableLikelihood:
    """All columns' likelihoods over one flat decoder output of ``n_params`` entries.

    The outputs of feature k are contiguous and features come in order;
    ``param_owner[j]`` is the feature that output j belongs to. Internally columns
    are regrouped by type (one gather of params, targets and mask per call) and
    each type is evaluated once, stacked.
    """

    def __init__(self, column_likelihoods: Sequence[ColumnLikelihood]):
        self.columns = tuple(column_likelihoods)
        widths = [c.n_params for c in self.columns]
        offsets = [0, *itertools.accumulate(widths)][:-1]
        self.n_params = sum(widths)
        self.param_owner = torch.repeat_interleave(torch.arange(len(widths)), torch.tensor(widths, dtype=torch.long))

        members_by_type: dict[type[ColumnLikelihood], list[int]] = {}
        for k, column in enumerate(self.columns):
            members_by_type.setdefault(type(column), []).append(k)
        self._groups: list[_TypeGroup] = []
        feature_order: list[int] = []
        param_order: list[int] = []
        for kind, members in members_by_type.items():
            stacked = kind.stack([self.columns[k] for k in members])
            self._groups.append(_TypeGroup(stacked, len(members)))
            feature_order += members
            # Padding outputs of narrower columns repeat the column's first output;
            # the stacked likelihood ignores them.
            param_order += [offsets[k] + (j if j < widths[k] else 0) for k in members for j in range(stacked.n_params)]
        self._feature_order = torch.tensor(feature_order, dtype=torch.long)
        self._param_order = torch.tensor(param_order, dtype=torch.long)
        self._restore_order = torch.argsort(self._feature_order)
        self._fill = torch.stack([c.fill_value() for c in self.columns]).float()

    def to(self, device: torch.device | str) -> TableLikelihood:
        """Moves every statistic and index tensor to ``device`` (that of the decoder's
        outputs); returns self."""
        self.param_owner = self.param_owner.to(device)
        self._feature_order = self._feature_order.to(device)
        self._param_order = self._param_order.to(device)
        self._restore_order = self._restore_order.to(device)
        self._fill = self._fill.to(device)
        for likelihood in (*self.columns, *(g.likelihood for g in self._groups)):
            likelihood.to(device)
        return self

    # index_select and split rather than indexing and slicing: their backward
    # passes write each gradient once instead of zero-filling a full-size buffer
    # per group, which dominated the cost at K = 200.
    def _per_group(self, params: torch.Tensor) -> list[torch.Tensor]:
        grouped = _select_last(params, self._param_order).split([g.n_outputs for g in self._groups], -1)
        # Contiguous copies: elementwise kernels on these strided views run ~5x slower.
        return [
            p.unflatten(-1, (g.n_columns, g.likelihood.n_params)).contiguous()
            for g, p in zip(self._groups, grouped, strict=True)
        ]

    def _per_group_cells(self, cells: torch.Tensor) -> list[torch.Tensor]:
        return _select_last(cells, self._feature_order).split([g.n_columns for g in self._groups], -1)

    def _restore(self, per_group: list[torch.Tensor]) -> torch.Tensor:
        return _select_last(torch.cat(per_group, -1), self._restore_order)

    def log_prob(self, params: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[..., K]`` log-likelihood per cell, 0 where ``mask`` is False.

        Leading dimensions of params and targets/mask broadcast (IWAE: S x B x P params
        against B x K targets).
        """
        # Masking once for the whole table rather than per type group: fewer kernels.
        mask = mask.bool()
        safe_targets = torch.where(mask, targets, self._fill.to(targets.dtype))
        log_p = self._restore(
            [
                g.likelihood.observed_log_prob(x, p)
                for g, p, x in zip(
                    self._groups, self._per_group(params), self._per_group_cells(safe_targets), strict=True
                )
            ]
        )
        return torch.where(mask, log_p, 0.0)

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return self._restore([g.likelihood.mode(p) for g, p in zip(self._groups, self._per_group(params), strict=True)])

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self._restore([g.likelihood.mean(p) for g, p in zip(self._groups, self._per_group(params), strict=True)])

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        return self._restore(
            [g.likelihood.sample(p) for g, p in zip(self._groups, self._per_group(params), strict=True)]
        )
