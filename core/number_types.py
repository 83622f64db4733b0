"""Which type a column of numbers gets, read from the shape of its values.

Integers (``12.0`` counts as one), first match wins:

1. calendar years: more than ``MAX_CODED_CLASSES`` distinct values, all within
   ``YEAR_RANGE`` -> real (a point in time, not a count of anything);
2. few distinct values (at most ``MAX_CODED_CLASSES``), or a gap-free run of codes from
   0 or 1 (at most ``MAX_GAPLESS_CODES``):

   a. small counts -> count, when the values have a count's frequency shape
      (``count_shape``): at least ``MIN_COUNT_LEVELS`` values from 0 or 1, no gap below
      the 90th percentile, no pile-up at the top (a rating scale's end collects the
      extremes; a count's tail thins out), and either frequencies that fall away from
      the low end (the lowest value among the most common, the upper half of the range
      nearly empty) or shares within ``COUNT_LAW_DISTANCE`` (total variation) of the
      Poisson or negative binomial with the values' mean and variance;
   b. otherwise coded classes -> categorical (the reason says ordinal or count may fit);
3. negative values -> real;
4. amounts -> positive, modelled on log(1 + x) (``amount_reason``): a Poisson's variance
   equals its mean, so a column whose variance is ``AMOUNT_DISPERSION`` times its mean or
   more, whose typical non-zero value is ``AMOUNT_MAGNITUDE`` or more (salaries, prices,
   areas, balances), or whose values are all multiples of a round unit of at least
   ``ROUND_UNIT`` (a count of events takes every whole value) is an amount;
5. other non-negative integers -> count (visits, children, accounts: small, and spread
   across rows as counts are).

Other numbers:

6. all above zero -> positive;
7. zeros and no negative values -> positive when the zeros are many (more than one,
   and at least ``ZERO_SHARE`` of the values) or the values are right-skewed (the 90th percentile
   lies ``RIGHT_SKEW_RATIO`` times further above the median than the 10th lies below
   it): an amount that is often 0; otherwise real (a measurement with a few zeros);
8. negative values -> real.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from core.schema import ColumnType, format_number

MAX_CODED_CLASSES = 20
MAX_GAPLESS_CODES = 30
MIN_COUNT_LEVELS = 9
LOW_END_SHARE = 0.5  # the lowest value is at least this share of the mode's frequency ...
UPPER_HALF_SHARE = 0.2  # ... and the upper half of the range holds at most this share
TOP_PILE_SHARE = 0.01  # a top value more frequent than the one below it, holding this share, is a pile-up
COUNT_LAW_DISTANCE = 0.15  # or the shares lie this close (total variation) to a Poisson or negative binomial
AMOUNT_DISPERSION = 30.0
AMOUNT_MAGNITUDE = 1000.0
ROUND_UNIT = 10
MIN_ROUND_VALUES = 5  # distinct values needed before round units say anything
YEAR_RANGE = (1800, 2100)
ZERO_SHARE = 0.05
RIGHT_SKEW_RATIO = 2.0


@dataclass(frozen=True)
class NumberType:
    """The type a column of numbers gets and why (completes "<range> ...")."""

    type: ColumnType
    why: str


def number_type(numbers: np.ndarray, is_integer: bool, n_distinct: int) -> NumberType:
    """The type of finite ``numbers`` with at least three distinct values (see the module docstring)."""
    low, high = float(numbers.min()), float(numbers.max())
    if is_integer:
        return _integer_type(numbers, low, high, n_distinct)
    if low > 0:
        return NumberType(ColumnType.POSITIVE, "all above zero -> positive")
    if low == 0:
        n_zeros = int(np.count_nonzero(numbers == 0))
        # a point mass at 0: many zeros, and more than one (a single 0 in a short column is not a mass)
        many_zeros = n_zeros > 1 and n_zeros >= ZERO_SHARE * numbers.size
        if many_zeros or _right_skew(numbers) >= RIGHT_SKEW_RATIO:
            shape = f"{n_zeros / numbers.size:.0%} zeros" if many_zeros else "right-skewed"
            return NumberType(
                ColumnType.POSITIVE,
                f"no negative values, {shape} -> an amount: positive, modelled on log(1 + x)",
            )
        return NumberType(
            ColumnType.REAL,
            f"a few zeros ({n_zeros} of {numbers.size}), not skewed -> real; "
            "set positive if it is a non-negative amount",
        )
    return NumberType(ColumnType.REAL, "with negative values -> real")


def _integer_type(numbers: np.ndarray, low: float, high: float, n_distinct: int) -> NumberType:
    if n_distinct > MAX_CODED_CLASSES and YEAR_RANGE[0] <= low and high <= YEAR_RANGE[1]:
        return NumberType(
            ColumnType.REAL,
            f"all within {YEAR_RANGE[0]}..{YEAR_RANGE[1]} -> calendar years: real (a point in time, not a count)",
        )
    gapless = low in (0.0, 1.0) and high - low + 1 == n_distinct and n_distinct <= MAX_GAPLESS_CODES
    if n_distinct <= MAX_CODED_CLASSES or gapless:
        shape = count_shape(numbers, low, high)
        if shape is not None:
            return NumberType(ColumnType.COUNT, f"{shape} -> small counts: count")
        why = f"at most {MAX_CODED_CLASSES} distinct" if n_distinct <= MAX_CODED_CLASSES else "gap-free codes"
        return NumberType(
            ColumnType.CATEGORICAL,
            f"{why} -> coded classes: categorical; set ordinal if the codes are ordered, count if they are counts",
        )
    if low < 0:
        return NumberType(ColumnType.REAL, "some negative -> real")
    amount = amount_reason(numbers)
    if amount is not None:
        return NumberType(ColumnType.POSITIVE, f"{amount} -> an amount: positive, modelled on log(1 + x)")
    return NumberType(ColumnType.COUNT, f"variance {_dispersion(numbers):.2g}x the mean -> count")


def count_shape(numbers: np.ndarray, low: float, high: float) -> str | None:
    """How the values look like small counts (for the reason), or None if they do not."""
    if low not in (0.0, 1.0) or high - low > 10 * MAX_GAPLESS_CODES:
        return None
    frequency = np.bincount((numbers - low).astype(np.int64))
    if np.count_nonzero(frequency) < MIN_COUNT_LEVELS:
        return None
    body = int(np.quantile(numbers, 0.9) - low) + 1
    if not frequency[:body].all():
        return None  # codes with gaps
    present = np.flatnonzero(frequency)
    top, below = frequency[present[-1]], frequency[present[-2]]
    if top > below and top >= TOP_PILE_SHARE * numbers.size:
        return None  # a scale whose end collects the extremes
    start = format_number(low)
    mode = int(frequency.argmax())
    upper_half = float(np.mean(numbers > (low + high) / 2))
    if (mode <= 1 or frequency[0] >= LOW_END_SHARE * frequency[mode]) and upper_half <= UPPER_HALF_SHARE:
        share = f"{upper_half:.0%}" if upper_half >= 0.01 else "under 1%"
        return f"frequencies falling away from {start}, {share} in the upper half of the range"
    distance = _distance_to_count_law(numbers - low, frequency / numbers.size)
    if distance <= COUNT_LAW_DISTANCE:
        return f"frequencies within {distance:.2f} (total variation) of a count law from {start}"
    return None


def _distance_to_count_law(counts: np.ndarray, shares: np.ndarray) -> float:
    """Total variation between the shares of 0, 1, 2, ... and the count law with the same
    mean and variance: a Poisson, or a negative binomial when the variance is larger."""
    mean, variance = float(counts.mean()), float(counts.var())
    levels = np.arange(shares.size)
    if variance <= mean:
        law = stats.poisson(mean)
    else:
        size = mean**2 / (variance - mean)
        law = stats.nbinom(size, size / (size + mean))
    probabilities = law.pmf(levels)
    beyond = max(0.0, 1.0 - float(probabilities.sum()))
    return 0.5 * (float(np.abs(shares - probabilities).sum()) + beyond)


def amount_reason(numbers: np.ndarray) -> str | None:
    """Why non-negative integers are an amount rather than a count, or None."""
    nonzero = numbers[numbers != 0]
    typical = float(np.median(nonzero)) if nonzero.size else 0.0
    if typical >= AMOUNT_MAGNITUDE:
        return f"typical value {format_number(typical)}, not a small count"
    dispersion = _dispersion(numbers)
    if dispersion >= AMOUNT_DISPERSION:
        return f"variance {dispersion:.3g}x the mean (a Poisson's equals its mean)"
    if np.unique(nonzero).size >= MIN_ROUND_VALUES:
        unit = int(np.gcd.reduce(nonzero.astype(np.int64)))
        if unit >= ROUND_UNIT:
            return f"every value a multiple of {unit} (a count takes every whole value)"
    return None


def _dispersion(numbers: np.ndarray) -> float:
    mean = float(numbers.mean())
    return float(numbers.var()) / mean if mean > 0 else 0.0


def _right_skew(numbers: np.ndarray) -> float:
    q10, q50, q90 = np.quantile(numbers, [0.1, 0.5, 0.9])
    if q90 <= q50:
        return 0.0
    return float((q90 - q50) / (q50 - q10)) if q50 > q10 else float("inf")
