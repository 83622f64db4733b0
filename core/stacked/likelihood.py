"""R runs' table likelihoods as one, over outputs with a leading run axis.

The runs share a schema, so their ``TableLikelihood`` objects have the same type
groups and output layout; they differ only in fitted statistics (each run's training
split gives its own means and spreads). The stacked likelihood is the first run's with
every statistic that differs between runs replaced by the runs' values stacked on a
leading axis, shaped to broadcast against R x ... x n cells. Its formulas are the very
same elementwise operations, so with every run's slice a whole number of vector
widths (see ``core.stacked.forward``) each cell rounds as it does alone.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TypeVar

import torch

from core.likelihoods import TableLikelihood

_T = TypeVar("_T")


def _stack_statistics(members: Sequence[_T], inner_dims: int) -> _T:
    """A shallow copy of ``members[0]`` whose tensor attributes that differ between
    members are stacked: R x 1 (``inner_dims`` times) x their own shape."""
    stacked = copy.copy(members[0])
    for name, value in vars(members[0]).items():
        if not isinstance(value, torch.Tensor):
            continue
        values = [vars(m)[name] for m in members]
        if all(torch.equal(value, v) for v in values[1:]):
            continue  # shared (class counts, paddings): kept as they are, broadcasting as alone
        setattr(stacked, name, torch.stack(values).view(len(values), *([1] * inner_dims), *value.shape))
    return stacked


def stack_likelihoods(likelihoods: Sequence[TableLikelihood], inner_dims: int) -> TableLikelihood:
    """One TableLikelihood over R x (``inner_dims`` axes) x P outputs, run r's cells
    under ``likelihoods[r]``. It reads the type groups ``TableLikelihood`` builds, which
    for one schema are the same for every run."""
    first = likelihoods[0]
    stacked = _stack_statistics(likelihoods, inner_dims)
    stacked._groups = []
    for i, group in enumerate(first._groups):
        per_run = copy.copy(group)
        per_run.likelihood = _stack_statistics([lik._groups[i].likelihood for lik in likelihoods], inner_dims)
        stacked._groups.append(per_run)
    return stacked
