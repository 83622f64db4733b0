""" "Fix it"'s race in the dashboard's worker processes (core.workers.remote_race), through the
real pool: the race a worker runs is the race run here, it trains only while its page plays it,
and a dead worker or a full pool stops it with a one-line reason."""

from __future__ import annotations

import io
import os
import signal
import time

import pytest
import torch

from core.race import Race
from core.synthetic import make_synthetic
from core.trainer import TrainConfig
from core.workers.live_comparison import LEASE_SECONDS
from core.workers.remote import RemoteTrainer
from core.workers.remote_race import RaceStopped, RemoteRace

pytestmark = pytest.mark.slow  # worker processes start in seconds each

CONFIG = TrainConfig(hidden=8, layers=1, batch_size=128, seed=1)


@pytest.fixture(scope="module")
def table():
    return make_synthetic(n_rows=600, seed=0)


def test_the_race_a_worker_runs_is_the_race_run_here(table, workers):
    data, schema = table
    remote = RemoteRace(data, schema, CONFIG, race_epochs=4, pool=workers(workers=1))
    assert not remote.finished and all(c.step_count == 0 for c in remote.candidates)
    while not remote.finished:
        remote.advance(50)
    here = Race(data, schema, CONFIG, 4)
    record = here.run()
    assert remote.view.record == record
    assert [c.history for c in remote.candidates] == [tuple(c.history) for c in here.candidates]
    state, config = remote.winner_state()
    assert config == here.winner.trainer.config
    expected = here.winner.trainer.state_dict()["model"]
    mine = torch.load(io.BytesIO(state), weights_only=False)["model"]
    assert all(torch.equal(mine[name], value) for name, value in expected.items())


def test_the_worker_trains_the_race_only_while_its_page_plays_it(table, workers):
    data, schema = table
    remote = RemoteRace(data, schema, CONFIG, race_epochs=400, pool=workers(workers=1))
    remote.refresh(playing=True)
    time.sleep(1.0)
    playing = remote.refresh(playing=True).steps
    assert playing > 0
    paused = remote.pause().steps
    time.sleep(1.0)
    assert remote.refresh(playing=False).steps == paused  # paused at once
    remote.refresh(playing=True)
    time.sleep(LEASE_SECONDS + 1.0)  # the page stopped asking
    lapsed = remote.pause().steps
    time.sleep(1.0)
    assert remote.refresh(playing=False).steps == lapsed


def test_a_dead_worker_or_a_full_pool_stops_the_race_in_one_line(table, workers):
    data, schema = table
    training = workers(workers=1, max_sessions=2)
    run = RemoteTrainer(data, schema, CONFIG, pool=training)
    remote = RemoteRace(data, schema, CONFIG, race_epochs=400, pool=training)
    with pytest.raises(RaceStopped, match="the most it allows"):
        RemoteRace(data, schema, CONFIG, race_epochs=4, pool=training)
    os.kill(training.pids()[0], signal.SIGKILL)
    time.sleep(0.5)
    with pytest.raises(RaceStopped, match=r"^the race stopped: the training worker stopped \(exit code -9\)$"):
        remote.refresh(playing=True)
    run.close()
