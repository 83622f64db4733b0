"""Comparisons trained in the dashboard's worker processes (core.workers.remote_comparison),
through the real pool: the same numbers as a Comparison trained here, runs paused and
cancelled on their own, training only while the page asks, a dead worker's comparison kept as
it last was, and bad set-ups or a full pool refused in one line."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace

import pandas as pd
import pytest

from core.comparison import Comparison
from core.errors import DataError
from core.synthetic import make_synthetic
from core.trainer import TrainConfig
from core.workers.live_comparison import LEASE_SECONDS
from core.workers.pool import PoolFull
from core.workers.remote import RemoteTrainer
from core.workers.remote_comparison import RemoteComparison

pytestmark = pytest.mark.slow  # worker processes start in seconds each

BASE = TrainConfig(hidden=8, layers=1, batch_size=64, seed=2)
CONFIGS = [replace(BASE, method=m) for m in ("none", "imtl-g", "pcgrad")]


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=400, seed=0)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_comparison_in_a_worker_gives_the_numbers_of_one_trained_here(table, workers):
    data, schema = table
    remote = RemoteComparison("synthetic", data, schema, CONFIGS, epochs=3, pool=workers(workers=1))
    while remote.active:
        remote.advance(seconds=1.0)
    here = Comparison("synthetic", data, schema, CONFIGS, epochs=3)
    while here.active:
        here.advance(steps=100)
    assert remote.stacked and [run.status for run in remote.runs] == ["finished"] * 3
    for frame in ("summary_frame", "scores_frame", "curves_frame", "losses_frame"):
        pd.testing.assert_frame_equal(getattr(remote, frame)(), getattr(here, frame)())
    assert remote.to_json() == here.to_json()
    assert remote.fairness() == here.fairness() and remote.labels == here.labels


def test_runs_pause_and_cancel_on_their_own_in_the_worker(table, workers):
    data, schema = table
    remote = RemoteComparison("synthetic", data, schema, CONFIGS, epochs=500, pool=workers(workers=1))
    remote.advance(seconds=0.3)
    remote.pause(0)
    remote.cancel(2)
    paused_at, cancelled_at = remote.runs[0].step_count, remote.runs[2].step_count
    middle = remote.runs[1].step_count
    remote.advance(seconds=0.5)
    assert [run.status for run in remote.runs] == ["paused", "running", "cancelled"]
    assert remote.runs[0].step_count == paused_at and remote.runs[2].step_count == cancelled_at
    assert remote.runs[1].step_count > middle
    remote.resume(0)
    remote.advance(seconds=0.3)
    assert remote.runs[0].status == "running" and remote.runs[0].step_count > paused_at


def test_the_worker_trains_a_comparison_only_while_the_page_asks_for_it(table, workers):
    data, schema = table
    training = workers(workers=1)
    remote = RemoteComparison("synthetic", data, schema, CONFIGS, epochs=500, pool=training)
    pid = training.pids()[0]
    time.sleep(1.0)
    busy = cpu_seconds(pid)
    time.sleep(1.0)
    assert cpu_seconds(pid) - busy > 0.5  # training between the page's calls
    time.sleep(LEASE_SECONDS)
    idle = cpu_seconds(pid)
    time.sleep(1.5)
    assert cpu_seconds(pid) - idle < 0.1  # nobody asked: stopped
    before = remote.runs[1].step_count
    remote.refresh()
    time.sleep(1.0)
    assert remote.refresh().runs[1].step_count > before  # asked again: going again


def test_a_dead_workers_comparison_is_kept_as_it_last_was_and_says_why(table, workers):
    data, schema = table
    training = workers(workers=1)
    remote = RemoteComparison("synthetic", data, schema, CONFIGS, epochs=500, pool=training)
    remote.advance(seconds=0.3)
    remote.pause(1)
    last = remote.scores_frame()
    steps = [run.step_count for run in remote.runs]
    os.kill(training.pids()[0], signal.SIGKILL)
    time.sleep(0.5)
    view = remote.refresh()
    assert remote.notice is not None and "exit code -9" in remote.notice and "results so far are kept" in remote.notice
    assert not remote.active and [run.status for run in view.runs] == ["cancelled"] * 3
    assert all("exit code -9" in (run.message or "") for run in view.runs)
    assert [run.step_count for run in view.runs] == steps
    pd.testing.assert_frame_equal(remote.scores_frame(), last)
    assert list(remote.summary_frame().status) == ["cancelled"] * 3
    remote.pause(0)  # a control on an ended comparison does nothing, and says nothing new
    assert remote.refresh() is view


def test_a_bad_set_up_or_a_full_pool_is_refused_in_one_line(table, workers):
    data, schema = table
    training = workers(workers=1, max_sessions=1)
    with pytest.raises(DataError, match="same seed"):
        RemoteComparison("synthetic", data, schema, [CONFIGS[0], replace(CONFIGS[1], seed=5)], 2, pool=training)
    assert training.sessions == 0  # the refused comparison holds no place
    run = RemoteTrainer(data, schema, BASE, pool=training)
    with pytest.raises(PoolFull, match="the most it allows"):
        RemoteComparison("synthetic", data, schema, CONFIGS, 2, pool=training)
    run.close()
    comparison = RemoteComparison("synthetic", data, schema, CONFIGS, 2, pool=training)
    assert training.sessions == 1
    comparison.close()
    assert training.sessions == 0 and not comparison.active
