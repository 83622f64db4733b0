"""Per-column likelihoods p_d(x_d | eta_d) and their vectorised combination over a table.

``base`` holds what they share, ``numerical`` and ``classes`` one class per column
type, ``table`` the ``TableLikelihood`` that evaluates a whole row.

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

from core.likelihoods.base import MIN_RATE, MIN_SCALE, ColumnLikelihood, unit_softplus
from core.likelihoods.classes import BinaryLikelihood, CategoricalLikelihood, OrdinalLikelihood
from core.likelihoods.numerical import CountLikelihood, PositiveLikelihood, RealLikelihood
from core.likelihoods.table import TableLikelihood

__all__ = [
    "MIN_RATE",
    "MIN_SCALE",
    "BinaryLikelihood",
    "CategoricalLikelihood",
    "ColumnLikelihood",
    "CountLikelihood",
    "OrdinalLikelihood",
    "PositiveLikelihood",
    "RealLikelihood",
    "TableLikelihood",
    "unit_softplus",
]
