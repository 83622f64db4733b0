"""``LiveRun`` (what a dashboard worker holds) computes a step's gradient diagnostics only
where they are read: the newest step when the page fetches, and the steps before each
evaluation, for the why-overlooked sentences. Those it gives are the Trainer's own."""

from __future__ import annotations

import numpy as np
import pytest

from core.overlook_why import WINDOW_STEPS
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer
from core.workers.live import EVALUATE_EVERY_STEPS, LiveRun

CONFIG = TrainConfig(hidden=8, layers=1, batch_size=64)


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=400, seed=0)


def test_diagnostics_are_those_of_the_trainer_on_the_steps_that_are_read(table):
    data, schema = table
    run = LiveRun(data, schema, CONFIG)
    steps = EVALUATE_EVERY_STEPS + 7
    run.train(steps)
    update = run.fetch()

    here = Trainer(data, schema, CONFIG)
    expected = {}
    for _ in range(steps):
        record = here.step()
        d = record.diagnostics
        expected[record.step] = (d.norms, d.weights, d.n_conflicts)

    read = {s for s in range(1, steps + 1) if EVALUATE_EVERY_STEPS - WINDOW_STEPS < s <= EVALUATE_EVERY_STEPS}
    read.add(steps)  # the newest, for the page
    for row in update.rows:
        if row["step"] in read:
            norms, weights, conflicts = expected[row["step"]]
            np.testing.assert_array_equal(row["gradient_norms"], norms)
            np.testing.assert_array_equal(row["weights"], weights)
            assert row["conflicts"] == conflicts
        else:
            assert np.isnan(row["gradient_norms"]).all() and np.isnan(row["weights"]).all()
            assert row["conflicts"] is None
    assert update.latest is not None and update.latest.step == steps
    np.testing.assert_array_equal(update.latest.diagnostics.norms, expected[steps][0])
    assert len(run.window) == WINDOW_STEPS  # the steps before the evaluation, for its sentences
    assert [s.step for s in update.evaluations] == [0, EVALUATE_EVERY_STEPS]


def test_a_fetch_with_no_new_step_gives_no_latest_record(table):
    data, schema = table
    run = LiveRun(data, schema, CONFIG)
    run.train(3)
    assert run.fetch().latest.step == 3
    again = run.fetch()
    assert again.latest is None and again.rows == []
