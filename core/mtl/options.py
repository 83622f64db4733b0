"""Checking a method's numeric options: a bad value is the user's to fix (DataError)."""

from __future__ import annotations

import math
from typing import Any

from core.errors import DataError


def option_float(
    method: str, option: str, value: Any, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    """``value`` as a float within [low, high] (or (low, high] with ``low_open``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"option {option!r} of method {method!r} must be a number, got {value!r}") from None
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and number > high
    if not math.isfinite(number) or too_low or too_high:
        lower = "(-inf" if low is None else f"{'(' if low_open else '['}{low:g}"
        upper = "inf)" if high is None else f"{high:g}]"
        span = f"{lower}, {upper}"
        raise DataError(f"option {option!r} of method {method!r} must be in {span}, got {value!r}")
    return number


def option_int(method: str, option: str, value: Any, low: int) -> int:
    """``value`` as an integer >= low."""
    number = option_float(method, option, value, low)
    if number != int(number):
        raise DataError(f"option {option!r} of method {method!r} must be a whole number, got {value!r}")
    return int(number)
