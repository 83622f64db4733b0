"""Trials measured under earlier combination rules (``core.trial.COMBINATION_RULES``): run
again, and shown, so said, until then."""

from __future__ import annotations

import json

import pandas as pd

from core.reproduce import Protocol, Reproduction
from core.table1_overrides import parse_override
from core.trial import COMBINATION_RULES


def _scored(key: str, error: float) -> dict:
    scores = {"mean_error": error, "mean_error_paper_metric": error, "overlooked": 1}
    return {"key": key, "stopped_by": None, "test": scores, "val": scores}


def _multi_row(out) -> dict:
    table = pd.read_csv(out / "table.csv", keep_default_na=False)
    return table[(table.dataset == "Wine") & (table.training == "multi-objective")].iloc[0].to_dict()


def test_a_cell_measured_under_earlier_rules_is_scanned_again_and_shows_its_old_row_until_then(tmp_path):
    protocol = Protocol(("vae",), ("Wine",), 1, 1, ("none", "pcgrad"), overrides=(parse_override("epochs=3"),))
    first = Reproduction(protocol, tmp_path)
    wine = next(c for c in first.cells if c.dataset == "Wine")
    plain, multi = wine.trial("none", 0, 3), wine.trial("pcgrad", 0, 3)
    scan_plain, scan_multi = wine.trial("none", 0, 1), wine.trial("pcgrad", 0, 1)
    assert COMBINATION_RULES == 2
    assert plain.key == plain.key_under(1)  # plain training is the same under every rules
    assert multi.key != multi.key_under(1) and "rules" not in multi.identity(1)
    # an earlier run, under rules 1: its scan's choice (recorded without rules) and its trials
    scan = {k: v for k, v in first._scan_settings(wine).items() if k != "rules"}
    (tmp_path / "choices.json").write_text(json.dumps({"vae/Wine": {"method": "pcgrad", "scan": scan}}))
    for trial, error in ((plain, 0.25), (multi, 0.125), (scan_plain, 0.5), (scan_multi, 0.375)):
        first.store.write(_scored(trial.key_under(1), error))

    again = Reproduction(protocol, tmp_path)
    assert again.choice(wine) is None  # the scan is made again ...
    todo = {t.key for t in again.planned() if t.key not in again.records}
    assert todo == {scan_multi.key}  # ... of its multi-objective candidates only: plain is kept
    again.write_tables()
    row = _multi_row(tmp_path)
    assert (row["method"], float(row["mean_error"]), row["rules"]) == ("pcgrad", 0.125, "1")
    assert "rules: the combination rules" in (tmp_path / "table.md").read_text()

    again.store.write(_scored(multi.key, 0.0625))  # the cell run again under the current rules
    again.records = again.store.finished()
    again.write_tables()
    row = _multi_row(tmp_path)
    assert (float(row["mean_error"]), row["rules"]) == (0.0625, str(COMBINATION_RULES))
    plain_row = pd.read_csv(tmp_path / "table.csv", keep_default_na=False).iloc[0]
    assert (plain_row.training, float(plain_row.mean_error), plain_row.rules) == ("plain", 0.25, "")
