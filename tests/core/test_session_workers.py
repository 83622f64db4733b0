"""The dashboard's training workers (core.workers), through the real process pool: a run in a
worker trains exactly as the same Trainer in this process, a worker that dies is replaced and
its runs go on from their checkpoints, the session limit is a one-line refusal, and an idle
session gives its place back and comes back from where it was."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from core.errors import DataError
from core.synthetic import make_synthetic
from core.trainer import TrainConfig, Trainer
from core.workers import pool
from core.workers.pool import PoolFull
from core.workers.remote import RemoteTrainer

pytestmark = pytest.mark.slow  # worker processes start in seconds each

CONFIG = TrainConfig(hidden=8, layers=1, batch_size=64)


@pytest.fixture(scope="module")
def table():
    data, schema = make_synthetic(n_rows=400, seed=0)
    return data, schema


def test_a_worker_trains_as_this_process_does(table, workers):
    data, schema = table
    remote = RemoteTrainer(data, schema, CONFIG, pool=workers(workers=1))
    update = remote.train(30)
    here = Trainer(data, schema, CONFIG)
    losses = np.array([here.step().column_losses for _ in range(30)])
    np.testing.assert_array_equal(np.array([row["column_losses"] for row in update.rows]), losses)
    assert [row["step"] for row in update.rows] == list(range(1, 31)) and remote.step_count == 30
    assert update.latest is not None and update.latest.step == 30
    assert remote.evaluate("val").mean_error == here.evaluate("val").mean_error
    # a method swap in the worker applies from the next step, as in a local Trainer
    remote.set_method("pcgrad")
    here.set_method("pcgrad")
    np.testing.assert_array_equal(remote.train(1).rows[0]["column_losses"], here.step().column_losses)
    with pytest.raises(DataError, match="unknown"):
        remote.set_method("no-such-method")


def test_playing_trains_in_the_worker_until_paused(table, workers):
    data, schema = table
    remote = RemoteTrainer(data, schema, CONFIG, pool=workers(workers=1))
    remote.play()
    time.sleep(1.5)
    fetched = remote.fetch()
    paused = remote.pause()
    steps = [row["step"] for row in fetched.rows + paused.rows]
    assert len(steps) > 10 and steps == list(range(1, remote.step_count + 1))
    assert not remote.playing
    assert remote.fetch().rows == []  # paused: nothing more


def test_a_dead_worker_is_replaced_and_the_run_goes_on_from_its_checkpoint(table, workers):
    data, schema = table
    training = workers(workers=1, checkpoint_seconds=0.0)  # a checkpoint with every fetch
    remote = RemoteTrainer(data, schema, CONFIG, pool=training)
    remote.train(20)
    old = training.pids()[0]
    os.kill(old, signal.SIGKILL)
    time.sleep(0.5)
    update = remote.train(5)
    assert training.pids()[0] not in (None, old)
    assert remote.notice is not None and "exit code -9" in remote.notice and "step 20" in remote.notice
    assert remote.rewound_to == 20 and [row["step"] for row in update.rows] == [21, 22, 23, 24, 25]
    # the same numbers as a run never interrupted
    here = Trainer(data, schema, CONFIG)
    for _ in range(20):
        here.step()
    expected = [here.step().column_losses for _ in range(5)]
    np.testing.assert_array_equal([row["column_losses"] for row in update.rows], expected)


def test_a_dead_worker_before_any_checkpoint_restarts_the_run_at_step_0(table, workers):
    data, schema = table
    training = workers(workers=1)
    remote = RemoteTrainer(data, schema, CONFIG, pool=training)
    remote.train(3)  # within CHECKPOINT_SECONDS: no checkpoint yet
    os.kill(training.pids()[0], signal.SIGKILL)
    time.sleep(0.5)
    remote.fetch()
    assert "restarted from step 0" in remote.notice and remote.step_count == 0 and remote.rewound_to == 0


def test_past_the_limit_a_session_is_refused_in_one_line_and_gets_in_when_a_place_frees(table, workers):
    data, schema = table
    training = workers(workers=1, max_sessions=1)
    first = RemoteTrainer(data, schema, CONFIG, pool=training)
    second = RemoteTrainer(data, schema, CONFIG, pool=training)
    assert first.placed and not second.placed
    assert second.notice == (
        "the server is training 1 sessions, the most it allows; you can still browse the data and the lesson"
    )
    with pytest.raises(PoolFull):
        second.train(1)
    first.close()
    assert len(second.train(2).rows) == 2 and second.placed


def test_an_idle_session_gives_its_place_back_and_comes_back_where_it_was(table, workers, monkeypatch):
    monkeypatch.setattr(pool, "REAP_EVERY_SECONDS", 0.0)
    data, schema = table
    training = workers(workers=1, max_sessions=1, idle_seconds=0.5, checkpoint_seconds=0.0)
    idle = RemoteTrainer(data, schema, CONFIG, pool=training)
    idle.train(7)
    time.sleep(1.0)
    newcomer = RemoteTrainer(data, schema, CONFIG, pool=training)
    assert newcomer.placed and training.sessions == 1  # the idle one was released for it
    newcomer.close()
    update = idle.train(1)
    assert update.rows[0]["step"] == 8 and idle.notice is None  # silently back, from step 7
