"""`python -m core train` and `python -m core methods`: outputs and one-line errors."""

import json
import subprocess
import sys

import pytest
import torch

from core.cli import main
from core.mtl import METHODS
from core.synthetic import make_synthetic
from tests.paths import REPO


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    df, _ = make_synthetic(n_rows=300, seed=1)
    path = tmp_path_factory.mktemp("data") / "synthetic.csv"
    df.to_csv(path, index=False)
    return path


def _train(csv_path, out, *extra):
    return main(
        [
            "train",
            "--data",
            str(csv_path),
            "--epochs",
            "2",
            "--seed",
            "3",
            "--out",
            str(out),
            "--hidden",
            "16",
            "--batch-size",
            "32",
            *extra,
        ]
    )


def test_train_writes_metrics_and_a_loadable_model(csv_path, tmp_path, capsys):
    assert _train(csv_path, tmp_path, "--method", "imtl-g+pcgrad", "--model", "iwae", "--importance-samples", "3") == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) >= {"dataset", "model", "method", "seed", "epochs", "mean_error", "features", "history"}
    assert (metrics["model"], metrics["method"], metrics["seed"], metrics["epochs"]) == ("iwae", "imtl-g+pcgrad", 3, 2)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    for f in metrics["features"]:
        assert set(f) == {"name", "type", "error", "baseline_error", "overlooked"}
        assert f["overlooked"] == (f["error"] >= 0.9 * f["baseline_error"] and f["baseline_error"] > 0)
    errors = [f["error"] for f in metrics["features"]]
    assert metrics["mean_error"] == pytest.approx(sum(errors) / len(errors))
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert state["step"] > 0 and "model" in state and state["config"]["method"] == "imtl-g+pcgrad"
    assert "test mean error" in capsys.readouterr().out


def test_train_on_a_hivae_folder_uses_its_types(tmp_path):
    assert (
        main(
            [
                "train",
                "--data",
                str(REPO / "sample_data" / "Wine"),
                "--epochs",
                "1",
                "--out",
                str(tmp_path),
                "--hidden",
                "8",
                "--layers",
                "1",
                "--batch-size",
                "512",
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    types = [f["type"] for f in metrics["features"]]
    assert types.count("positive") == 11 and types.count("binary") == 1 and len(types) == 13


def test_same_seed_same_metrics(csv_path, tmp_path):
    for name in ("a", "b"):
        assert _train(csv_path, tmp_path / name, "--method", "graddrop") == 0
    a, b = (json.loads((tmp_path / n / "metrics.json").read_text()) for n in ("a", "b"))
    assert a == b


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--method", "nope"], "unknown method"),
        (["--model", "gan"], "invalid choice"),
        (["--epochs", "0"], "at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(csv_path, tmp_path, capsys, args, needle):
    assert _train(csv_path, tmp_path, *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]


def test_unreadable_data_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02garbage")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_diverging_learning_rate_is_one_line_and_keeps_results(csv_path, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "core",
            "train",
            "--data",
            str(csv_path),
            "--epochs",
            "3",
            "--lr",
            "1e30",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
    assert len(lines) == 1 and "learning rate" in lines[0] and "Traceback" not in proc.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "stopped_by" in metrics and all(
        torch.isfinite(p).all()
        for p in torch.load(tmp_path / "model.pt", weights_only=True)["model"].values()
        if p.is_floating_point()
    )


def test_methods_lists_every_method(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in METHODS:
        assert any(line.startswith(name + " ") for line in out.splitlines())
