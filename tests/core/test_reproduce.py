"""``python -m core reproduce``: the table's shape, a grid stopped by Ctrl-C and rerun
(nothing run twice, nothing lost, the scan's choice reused), joining a Ray head started
separately, the imputation variant, and bad input. Tiny trials on Wine, the smallest
table of Table 1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from core.cli import main
from core.table1_overrides import parse_override
from core.table1_report import COLUMNS
from tests.paths import REPO

TINY = ["--models", "vae", "--datasets", "Wine", "--set", "hidden=8", "--set", "layers=1", "--scan-epochs", "1"]
CANDIDATES = ["pcgrad", "imtl-g", "upgrad"]


def _command(out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "core", "reproduce", *TINY, "--out", str(out), *args]


def _reproduce(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_command(out, *args), cwd=REPO, capture_output=True, text=True, timeout=600)


def _progress(stderr: str) -> list[str]:
    """The finished trials' lines: one under each progress bar line per trial of its bundle."""
    return [line for line in stderr.splitlines() if line.startswith("    vae ")]


def _trials(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((out / "trials").glob("*.json"))}


@pytest.mark.slow
def test_a_grid_stopped_by_ctrl_c_resumes_with_no_trial_run_twice_and_none_lost(tmp_path):
    grid = ["--candidates", ",".join(CANDIDATES), "--seeds", "2", "--epochs", "2", "--workers", "1"]
    process = subprocess.Popen(_command(tmp_path, *grid), cwd=REPO, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:  # the first finished bundle: the grid is at work
        seen.append(line)
        if line.startswith("["):
            break
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 130, "".join(seen) + rest
    assert rest.splitlines()[-1].startswith("error: interrupted") and "Traceback" not in rest
    first = _trials(tmp_path)
    finished_before = len(_progress("".join(seen) + rest))
    assert 1 <= finished_before == len(first) < 7  # every finished trial was written, and only those

    done = _reproduce(tmp_path, *grid)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(first)} of " in done.stderr
    after = _trials(tmp_path)
    assert len(after) == 3 + 2 + 2  # the scan, plain seeds 0-1, the chosen method's seeds 0-1
    assert len(_progress(done.stderr)) == len(after) - len(first)  # none run twice
    assert all(after[name] == text for name, text in first.items())  # earlier records untouched

    choices = json.loads((tmp_path / "choices.json").read_text())
    chosen = choices["vae/Wine"]["method"]
    assert chosen in CANDIDATES
    table = pd.read_csv(tmp_path / "table.csv", keep_default_na=False)
    assert tuple(table.columns) == COLUMNS
    wine = table[table.dataset == "Wine"].set_index("training")
    assert wine.loc["plain", "method"] == "none" and wine.loc["multi-objective", "method"] == chosen
    assert wine.seeds.tolist() == [2, 2] and wine.epochs.tolist() == [2, 2]
    assert wine.paper.tolist() == [0.08, 0.07]
    records = [json.loads(text) for text in after.values()]
    plain = sorted(r["test"]["mean_error"] for r in records if r["trial"]["method"] == "none")
    assert float(wine.loc["plain", "mean_error"]) == pytest.approx(sum(plain) / 2)  # the median of two
    imdb = table[table.dataset == "IMDB"]
    assert imdb.seeds.tolist() == [0, 0] and (imdb.mean_error == "").all() and imdb.paper.tolist() == [0.08, 0.04]
    assert "IMDB" in (tmp_path / "table.md").read_text()

    # The recorded choice is reused, not scanned again: a third seed follows it.
    other = next(m for m in CANDIDATES if m != chosen)
    choices["vae/Wine"]["method"] = other
    (tmp_path / "choices.json").write_text(json.dumps(choices))
    more = _reproduce(tmp_path, *grid[:2], "--seeds", "3", *grid[4:])
    assert more.returncode == 0, more.stderr
    assert f"scan choices reused: vae/Wine={other}" in more.stderr
    new = set(_trials(tmp_path)) - set(after)
    assert {json.loads((tmp_path / "trials" / n).read_text())["trial"]["method"] for n in new} == {"none", other}
    assert len(new) == 1 + 3  # plain seed 2, and seeds 0-2 of the method now recorded


@pytest.mark.slow
def test_a_full_length_scan_is_the_tables_seed_0_and_is_not_run_again(tmp_path):
    grid = ["--candidates", ",".join(CANDIDATES), "--seeds", "2", "--epochs", "2", "--workers", "1"]
    done = _reproduce(tmp_path, *grid, "--set", "Wine.scan_epochs=2")
    assert done.returncode == 0, done.stderr
    records = [json.loads(text) for text in _trials(tmp_path).values()]
    assert len(records) == 3 + 2 + 1  # the scan at full length, plain seeds 0-1, only seed 1 of the choice
    assert all(r["trial"]["epochs"] == 2 for r in records)
    choices = json.loads((tmp_path / "choices.json").read_text())
    assert choices["vae/Wine"]["scan"]["epochs"] == 2
    chosen = choices["vae/Wine"]["method"]
    table = pd.read_csv(tmp_path / "table.csv", keep_default_na=False)
    wine = table[table.dataset == "Wine"].set_index("training")
    assert wine.loc["multi-objective", "method"] == chosen and wine.seeds.tolist() == [2, 2]
    scan_seed_0 = next(r for r in records if r["trial"]["method"] == chosen and r["trial"]["seed"] == 0)
    assert choices["vae/Wine"]["val_mean_error"][chosen] == scan_seed_0["val"]["mean_error"]
    assert "vae/Wine: 2 epochs, scan 2 epochs" in (tmp_path / "table.md").read_text()


def test_scan_epochs_set_for_a_data_set_leaves_the_others_scan_alone(tmp_path):
    from core.reproduce import Protocol, Reproduction

    overrides = (parse_override("epochs=4"), parse_override("Wine.scan_epochs=4"))
    protocol = Protocol(
        ("vae",), ("Wine", "HI"), seeds=3, scan_epochs=1, candidates=("none", "pcgrad"), overrides=overrides
    )
    reproduction = Reproduction(protocol, tmp_path)
    wine, hi = (next(c for c in reproduction.cells if c.dataset == d) for d in ("Wine", "HI"))
    assert [t.epochs for t in reproduction.scan_trials(wine)] == [4, 4]
    assert [t.epochs for t in reproduction.scan_trials(hi)] == [1, 1]
    assert "scan_epochs" not in dict(wine.settings)  # a protocol setting, not the trials' configuration
    planned = [t for t in reproduction.planned() if t.dataset == "Wine"]
    # plain seed 0 is the scan's "none" trial: one trial, not two
    assert sorted((t.method, t.seed) for t in planned) == [("none", 0), ("none", 1), ("none", 2), ("pcgrad", 0)]
    reproduction._rows = {"Wine": 1.0, "HI": 1.0}
    assert reproduction.upcoming() == (2 + 3, 2 * 4 + 3 * 4)  # Wine's choice has seed 0 already; HI's has not


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _head_processes(temp: str) -> set[int]:
    """The live processes whose command line names ``temp``, and all their live descendants."""
    named, children = set(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue  # it ended meanwhile
        if state == "Z":
            continue  # ended, waiting for its parent: nothing left to stop
        children.setdefault(int(parent), set()).add(int(entry.name))
        if temp in command:
            named.add(int(entry.name))
    found, frontier = set(named), set(named)
    while frontier:
        frontier = set().union(*(children.get(p, set()) for p in frontier)) - found
        found |= frontier
    return found


def _stop_head(temp: str) -> None:
    """SIGTERM, then SIGKILL after 20 s, until none is left (a worker may start meanwhile)."""
    started = time.monotonic()
    while head := _head_processes(temp):
        waited = time.monotonic() - started
        assert waited < 60, f"Ray head processes {sorted(head)} outlived SIGKILL"
        for pid in head:
            with contextlib.suppress(ProcessLookupError):  # it ended by itself
                os.kill(pid, signal.SIGTERM if waited < 20 else signal.SIGKILL)
        time.sleep(0.5)


@pytest.fixture
def ray_head():
    """A Ray head on 127.0.0.1 started as a user would; stopped after the test, failures included.
    Not with ``ray stop``, which stops every Ray on the machine: the head's own processes
    (found by its private temporary folder) and their children."""
    temp = tempfile.mkdtemp(prefix="rayhead", dir="/tmp")
    port = _free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    start = [
        *("ray", "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port)),
        *("--include-dashboard=false", "--disable-usage-stats", "--num-cpus", "1", "--temp-dir", temp),
    ]
    try:
        started = subprocess.run(start, env=env, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr
        yield f"127.0.0.1:{port}"
    finally:
        _stop_head(temp)


@pytest.mark.slow
def test_address_joins_a_ray_head_started_separately_and_leaves_it_running(ray_head, tmp_path):
    done = _reproduce(tmp_path, "--address", ray_head, "--candidates", "pcgrad", "--seeds", "1", "--epochs", "1")
    assert done.returncode == 0, done.stderr
    assert f"Ray cluster {ray_head}: 1 trial at a time" in done.stderr  # the head's one CPU, not this machine's
    assert len(_trials(tmp_path)) == 2
    host, port = ray_head.split(":")
    socket.create_connection((host, int(port)), timeout=5).close()  # the head still runs


@pytest.mark.slow
def test_the_imputation_variant_scores_the_hidden_cells(tmp_path):
    done = _reproduce(tmp_path, "--impute", "--candidates", "pcgrad", "--seeds", "1", "--epochs", "1")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "impute_table.csv", keep_default_na=False)
    assert tuple(table.columns) == COLUMNS and not (tmp_path / "table.csv").exists()
    records = [json.loads(text) for text in _trials(tmp_path).values()]
    assert all(r["trial"]["impute"] and r["test_imputation"]["mean_error"] is not None for r in records)
    plain = next(r for r in records if r["trial"]["method"] == "none")
    wine = table[(table.dataset == "Wine") & (table.training == "plain")]
    assert [float(e) for e in wine.mean_error] == [pytest.approx(plain["test_imputation"]["mean_error"])]
    assert plain["test_imputation"]["mean_error"] != plain["test"]["mean_error"]  # other cells: the hidden ones
    assert wine.paper.tolist() == [""]  # the paper's imputation numbers are not among the facts


@pytest.mark.parametrize(
    "args, named",
    [
        (["--datasets", "Wine,Iris"], "unknown data set 'Iris'"),
        (["--models", "vae,gan"], "unknown model 'gan'"),
        (["--candidates", "pcgrad,bogus"], "'bogus'"),
        (["--set", "hiden=8"], "unknown setting 'hiden'"),
        (["--set", "lr=-1"], "learning rate"),
        (["--set", "Wine.scan_epochs=0"], "scan_epochs must be at least 1"),
        (["--set", "scan_epochs=long"], "scan_epochs wants an int"),
        (["--seeds", "0"], "--seeds"),
        (["--address", "nonsense"], "HOST:PORT"),
    ],
)
def test_bad_input_exits_2_with_one_error_line_before_any_work(tmp_path, capsys, args, named):
    out = tmp_path / "out"
    assert main(["reproduce", "--datasets", "Wine", "--out", str(out), *args]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and named in stderr
    assert not (out / "trials").exists()


def test_an_unreachable_address_exits_2_with_one_error_line(tmp_path, capsys, monkeypatch):
    for name in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_USAGE_STATS_ENABLED", "RAY_AUTH_MODE"):
        monkeypatch.delenv(name, raising=False)  # so what the command sets is undone after the test
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    assert main(["reproduce", "--datasets", "Wine", "--address", address, "--out", str(tmp_path)]) == 2
    stderr = capsys.readouterr().err
    assert stderr == stderr.splitlines()[0] + "\n" and stderr.startswith(
        f"error: cannot reach a Ray cluster at {address}"
    )


# Per data set: the 8 scan trials and the 3 plain seeds (the chosen method's come later).
# Bundles of 8 while there are at least as many as workers, halved until there are.
@pytest.mark.parametrize(
    ("slots", "sizes"),
    [(1, [3, 3, 8, 8]), (4, [3, 3, 8, 8]), (5, [3, 3, 4, 4, 4, 4]), (8, [1, 1, 2, 2] + [2] * 8)],
)
def test_trials_go_to_workers_in_bundles_of_one_cell_and_length(tmp_path, slots, sizes):
    from core.reproduce import Protocol, Reproduction

    candidates = ("none", "pcgrad", "imtl-g", "mgda-ub", "gradnorm", "upgrad", "cagrad", "nash-mtl")
    protocol = Protocol(("vae",), ("Wine", "HI"), seeds=3, scan_epochs=1, candidates=candidates)
    reproduction = Reproduction(protocol, tmp_path)
    reproduction._slots = slots
    reproduction._refs = {"Wine": "wine", "HI": "hi"}
    reproduction._rows = {"Wine": 1.0, "HI": 1.0}
    trials = [t for t in reproduction.planned() if t.dataset in ("Wine", "HI")]
    tasks = reproduction._tasks(trials)
    assert sorted(t.units for t in tasks) == sorted(sizes)
    bundled = [trial for task in tasks for trial in task.args[1]]
    assert sorted(t.key for t in bundled) == sorted(t.key for t in trials)  # each trial once
    for task in tasks:
        assert len({(t.dataset, t.epochs) for t in task.args[1]}) == 1 and task.units == len(task.args[1]) <= 8
    assert len(tasks) >= min(slots, len(trials))


@pytest.mark.slow
def test_kill_stops_the_grid_as_ctrl_c_does_even_when_started_in_the_background(tmp_path):
    grid = ["--candidates", ",".join(CANDIDATES), "--seeds", "1", "--epochs", "2", "--workers", "1"]
    # SIGINT ignored, as a shell without job control starts a command with `&`
    process = subprocess.Popen(
        _command(tmp_path, *grid),
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    for line in process.stderr:
        if line.startswith("["):
            break
    process.send_signal(signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(timeout=120) == 130, rest
    assert rest.splitlines()[-1].startswith("error: interrupted") and "Traceback" not in rest
    assert _trials(tmp_path)  # what finished is on disk


def _scored(key: str, error: float) -> dict:
    scores = {"mean_error": error, "mean_error_paper_metric": error, "overlooked": 1}
    return {"key": key, "stopped_by": None, "test": scores}


def test_a_rerun_with_other_models_and_data_sets_keeps_the_earlier_cells_rows(tmp_path):
    from core.reproduce import Protocol, Reproduction

    def reproduction(models: tuple[str, ...], datasets: tuple[str, ...], epochs: int) -> Reproduction:
        overrides = (parse_override(f"epochs={epochs}"),)
        protocol = Protocol(models, datasets, seeds=1, scan_epochs=1, candidates=("pcgrad",), overrides=overrides)
        return Reproduction(protocol, tmp_path)

    def rows() -> dict[tuple[str, str, str], dict]:
        table = pd.read_csv(tmp_path / "table.csv", keep_default_na=False)
        return {(r.model, r.dataset, r.training): r._asdict() for r in table.itertuples()}

    first = reproduction(("vae",), ("Wine",), 3)
    wine = next(c for c in first.cells if c.dataset == "Wine")
    first.write_tables()  # the first tables: the trial below finishes in a second run
    first.store.write(_scored(wine.trial("none", 0, 3).key, 0.25))
    first.write_tables()

    second = reproduction(("iwae",), ("HI",), 3)
    hi = next(c for c in second.cells if c.dataset == "HI")
    second.store.write(_scored(hi.trial("none", 0, 3).key, 0.5))
    second.records = second.store.finished()
    second.write_tables()
    table = rows()
    assert float(table["vae", "Wine", "plain"]["mean_error"]) == 0.25  # the first run's row, kept
    assert float(table["iwae", "HI", "plain"]["mean_error"]) == 0.5
    assert ("vae", "IMDB", "plain") in table and ("iwae", "IMDB", "plain") in table
    assert list(dict.fromkeys(m for m, _, _ in table)) == ["vae", "iwae"]  # the paper's model order
    assert "vae/Wine: 3 epochs" in (tmp_path / "table.md").read_text()
    first.write_tables()  # a run still going beside the second: it keeps the second's cells and their trials
    assert float(rows()["iwae", "HI", "plain"]["mean_error"]) == 0.5

    # The same cell at another length: its new row, not the old one beside it.
    third = reproduction(("vae",), ("Wine",), 5)
    third.write_tables()
    table = rows()
    assert table["vae", "Wine", "plain"]["epochs"] == 5 and table["vae", "Wine", "plain"]["seeds"] == 0
    assert ("iwae", "HI", "plain") in table
    assert sum(k == ("vae", "Wine", "plain") for k in table) == 1


def test_a_damaged_list_of_cells_is_named_in_one_error(tmp_path):
    from core.errors import DataError
    from core.reproduce import Protocol, Reproduction

    (tmp_path / "cells.json").write_text('[{"model": "vae"}]')
    protocol = Protocol(("vae",), ("Wine",), seeds=1, scan_epochs=1, candidates=("pcgrad",))
    with pytest.raises(DataError, match=r"cells\.json is not a list of Table 1 cells"):
        Reproduction(protocol, tmp_path)
