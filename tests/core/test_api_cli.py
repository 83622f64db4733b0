"""``python -m core sample`` / ``impute`` and the bundle ``train --out`` writes; bad input gets one
``error:`` line and exit code 2."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core import TableModel
from core.cli import main
from core.synthetic import make_synthetic
from tests.paths import SAMPLES


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    table, schema = make_synthetic(300, seed=4, missing_rate=0.1)
    folder = tmp_path_factory.mktemp("cli") / "model"
    TableModel(epochs=2).fit(table, method="none", schema=schema).save(folder)
    data = tmp_path_factory.mktemp("cli_data") / "gaps.csv"
    table.to_csv(data, index=False)
    return folder, data, table


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_sample_writes_the_rows_asked_for(bundle_dir, tmp_path, capsys):
    folder, _, table = bundle_dir
    out = tmp_path / "synthetic.csv"
    assert main(["sample", "--model", str(folder), "--rows", "25", "--out", str(out), "--seed", "3"]) == 0
    rows = pd.read_csv(out)
    assert len(rows) == 25 and list(rows.columns) == list(table.columns)
    again = tmp_path / "again.csv"
    assert main(["sample", "--model", str(folder), "--rows", "25", "--out", str(again), "--seed", "3"]) == 0
    assert out.read_text() == again.read_text()
    assert "25 synthetic rows" in capsys.readouterr().out


def test_impute_fills_the_gaps_of_a_csv(bundle_dir, tmp_path):
    folder, data, table = bundle_dir
    out = tmp_path / "filled.csv"
    assert main(["impute", "--model", str(folder), "--data", str(data), "--out", str(out)]) == 0
    filled = pd.read_csv(out)
    assert filled.shape == table.shape and not filled.isna().to_numpy().any()
    observed = table["real"].notna()
    assert filled.loc[observed, "real"].tolist() == pytest.approx(table.loc[observed, "real"].tolist())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sample", "--rows", "0"], "must be at least 1"),
        (["sample", "--rows", "-3"], "must be at least 1"),
        (["sample", "--rows", "ten"], "not a whole number"),
    ],
)
def test_a_bad_row_count_is_one_error_line(bundle_dir, tmp_path, capsys, args, message):
    folder, _, _ = bundle_dir
    code = main([*args, "--model", str(folder), "--out", str(tmp_path / "x.csv")])
    assert code == 2 and message in _one_error_line(capsys)
    assert not (tmp_path / "x.csv").exists()


def test_a_wrong_bundle_is_one_error_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["sample", "--model", str(tmp_path / "empty"), "--rows", "5", "--out", str(tmp_path / "x.csv")]) == 2
    assert "not a model bundle" in _one_error_line(capsys)
    assert main(["sample", "--model", str(tmp_path / "none"), "--rows", "5", "--out", str(tmp_path / "x.csv")]) == 2
    assert "no model bundle" in _one_error_line(capsys)


def test_a_table_lacking_a_trained_column_is_one_error_line(bundle_dir, tmp_path, capsys):
    folder, _, table = bundle_dir
    partial = tmp_path / "partial.csv"
    table.drop(columns="count").to_csv(partial, index=False)
    code = main(["impute", "--model", str(folder), "--data", str(partial), "--out", str(tmp_path / "f.csv")])
    assert code == 2 and "lacks the trained column 'count'" in _one_error_line(capsys)


def test_train_with_auto_writes_a_bundle_and_records_the_race(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", str(SAMPLES / "penguins.csv"), "--method", "auto", "--epochs", "4", "--out", str(out)]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    race = metrics["race"]
    assert race["winner"] == metrics["method"] and race["margin"] >= 0
    assert len(race["rounds"][0]["validation_error"]) == len(race["candidates"]) == 8
    model = TableModel.load(out)
    assert model.method == metrics["method"]
    assert len(model.sample(10)) == 10
    capsys.readouterr()
