"""The files the dashboard offers for download, as text or bytes.

Histories come out with one row per kept point and one column per field; a per-column
field becomes one column per table column (``loss[age]``, ``weight[age]``, ...).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.bundle import DEFAULT_SAMPLER, bundle_archive, bundle_from_trainer
from core.history import History
from core.race import RaceRecord
from core.trainer import Evaluation, Trainer


def history_frame(history: History, names: Sequence[str]) -> pd.DataFrame:
    """A history as a table; fields holding one value per column are spread over columns."""
    columns: dict[str, np.ndarray] = {}
    for field in history.names:
        values = history.field(field)
        if values.ndim == 1:
            columns[field] = values
        else:
            for k, name in enumerate(names):
                columns[f"{field}[{name}]"] = values[:, k]
    return pd.DataFrame(columns)


def histories_json(steps: History, evaluations: History, names: Sequence[str]) -> str:
    """Both histories in one JSON document; missing numbers are null."""
    document = {
        "columns": list(names),
        "steps": json.loads(history_frame(steps, names).to_json(orient="records")),
        "evaluations": json.loads(history_frame(evaluations, names).to_json(orient="records")),
    }
    return json.dumps(document, indent=1)


def metrics_frame(evaluation: Evaluation) -> pd.DataFrame:
    """One row per column of an evaluation."""
    return pd.DataFrame(
        [
            {
                "column": s.name,
                "type": s.type.value,
                "split": evaluation.split,
                "error": s.error,
                "baseline_error": s.baseline_error,
                "overlooked": s.overlooked,
                "shift_error": s.shift_error,
            }
            for s in evaluation.scores
        ]
    )


def bundle_info(table_name: str, method: str, epochs: float, race: RaceRecord | None) -> dict:
    """What a model bundle says of how its run was trained (``core.bundle``'s ``info``)."""
    return {"table": table_name, "method": method, "epochs": epochs, "race": race and race.to_dict()}


def bundle_zip(trainer: Trainer, table_name: str, race: RaceRecord | None) -> bytes:
    """The run as a model bundle (``core.bundle``), zipped; unzipped, a folder ``TableModel.load`` reads."""
    info = bundle_info(table_name, trainer.method, trainer.epoch, race)
    return bundle_archive(bundle_from_trainer(trainer, DEFAULT_SAMPLER, info))
