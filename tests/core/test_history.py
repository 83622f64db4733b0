"""The bounded history: which points it keeps (against the rule written out by brute
force), what it stores, and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.history import History


def expected_ordinals(n: int, capacity: int) -> list[int]:
    """The rule of core/history.py, by brute force: the smallest power-of-two stride whose
    grid points plus the newest point fit into the capacity."""
    stride = 1
    while True:
        kept = sorted({i for i in range(n) if i % stride == 0} | {n - 1})
        if len(kept) <= capacity:
            return kept
        stride *= 2


@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(2, 40), n=st.integers(1, 400))
def test_keeps_exactly_the_grid_and_the_newest_point(capacity, n):
    history = History(capacity)
    for i in range(n):
        history.append(step=i, value=i * 0.5)
        assert len(history) <= capacity
    kept = expected_ordinals(n, capacity)
    assert history.ordinals.tolist() == kept
    assert history.field("step").tolist() == kept
    assert history.field("value").tolist() == [i * 0.5 for i in kept]


@settings(max_examples=30, deadline=None)
@given(capacity=st.integers(2, 30), n=st.integers(1, 300))
def test_first_and_newest_points_are_always_kept(capacity, n):
    history = History(capacity)
    for i in range(n):
        history.append(step=i)
        ordinals = history.ordinals
        assert ordinals[0] == 0 and ordinals[-1] == i
        assert np.all(np.diff(ordinals) > 0)


def test_same_length_runs_keep_the_same_points_whatever_the_values():
    a, b = History(16), History(16)
    rng = np.random.default_rng(0)
    for i in range(1000):
        a.append(loss=rng.normal())
        b.append(loss=float(i))
    assert a.ordinals.tolist() == b.ordinals.tolist()


def test_array_fields_keep_their_rows_together():
    history = History(8)
    for i in range(100):
        history.append(step=i, per_column=np.array([i, 10 * i, 100 * i]))
    steps = history.field("step")
    assert history.field("per_column").shape == (len(history), 3)
    np.testing.assert_array_equal(history.field("per_column"), np.outer(steps, [1, 10, 100]))
    np.testing.assert_array_equal(history.last("per_column"), [99, 990, 9900])


def test_numbers_are_float_none_is_nan_and_strings_are_kept_whole():
    history = History(4)
    history.append(step=1, conflicts=None, method="none")
    history.append(step=2, conflicts=3, method="imtl-g+pcgrad")
    assert history.field("step").dtype == np.float64
    conflicts = history.field("conflicts")
    assert np.isnan(conflicts[0]) and conflicts[1] == 3
    # a later integer value next to an earlier fractional one is not truncated either way
    history.append(step=2.5, conflicts=1, method="mgda-ub")
    assert history.field("step").tolist() == [1, 2, 2.5]
    methods = history.field("method").tolist()
    assert methods == ["none", "imtl-g+pcgrad", "mgda-ub"] and all(type(m) is str for m in methods)


def test_fields_are_copies():
    history = History(4)
    history.append(value=np.array([1.0, 2.0]))
    history.field("value")[0, 0] = 99
    history.last("value")[0] = 99
    assert history.field("value")[0, 0] == 1.0


def test_refuses_points_that_do_not_match_the_first():
    history = History(4)
    history.append(step=1, per_column=np.zeros(3))
    with pytest.raises(ValueError, match="fields"):
        history.append(step=2)
    with pytest.raises(ValueError, match="per_column"):
        history.append(step=2, per_column=np.zeros(4))
    with pytest.raises(ValueError):
        history.append()
    assert len(history) == 1


def test_capacity_below_two_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        History(1)


def test_clear_starts_over():
    history = History(4)
    for i in range(50):
        history.append(step=i)
    history.clear()
    assert len(history) == 0 and history.names == []
    history.append(other=1.0)
    assert history.ordinals.tolist() == [0]
    with pytest.raises(IndexError):
        History(3).last("step")
    with pytest.raises(KeyError):
        history.field("step")
