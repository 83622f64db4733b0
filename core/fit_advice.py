"""What to try when a column's samples do not fit its data: one sentence per column type.

Each type's spec (``core.column_types``) names its advice; the fit check
(``core.fit_check``) calls it for a misfit column. The sentence starts with what the
statistics show and ends with the likely fix. The ratios below only choose the words;
whether a column is misfit at all is ``core.fit_stats.MISFIT_DISTANCE``'s call.
"""

from __future__ import annotations

from collections.abc import Callable

from core.fit_stats import FitStats, describe

Advice = Callable[[FitStats], str]

NARROW = 0.5  # samples spread at most this fraction of the data's: too narrow
WIDE = 2.0  # ... at least this multiple: too wide
ZERO_GAP = 0.15  # shares of zeros this far apart: the zeros are not reproduced

_MULTI_OBJECTIVE = "try a multi-objective method (imtl-g or aligned-mtl) or a larger latent"


Rule = Callable[[FitStats], str | None]


def _narrow(fix: str) -> Rule:
    """The samples spread at most NARROW times the data's: what they show, then ``fix``."""

    def rule(stats: FitStats) -> str | None:
        if stats.spread_ratio is None or stats.spread_ratio > NARROW:
            return None
        return f"samples spread {stats.spread_ratio:.2g}x the data's: {fix}"

    return rule


def _wide(fix: str) -> Rule:
    def rule(stats: FitStats) -> str | None:
        if stats.spread_ratio is None or stats.spread_ratio < WIDE:
            return None
        return f"samples spread {stats.spread_ratio:.2g}x the data's: {fix}"

    return rule


def _zeros(fix: str) -> Rule:
    """The shares of zeros differ by ZERO_GAP or more."""

    def rule(stats: FitStats) -> str | None:
        if stats.data_zeros is None or stats.sample_zeros is None:
            return None
        if abs(stats.data_zeros - stats.sample_zeros) < ZERO_GAP:
            return None
        return f"the data holds {stats.data_zeros:.0%} zeros, the samples {stats.sample_zeros:.0%}: {fix}"

    return rule


def _non_negative(fix: str) -> Rule:
    def rule(stats: FitStats) -> str | None:
        return None if stats.data_zeros is None else f"{describe(stats)}: {fix}"

    return rule


def _first(stats: FitStats, rules: tuple[Rule, ...]) -> str:
    for rule in rules:
        sentence = rule(stats)
        if sentence:
            return sentence
    return general_advice(stats)


_COUNT = (
    _narrow("a Poisson's variance equals its mean, too narrow for an amount; try positive"),
    _zeros("a Poisson cannot put that much weight on 0; try positive (log(1 + x) takes the zeros)"),
    _wide("the values vary less than a Poisson does; try real, or categorical for codes"),
)
_POSITIVE = (
    _wide("the log-normal's tail is too heavy for these values; try real"),
    _zeros("the log-normal misplaces the zeros; try real, or count for whole numbers"),
    _narrow(f"the model holds the column near one value; {_MULTI_OBJECTIVE}"),
)
_REAL = (
    _zeros("a Normal cannot put weight on exactly 0; try positive"),
    _narrow(f"the model holds the column near one value; {_MULTI_OBJECTIVE}"),
    _non_negative("a Normal is symmetric and these values are not negative; try positive"),
)


def count_advice(stats: FitStats) -> str:
    return _first(stats, _COUNT)


def positive_advice(stats: FitStats) -> str:
    return _first(stats, _POSITIVE)


def real_advice(stats: FitStats) -> str:
    return _first(stats, _REAL)


def class_advice(stats: FitStats) -> str:
    return (
        f"class shares {stats.distance:.2f} apart (total variation): the likelihood can fit any shares, "
        f"so the model is not learning this column; {_MULTI_OBJECTIVE}"
    )


def general_advice(stats: FitStats) -> str:
    return f"{describe(stats)}: train longer, or check the column's type"
