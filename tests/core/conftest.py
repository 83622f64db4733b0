"""Fixtures of the tests of core/ that more than one module uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from core.workers.pool import TrainingPool


@pytest.fixture
def workers() -> Iterator[Callable[..., TrainingPool]]:
    """Makes training pools of the real worker processes (``TrainingPool(**options)``), each
    shut down after the test."""
    made: list[TrainingPool] = []

    def make(**options) -> TrainingPool:
        made.append(TrainingPool(**options))
        return made[-1]

    yield make
    for p in made:
        p.shutdown()
