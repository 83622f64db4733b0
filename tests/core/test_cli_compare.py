"""``python -m core compare``: the grid's files, paired seeds that give the same numbers in a
worker process as in this one, progress lines, divergence, and bad arguments."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pandas as pd
import pytest

from core.cli import main
from core.io import load_table
from core.run import train_run
from core.synthetic import make_synthetic
from core.trainer import TrainConfig
from tests.paths import REPO

METHODS = ["none", "imtl-g+pcgrad"]
SETTINGS = ["--epochs", "1", "--batch-size", "64", "--hidden", "8", "--layers", "1"]


def _compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", "compare", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "synthetic.csv"
    make_synthetic(n_rows=400, seed=0)[0].to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def grid(table_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    done = _compare(
        "--data",
        str(table_path),
        "--methods",
        ",".join(METHODS),
        "--seeds",
        "2",
        "--workers",
        "2",
        "--out",
        str(out),
        *SETTINGS,
    )
    return done, out


def test_the_grid_writes_runs_summary_figure_and_run_metrics(grid, table_path):
    done, out = grid
    assert done.returncode == 0, done.stderr
    columns = [c.name for c in load_table(table_path).schema.features]
    runs = pd.read_csv(out / "runs.csv")
    assert runs.columns.tolist() == ["method", "seed", "column", "type", "error", "baseline_error", "overlooked"]
    assert len(runs) == len(METHODS) * 2 * len(columns)
    assert set(zip(runs.method, runs.seed, strict=True)) == {(m, s) for m in METHODS for s in (0, 1)}
    assert runs.error.notna().all()
    summary = pd.read_csv(out / "summary.csv")
    assert summary.method.tolist() == METHODS
    assert summary.columns[:8].tolist() == [
        "method",
        "runs",
        "stopped",
        "mean_error",
        "mean_error_min",
        "mean_error_max",
        "worst_error",
        "overlooked",
    ]
    assert summary.columns[8:].tolist() == [f"error[{c}]" for c in columns]
    medians = runs.groupby(["method", "seed"]).error.mean().groupby("method").median()
    assert summary.set_index("method").mean_error.to_dict() == pytest.approx(medians.to_dict())
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "figure.html").read_text()
    assert "vegaEmbed" in html and "cdn.jsdelivr" not in html  # works offline
    for method in METHODS:
        for seed in (0, 1):
            run_dir = out / "runs" / f"{method}_seed{seed}"
            assert json.loads((run_dir / "metrics.json").read_text())["method"] == method
            assert not (run_dir / "model.pt").exists()


def test_worker_processes_give_bit_identical_errors_to_a_run_alone(grid, table_path):
    _, out = grid
    table = load_table(table_path)
    runs = pd.read_csv(out / "runs.csv")
    for method in METHODS:
        for seed in (0, 1):
            config = TrainConfig(method=method, seed=seed, batch_size=64, hidden=8, layers=1, device="cpu")
            alone = train_run(table, config, epochs=1)
            expected = [s.error for s in alone.test.scores]
            in_worker = json.loads((out / "runs" / f"{method}_seed{seed}" / "metrics.json").read_text())
            assert [f["error"] for f in in_worker["features"]] == expected
            assert runs[(runs.method == method) & (runs.seed == seed)].error.tolist() == expected


def test_progress_has_a_line_per_run_with_its_error_and_an_eta(grid):
    done, _ = grid
    lines = [line for line in done.stderr.splitlines() if line.startswith("[")]
    assert len(lines) == 4
    assert all("mean error 0." in line and "ETA" in line for line in lines)
    assert lines[-1].startswith("[4/4]")
    assert "4 of 4 runs finished" in done.stdout


def test_a_diverging_grid_records_every_run_and_goes_on(table_path, tmp_path):
    done = _compare(
        "--data",
        str(table_path),
        "--methods",
        "none,pcgrad",
        "--seeds",
        "2",
        "--workers",
        "2",
        "--lr",
        "1e6",
        "--out",
        str(tmp_path),
        "--save-models",
        *SETTINGS,
    )
    assert done.returncode == 0, done.stderr
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) and runs.error.isna().all() and runs.baseline_error.notna().all()
    assert pd.read_csv(tmp_path / "summary.csv").stopped.tolist() == [2, 2]
    metrics = json.loads((tmp_path / "runs" / "pcgrad_seed1" / "metrics.json").read_text())
    assert "learning rate" in metrics["stopped_by"]
    assert (tmp_path / "runs" / "pcgrad_seed1" / "model.pt").exists()
    assert done.stderr.count("stopped early") == 8  # a progress line and a warning per run


@pytest.mark.parametrize(
    "args, named",
    [
        (["--methods", "none,imtl-g,bogus"], "'bogus'"),
        (["--methods", "none,none"], "'none' is listed twice"),
        (["--methods", "none", "--seeds", "0"], "--seeds"),
        (["--methods", "none", "--workers", "0"], "--workers"),
        (["--methods", "none", "--lr", "-1"], "learning rate"),
    ],
)
def test_bad_arguments_exit_2_with_one_error_line_before_any_run(table_path, tmp_path, capsys, args, named):
    out = tmp_path / "out"
    assert main(["compare", "--data", str(table_path), "--out", str(out), *SETTINGS, *args]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and named in stderr
    assert not (out / "runs").exists()


def test_unreadable_data_exits_2(tmp_path, capsys):
    bad = tmp_path / "table.csv"
    bad.write_bytes(b"\x00\x01binary")
    assert main(["compare", "--data", str(bad), "--methods", "none", "--out", str(tmp_path / "out")]) == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith("error: ") and "binary" in stderr


def test_ctrl_c_stops_the_workers_with_one_line_and_keeps_finished_runs(table_path, tmp_path):
    # Started with SIGINT ignored, as a shell without job control starts a background command:
    # the signal must stop the grid all the same.
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "core",
            "compare",
            "--data",
            str(table_path),
            "--methods",
            "none",
            "--seeds",
            "50",
            "--workers",
            "2",
            "--out",
            str(tmp_path),
            *SETTINGS,
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    first = process.stderr.readline()  # the first finished run: the pool is at work
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130
    assert first.startswith("[1/50] none seed")
    assert rest.splitlines()[-1].startswith("error: interrupted") and "Traceback" not in rest
    assert (tmp_path / "runs" / f"none_seed{first.split()[3].rstrip(':')}" / "metrics.json").exists()
