"""The Ray grid engine (``core.ray_engine``) and one trial (``core.trial``): a trial run
through Ray gives the numbers of the same trial run in this process; a task whose
worker dies is retried; a task that raises comes back as an error; priorities order the
work and follow-up tasks run. One local Ray session serves the whole module."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest

from core import synthetic
from core.io import LoadedTable
from core.ray_engine import Finished, Progress, RaySession, Task
from core.run import train_run
from core.synthetic import make_synthetic
from core.trial import Trial, TrialStore, run_trial, run_trials_stacked


@pytest.fixture(scope="module")
def session():
    with RaySession(workers=2) as ray_session:  # stopped at the end of the module, failures included
        yield ray_session


@pytest.fixture(scope="module")
def table() -> LoadedTable:
    frame, schema = make_synthetic(n_rows=300, seed=0)  # its true schema has an ordinal column
    return LoadedTable("synthetic", frame, schema, None, None)


SETTINGS = (("batch_size", 64), ("hidden", 8), ("layers", 1))


def _numbers(record: dict) -> dict:
    """Everything a record holds that training decides (not timings, host or versions)."""
    return {k: record[k] for k in ("key", "trial", "config", "epochs_trained", "stopped_by", "test", "val", "history")}


def test_a_trial_through_ray_gives_the_numbers_of_the_same_trial_in_process(session, table):
    trials = [Trial("vae", "synthetic", method, 1, 2, False, SETTINGS) for method in ("none", "imtl-g+pcgrad")]
    ref = session.put(table)
    finished = session.run([Task(t.key, run_trial, (ref, t)) for t in trials])
    assert [f.error for f in finished] == [None, None]
    by_key = {f.value["key"]: f.value for f in finished}
    for trial in trials:
        through_ray = by_key[trial.key]
        assert through_ray["torch_threads"] == 1
        assert _numbers(through_ray) == _numbers(run_trial(table, trial))
    columns = through_ray["test"]["columns"]
    assert {"name", "type", "error", "paper_error", "baseline_error", "overlooked"} == set(columns[0])
    assert through_ray["test"]["mean_error"] == pytest.approx(sum(c["error"] for c in columns) / len(columns))


def test_a_bundle_of_trials_through_ray_gives_each_trial_its_record_alone(session, table):
    """Seeds and methods of one cell, trained stacked in one task: every record has the keys
    and the numbers of its trial run alone (the trial files are alike)."""
    trials = [Trial("vae", "synthetic", m, seed, 2, False, SETTINGS) for seed in (0, 1) for m in ("none", "gradnorm")]
    [finished] = session.run([Task("bundle", run_trials_stacked, (session.put(table), trials))])
    assert finished.error is None
    for trial, record in zip(trials, finished.value, strict=True):
        alone = run_trial(table, trial)
        assert record.keys() == alone.keys() and record["timing"].keys() == alone["timing"].keys()
        assert _numbers(record) == _numbers(alone)


def test_the_paper_metric_scores_ordinals_by_class_shift_and_the_rest_as_the_primary_one(table):
    trial = Trial("vae", "synthetic", "none", 0, 1, False, SETTINGS)
    record = run_trial(table, trial)
    trainer = train_run(table, trial.config(), trial.epochs).trainer  # the same run, to score by hand
    rows = trainer.splits["test"]
    predicted, truth, seen = trainer.reconstruct(rows).numpy(), trainer.targets[rows].numpy(), trainer.observed[rows]
    columns = record["test"]["columns"]
    j = [c["type"] for c in columns].index("ordinal")
    observed = seen[:, j].numpy()
    shift = np.abs(np.rint(predicted[observed, j]) - truth[observed, j]).mean() / len(synthetic.LEVELS)
    assert columns[j]["paper_error"] == pytest.approx(shift)
    assert columns[j]["error"] == pytest.approx((np.rint(predicted[observed, j]) != truth[observed, j]).mean())
    assert all(c["paper_error"] == c["error"] for i, c in enumerate(columns) if i != j)
    assert record["test"]["mean_error_paper_metric"] == pytest.approx(np.mean([c["paper_error"] for c in columns]))


def die_the_first_time(marker: str) -> str:
    """Kills its own worker process unless ``marker`` exists (then creates it first)."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return "second try"


def raise_data_error(message: str) -> None:
    from core.errors import DataError

    raise DataError(message)


def test_a_task_whose_worker_dies_is_retried(session, tmp_path):
    marker = str(tmp_path / "died-once")
    [finished] = session.run([Task("dies", die_the_first_time, (marker,))])
    assert finished.error is None and finished.value == "second try"
    assert os.path.exists(marker)


def identity(value: int) -> int:
    return value


def test_a_task_that_raises_comes_back_as_its_error_and_the_others_go_on(session):
    finished = session.run([Task("bad", raise_data_error, ("no such column",)), Task("good", identity, (1,))])
    errors = {f.task.key: f.error for f in finished}
    assert errors == {"bad": "DataError: no such column", "good": None}


def test_tasks_run_in_priority_order_follow_ups_run_too_and_progress_counts_them(session, monkeypatch):
    monkeypatch.setattr(session, "slots", 1)  # one at a time: the finishing order is the running order
    seen: list[Finished] = []
    reports: list[Progress] = []

    def follow(finished: Finished) -> list[Task]:
        seen.append(finished)
        return [Task("follow-up", identity, (99,), priority=(0,))] if finished.task.key == "first" else []

    def upcoming() -> tuple[int, float]:  # the follow-up, until "first" has added it
        return (0, 0.0) if any(f.task.key == "first" for f in seen) else (1, 1.0)

    tasks = [Task(f"t{i}", identity, (i,), priority=(2, -i)) for i in range(3)]
    finished = session.run(
        [*tasks, Task("first", identity, (-1,), priority=(1,))], follow, upcoming, report=reports.append
    )
    assert [f.task.key for f in finished] == ["first", "follow-up", "t2", "t1", "t0"]
    assert [f.value for f in finished] == [-1, 99, 2, 1, 0]
    assert seen == finished
    assert [(p.done, p.running, p.left) for p in reports] == [(1, 1, 3), (2, 1, 2), (3, 1, 1), (4, 1, 0), (5, 0, 0)]
    assert all(p.eta is not None and p.eta >= 0 for p in reports) and reports[-1].eta == 0


def test_the_trial_store_holds_only_whole_records(tmp_path, table):
    store = TrialStore(tmp_path / "trials")
    record = run_trial(table, Trial("vae", "synthetic", "none", 0, 1, False, SETTINGS))
    path = store.write(record)
    (tmp_path / "trials" / "stray.json").write_text("{not json")
    (tmp_path / "trials" / "other.json").write_text(json.dumps({"key": "not-its-name"}))
    assert list(store.finished()) == [record["key"]]
    assert path.name == f"{record['key']}.json" and not list((tmp_path / "trials").glob(".*partial"))


def test_a_session_turns_ctrl_c_and_sigterm_into_keyboard_interrupt_and_gives_the_handlers_back(session):
    numbers = (signal.SIGINT, signal.SIGTERM)
    outer = {number: signal.getsignal(number) for number in numbers}
    try:
        for number in numbers:  # ignored, as in a command a shell started in the background
            signal.signal(number, signal.SIG_IGN)
        with RaySession(workers=1):  # joins the module's Ray
            for number in numbers:
                with pytest.raises(KeyboardInterrupt):
                    signal.getsignal(number)(number, None)
        assert [signal.getsignal(number) for number in numbers] == [signal.SIG_IGN, signal.SIG_IGN]
    finally:
        for number, handler in outer.items():
            signal.signal(number, handler)
