"""What a page reads of a comparison at one moment, as plain data that crosses processes.

``Comparison.view()`` builds one: each run's state and latest scores (``RunView``) and the
frames the compare view draws, so that a comparison trained in a worker process
(``core.workers.remote_comparison``) is drawn, exported and checked exactly like one trained
here. The JSON export is a function of the view alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

import pandas as pd

from core.configurations import fairness_notes
from core.records import Evaluation
from core.trainer import TrainConfig

RUNNING, PAUSED, CANCELLED, FINISHED, DIVERGED = "running", "paused", "cancelled", "finished", "diverged"


@dataclass(frozen=True)
class RunView:
    """One configuration's state and its latest validation scores."""

    label: str
    config: TrainConfig
    status: str
    message: str | None  # why the run stopped early
    step_count: int
    epoch: float
    total_steps: int
    evaluate_every: int
    evaluation: Evaluation
    evaluated_at: int  # the step ``evaluation`` is of

    @property
    def progress(self) -> float:
        return self.step_count / self.total_steps

    @property
    def active(self) -> bool:
        return self.status == RUNNING


@dataclass(frozen=True)
class ComparisonView:
    table_name: str
    seed: int
    epochs: int
    configs: list[TrainConfig]
    labels: list[str]
    names: list[str]  # the table's trained columns
    stacked: bool
    same_initial_weights: bool
    runs: list[RunView]
    summary: pd.DataFrame  # Comparison.summary_frame() and the three below, at the same moment
    scores: pd.DataFrame
    curves: pd.DataFrame
    losses: pd.DataFrame

    @property
    def active(self) -> bool:
        return any(run.active for run in self.runs)

    def fairness(self) -> tuple[bool, list[str]]:
        return fairness_notes(self.configs, self.same_initial_weights)

    def summary_frame(self) -> pd.DataFrame:
        return self.summary

    def scores_frame(self) -> pd.DataFrame:
        return self.scores

    def curves_frame(self) -> pd.DataFrame:
        return self.curves

    def losses_frame(self) -> pd.DataFrame:
        return self.losses

    def halted(self, status: str, message: str) -> ComparisonView:
        """This view with every running or paused run set to ``status``, saying ``message``
        (the comparison can no longer train: its worker is gone)."""
        runs = [
            replace(run, status=status, message=message) if run.status in (RUNNING, PAUSED) else run
            for run in self.runs
        ]
        summary = self.summary.copy()
        summary["status"] = [run.status for run in runs]
        return replace(self, runs=runs, summary=summary)

    def to_json(self) -> str:
        """The whole comparison: settings, fairness, each run's state, scores and curves."""
        full, notes = self.fairness()
        summary = self.summary.set_index("configuration")
        document = {
            "table": self.table_name,
            "seed": self.seed,
            "epochs": self.epochs,
            "split": "val",
            "only_method_differs": full,
            "fairness": notes,
            "columns": self.names,
            "configurations": [
                {
                    "label": run.label,
                    "config": asdict(run.config),
                    "status": run.status,
                    "message": run.message,
                    **json.loads(summary.loc[[run.label]].drop(columns="status").to_json(orient="records"))[0],
                    "scores": _records_of(self.scores, run.label),
                    "curve": _records_of(self.curves, run.label),
                }
                for run in self.runs
            ],
        }
        return json.dumps(document, indent=1)


def _records_of(frame: pd.DataFrame, label: str) -> list[dict[str, object]]:
    """The rows of one configuration, as JSON records without the configuration column."""
    rows: list[dict[str, object]] = json.loads(
        frame[frame.configuration == label].drop(columns="configuration").to_json(orient="records")
    )
    return rows
