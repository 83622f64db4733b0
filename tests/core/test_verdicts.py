"""The verdicts of a finished run in metrics.json and in core train's summary (core.verdicts)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.fit_stats import MISFIT_DISTANCE
from core.schema import Column, ColumnType, Schema


@pytest.fixture(scope="module")
def amounts_as_counts(tmp_path_factory):
    """Two independent wide amounts typed count (a Poisson each), one latent dimension."""
    folder = tmp_path_factory.mktemp("amounts")
    rng = np.random.default_rng(0)
    n = 400
    pd.DataFrame(
        {
            "salary": np.round(np.exp(10.5 + 0.6 * rng.normal(size=n))),
            "balance": np.round(np.exp(8 + 1.0 * rng.normal(size=n))),
        }
    ).to_csv(folder / "amounts.csv", index=False)
    schema = Schema((Column("salary", ColumnType.COUNT), Column("balance", ColumnType.COUNT)))
    (folder / "types.json").write_text(schema.to_json())
    return folder


def test_train_writes_the_fit_check_and_why_overlooked_and_prints_them(amounts_as_counts, tmp_path, capsys):
    args = ["train", "--data", str(amounts_as_counts / "amounts.csv"), "--types", str(amounts_as_counts / "types.json")]
    settings = ["--latent", "1", "--hidden", "16", "--layers", "2", "--batch-size", "400", "--lr", "0.01"]
    assert main([*args, *settings, "--epochs", "150", "--seed", "0", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    verdicts = metrics["verdicts"]
    assert verdicts["misfit_distance"] == MISFIT_DISTANCE
    balance = verdicts["fit"]["balance"]
    assert balance["misfit"] is True and balance["measure"] == "KS"
    assert balance["distance"] > MISFIT_DISTANCE and "try positive" in balance["sentence"]
    overlooked = {f["name"] for f in metrics["features"] if f["overlooked"]}
    assert "balance" in overlooked and set(verdicts["why_overlooked"]) == overlooked
    assert verdicts["why_overlooked"]["balance"]["verdict"] == "misfit"
    assert set(verdicts["fit"]) == {"salary", "balance"}
    printed = capsys.readouterr().out
    assert "misfit balance: samples spread" in printed
    assert "why balance is overlooked: misfit:" in printed
