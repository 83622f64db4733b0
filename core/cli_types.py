"""What the command-line modules share: argparse types for whole numbers, the way a
duration is written, and the one ``error:`` line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value

    return parse


positive_int = whole_number(1)


def duration(seconds: float) -> str:
    """``2 h 05 min``, ``3 min 07 s`` or ``9 s``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def print_error(message: str) -> None:
    """``error: <message>`` on one line of stderr."""
    print("error: " + " ".join(message.split()), file=sys.stderr, flush=True)
