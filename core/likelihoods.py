"""Per-column likelihoods p_d(x_d | eta_d) and their vectorised combination over a table.

The decoder's raw outputs live in a normalised space; each likelihood is built with
its column's fitted training statistics so that a raw output of 0 means "the
training marginal" (mean and spread of the column) while the distributions
themselves are over original units (numerical columns) or class indices (class
columns). ``raw -> parameter`` maps:

- real:        Normal(mean + std * r0, std * (usp(r1) + MIN_SCALE))
- positive:    x + 1 ~ LogNormal, with the same map on the log1p scale (HI-VAE's
               convention: zeros are in the support)
- count:       Poisson(rate_scale * usp(r0) + MIN_RATE), rate_scale = training mean
- categorical: Categorical(logits = r)
- binary:      Bernoulli(logits = r0)
- ordinal:     ordered logit, location r0 and thresholds cumsum(softplus(r1..r_{C-1}))

``usp(r) = softplus(r + log(e - 1))`` is a softplus shifted so that ``usp(0) = 1``.

Every likelihood class also works "stacked": built with one statistic per column
(shape ``(n,)``) it evaluates ``n`` columns of its type at once on params
``[..., n, n_params]``. ``TableLikelihood`` relies on that to run one computation per
type instead of one per column.

Statistics and index tensors are built on the CPU; ``TableLikelihood.to(device)``
moves them next to the decoder's outputs, and nothing builds tensors at call time
except from the params themselves.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.distributions import (
    AffineTransform,
    Bernoulli,
    Categorical,
    Distribution,
    LogNormal,
    Normal,
    Poisson,
    TransformedDistribution,
)

# Smallest scale, as a fraction of the column's spread: keeps the density bounded,
# so a column of repeated values cannot drive its log-likelihood to infinity.
MIN_SCALE = 1e-3
# Smallest Poisson rate: keeps log(rate) finite when the softplus underflows.
MIN_RATE = 1e-6

_SOFTPLUS_ONE = math.log(math.expm1(1.0))


def unit_softplus(raw: torch.Tensor) -> torch.Tensor:
    """Softplus shifted so that a raw output of 0 maps to 1."""
    return F.softplus(raw + _SOFTPLUS_ONE)


def _as_stat(value) -> torch.Tensor:
    """float32 whatever torch's default dtype: a float64 statistic would promote
    float32 params, and the results, to float64."""
    return torch.as_tensor(value, dtype=torch.float32)


class ColumnLikelihood:
    """Base of the per-type likelihoods.

    ``params`` has ``n_params`` entries in its last dimension; ``x`` and ``mask`` have
    the remaining (leading) shape. Subclasses define ``distribution``, ``mode``,
    ``mean``, ``stack`` and ``fill_value`` (a target with finite log-probability that
    replaces masked cells, which are 0-filled and may be outside the support).
    """

    n_params: int

    def distribution(self, params: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def fill_value(self) -> torch.Tensor:
        raise NotImplementedError

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @classmethod
    def stack(cls, members: Sequence[ColumnLikelihood]) -> ColumnLikelihood:
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor, params: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x | params), 0 where ``mask`` is False (masked cells carry no term)."""
        if mask is None:
            return self._observed_log_prob(x, params)
        mask = mask.bool()
        safe_x = torch.where(mask, x, self.fill_value().to(x))
        return torch.where(mask, self._observed_log_prob(safe_x, params), 0.0)

    def _observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).log_prob(x)

    def sample(self, params: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).sample().to(params.dtype)

    def to(self, device: torch.device | str) -> ColumnLikelihood:
        """Moves every statistic and index tensor to ``device``; returns self."""
        for name, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, name, value.to(device))
        return self


class RealLikelihood(ColumnLikelihood):
    """Normal over original units."""

    n_params = 2

    def __init__(self, mean, std):
        self.center = _as_stat(mean)
        self.spread = _as_stat(std)

    def distribution(self, params: torch.Tensor) -> Normal:
        loc = self.center + self.spread * params[..., 0]
        scale = self.spread * (unit_softplus(params[..., 1]) + MIN_SCALE)
        return Normal(loc, scale, validate_args=False)

    def fill_value(self) -> torch.Tensor:
        return self.center

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).loc

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).loc

    @classmethod
    def stack(cls, members: Sequence[RealLikelihood]) -> RealLikelihood:
        return cls(torch.stack([m.center for m in members]), torch.stack([m.spread for m in members]))


class PositiveLikelihood(ColumnLikelihood):
    """Non-negative reals as HI-VAE models them: x + 1 ~ LogNormal(mu, sigma).

    The shift puts zeros (amounts that are often exactly 0) inside the support;
    the statistics are those of log(1 + x).
    """

    n_params = 2

    def __init__(self, log1p_mean, log1p_std):
        self.center = _as_stat(log1p_mean)
        self.spread = _as_stat(log1p_std)

    def shifted_distribution(self, params: torch.Tensor) -> LogNormal:
        """The LogNormal of x + 1."""
        loc = self.center + self.spread * params[..., 0]
        scale = self.spread * (unit_softplus(params[..., 1]) + MIN_SCALE)
        return LogNormal(loc, scale, validate_args=False)

    def distribution(self, params: torch.Tensor) -> TransformedDistribution:
        return TransformedDistribution(
            self.shifted_distribution(params), AffineTransform(-1.0, 1.0), validate_args=False
        )

    def _observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # The shift's log-Jacobian is 0: skipping the transform saves its kernels.
        return self.shifted_distribution(params).log_prob(x + 1)

    def fill_value(self) -> torch.Tensor:
        return torch.zeros(())

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        """The LogNormal's mode exp(mu - sigma^2), shifted; where that falls below 0 the
        density over x >= 0 is decreasing, so the most likely value is 0."""
        d = self.shifted_distribution(params)
        return torch.clamp(torch.expm1(d.loc - d.scale**2), min=0.0)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        d = self.shifted_distribution(params)
        return torch.expm1(d.loc + d.scale**2 / 2)

    @classmethod
    def stack(cls, members: Sequence[PositiveLikelihood]) -> PositiveLikelihood:
        return cls(torch.stack([m.center for m in members]), torch.stack([m.spread for m in members]))


class CountLikelihood(ColumnLikelihood):
    """Poisson with rate ``rate_scale * usp(raw)``.

    Softplus rather than exp: the rate grows linearly in the raw output, so a large
    raw value cannot overflow and the gradient d rate / d raw stays bounded by
    ``rate_scale``; scaling by the training mean starts the rate at the column's
    mean, whatever its magnitude (counts up to 1e5 and beyond).
    """

    n_params = 1

    def __init__(self, mean):
        mean = _as_stat(mean)
        # An all-zero training column has mean 0, which would pin the rate at 0.
        self.rate_scale = torch.where(mean > 0, mean, 1.0)

    def distribution(self, params: torch.Tensor) -> Poisson:
        rate = self.rate_scale * unit_softplus(params[..., 0]) + MIN_RATE
        return Poisson(rate, validate_args=False)

    def _observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        # x*log(rate) and lgamma(x+1) are both ~1e6 for counts ~1e5 and cancel to a
        # value of a few nats: in float32 that would lose the whole result.
        rate = self.distribution(params.double()).rate
        x = x.double()
        return (x.xlogy(rate) - rate - torch.lgamma(x + 1)).to(params.dtype)

    def fill_value(self) -> torch.Tensor:
        return torch.zeros(())

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return torch.floor(self.distribution(params).rate)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return self.distribution(params).rate

    @classmethod
    def stack(cls, members: Sequence[CountLikelihood]) -> CountLikelihood:
        return cls(torch.stack([m.rate_scale for m in members]))


class BinaryLikelihood(ColumnLikelihood):
    """Bernoulli over class index 0/1 (the column's two categories, in order)."""

    n_params = 1

    def distribution(self, params: torch.Tensor) -> Bernoulli:
        return Bernoulli(logits=params[..., 0], validate_args=False)

    def fill_value(self) -> torch.Tensor:
        return torch.zeros(())

    def mode(self, params: torch.Tensor) -> torch.Tensor:
        return (params[..., 0] >= 0).to(params.dtype)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(params[..., 0])

    @classmethod
    def stack(cls, members: Sequence[BinaryLikelihood]) -> BinaryLikelihood:
        return cls()


def _pick(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``values[..., index]`` per cell: values ``[..., W]``, index ``[...]``; leading dims broadcast."""
    shape = torch.broadcast_shapes(values.shape[:-1], index.shape)
    picked = values.expand(*shape, values.shape[-1]).gather(-1, index.expand(shape).unsqueeze(-1))
    return picked.squeeze(-1)


class _ClassLikelihood(ColumnLikelihood):
    """Shared part of the multi-class likelihoods: C outputs for C classes.

    Stacked, columns with fewer classes than the widest are padded to its width;
    padding classes get probability 0 and padding outputs are ignored.
    """

    def __init__(self, n_classes):
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
    def stack(cls, members: Sequence[_ClassLikelihood]) -> _ClassLikelihood:
        return cls(torch.stack([m.n_classes for m in members]))


class CategoricalLikelihood(_ClassLikelihood):
    """Categorical with one logit per class."""

    def __init__(self, n_classes):
        super().__init__(n_classes)
        # Added to the logits; cheaper than masking, and gradients pass through it.
        self._padding_bias = _as_stat(torch.where(self._is_class, 0.0, -math.inf))

    def class_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(params + self._padding_bias, -1)

    def _observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
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

    def __init__(self, n_classes):
        super().__init__(n_classes)
        # +inf on the thresholds past a column's last one: cumsum carries it, so
        # the last class of every column is unbounded above.
        self._threshold_bias = _as_stat(torch.where(self._is_class[..., 1:], 0.0, math.inf))

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

    def _observed_log_prob(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
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

        members_by_type: dict[type, list[int]] = {}
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
        grouped = params.index_select(-1, self._param_order).split([g.n_outputs for g in self._groups], -1)
        # Contiguous copies: elementwise kernels on these strided views run ~5x slower.
        return [
            p.unflatten(-1, (g.n_columns, g.likelihood.n_params)).contiguous()
            for g, p in zip(self._groups, grouped, strict=True)
        ]

    def _per_group_cells(self, cells: torch.Tensor) -> list[torch.Tensor]:
        return cells.index_select(-1, self._feature_order).split([g.n_columns for g in self._groups], -1)

    def _restore(self, per_group: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(per_group, -1).index_select(-1, self._restore_order)

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
                g.likelihood._observed_log_prob(x, p)
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
