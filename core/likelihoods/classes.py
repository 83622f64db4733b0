"""Likelihoods of the class types, over class indices: binary, categorical, ordinal."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Self, TypeAlias

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Categorical

from core.likelihoods.base import ColumnLikelihood, as_statistic

# Classes of one column, or one count per column of a stacked likelihood.
ClassCount: TypeAlias = int | torch.Tensor | Sequence[int]


class BinaryLikelihood(ColumnLikelihood):
    """Bernoulli over class index 0/1 (the column's two categories, in order)."""

    n_params = 1

    def distribution(self, params: torch.Tensor) -> Bernoulli:
        return Bernoulli(logits=params[..., 0], validate_args=False)

    def observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # torch's Bernoulli.log_prob, without building the distribution
        logits, x = torch.broadcast_tensors(params[..., 0], x)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none")

    def fill_value(self) -> torch.Tensor:
        return torch.zeros(())

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return (params[..., 0] >= 0).to(params.dtype)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params[..., 0])

    @classmethod
    def stack(cls, members: Sequence[Self]) -> Self:
        return cls()


def _broadcast(first: Sequence[int], second: Sequence[int]) -> tuple[int, ...]:
    """The broadcast of two shapes (``torch.broadcast_shapes`` costs several times more
    per call; a mismatch still fails, in ``expand``)."""
    n = max(len(first), len(second))
    a, b = (1,) * (n - len(first)) + tuple(first), (1,) * (n - len(second)) + tuple(second)
    return tuple(x if y == 1 else y for x, y in zip(a, b, strict=True))


def _pick(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[..., index]`` per cell: values ``[..., W]``, index ``[...]``; leading dims broadcast."""
    shape = _broadcast(values.shape[:-1], index.shape)
    picked = values.expand(*shape, values.shape[-1]).gather(-1, index.expand(shape).unsqueeze(-1))
    return picked.squeeze(-1)


class _ClassLikelihood(ColumnLikelihood):
    """Shared part of the multi-class likelihoods: C outputs for C classes.

    Stacked, columns with fewer classes than the widest are padded to its width;
    padding classes get probability 0 and padding outputs are ignored.
    """

    def __init__(self, n_classes: ClassCount):
        self.n_classes = torch.as_tensor(n_classes, dtype=torch.long)
        self.n_params = int(self.n_classes.max())
        self._is_class = torch.arange(self.n_params) < self.n_classes.unsqueeze(-1)

    def class_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        """``[..., n_params]`` log-probability of every class (-inf for padding)."""
        raise NotImplementedError

    def distribution(self, params: torch.Tensor) -> Categorical:
        return Categorical(logits=self.class_log_probs(params), validate_args=False)

    def fill_value(self) -> torch.Tensor:
        return torch.zeros(())

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return self.class_log_probs(params).argmax(-1).to(params.dtype)

    @classmethod
    def stack(cls, members: Sequence[Self]) -> Self:
        return cls(torch.stack([m.n_classes for m in members]))


class CategoricalLikelihood(_ClassLikelihood):
    """Categorical with one logit per class."""

    def __init__(self, n_classes: ClassCount):
        super().__init__(n_classes)
        # Added to the logits; cheaper than masking, and gradients pass through it.
        self._padding_bias = as_statistic(torch.where(self._is_class, 0.0, -math.inf))

    def class_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(params + self._padding_bias, -1)

    def observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # Only the observed class's term: a full log_softmax costs several times more.
        logits = params + self._padding_bias
        return _pick(logits, x.long()) - torch.logsumexp(logits, -1)

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        # On the logits: normalising first can turn near-ties into exact ties.
        return (params + self._padding_bias).argmax(-1).to(params.dtype)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """Nominal classes have no average, so the 'mean' prediction is the mode."""
        return self.mode(params)


class OrdinalLikelihood(_ClassLikelihood):
    """Ordered logit: P(y <= c) = sigmoid(theta_c - mu).

    Params: ``mu`` then C-1 raw thresholds, ordered by ``theta = cumsum(softplus(raw))``.
    Class c lies between the thresholds ``l = theta_{c-1}`` and ``u = theta_c``
    (``theta_{-1} = -inf``, ``theta_{C-1} = +inf``); its log-probability is
    ``log(sigmoid(u - mu) - sigmoid(l - mu))
    = log(1 - e^(l-u)) + log sigmoid(u - mu) + log sigmoid(mu - l)``,
    which stays exact in both tails where the plain difference of sigmoids rounds to 0;
    the first term is logsigmoid of the class's raw width (see ``_log_widths``).
    """

    def __init__(self, n_classes: ClassCount):
        super().__init__(n_classes)
        # +inf on the thresholds past a column's last one: cumsum carries it, so
        # the last class of every column is unbounded above.
        self._threshold_bias = as_statistic(torch.where(self._is_class[..., 1:], 0.0, math.inf))

    def _cuts(self, params: torch.Tensor) -> torch.Tensor:
        """``[..., n_params + 1]`` thresholds with -inf and +inf at the ends: class c
        lies between cut c and cut c + 1."""
        # softplus over all outputs, then drop mu's: on the strided slice params[..., 1:]
        # the kernel runs several times slower than on the whole contiguous tensor.
        thresholds = torch.cumsum(F.softplus(params)[..., 1:] + self._threshold_bias, -1)
        unbounded = torch.full_like(params[..., :1], math.inf)
        return torch.cat([-unbounded, thresholds, unbounded], -1)

    @staticmethod
    def _log_widths(params: torch.Tensor) -> torch.Tensor:
        """``log(1 - e^(l - u))`` of every class whose cuts are both finite, for class c
        at index c: its width u - l is softplus(raw_c), so the term is exactly
        logsigmoid(raw_c). Taken from the raw output, not from the cumsum: there a width
        below the thresholds' rounding (say 1e-7 next to a threshold of 10) is lost and
        log(0) would make the loss infinite."""
        return F.pad(F.logsigmoid(params[..., 2:]), (1, 1))[..., : params.shape[-1]]

    @staticmethod
    def _interval_log_prob(
        lower: torch.Tensor, upper: torch.Tensor, location: torch.Tensor, log_width: torch.Tensor
    ) -> torch.Tensor:
        # A class unbounded above (the last) or below (the first) has log_width 0.
        log_width = torch.where(torch.isinf(upper) | torch.isinf(lower), 0.0, log_width)
        return log_width + F.logsigmoid(upper - location) + F.logsigmoid(location - lower)

    def class_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        cuts = self._cuts(params)
        # Padding classes have both cuts at +inf; a finite lower cut keeps their
        # discarded value (and its gradient) free of NaN.
        lower = torch.where(self._is_class, cuts[..., :-1], 0.0)
        log_p = self._interval_log_prob(lower, cuts[..., 1:], params[..., :1], self._log_widths(params))
        return torch.where(self._is_class, log_p, -math.inf)

    def observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # The location is subtracted after picking the two cuts, on n values instead of n x C.
        cuts = self._cuts(params)
        y = x.long()
        return self._interval_log_prob(
            _pick(cuts, y), _pick(cuts, y + 1), params[..., 0], _pick(self._log_widths(params), y)
        )

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """Expected class index."""
        probs = torch.exp(self.class_log_probs(params))
        index = torch.arange(params.shape[-1], device=params.device, dtype=params.dtype)
        return (probs * index).sum(-1)
