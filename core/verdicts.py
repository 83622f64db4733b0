"""The verdicts a finished run reports per column: the fit check, and why an overlooked
column is overlooked (``core.fit_check``, ``core.overlook_why``).

``diagnose_run`` computes both from a trained ``Trainer``, its test evaluation and the
diagnostics of its last steps; ``RunVerdicts`` gives them as ``metrics.json`` entries and
as the lines of ``core train``'s summary. The misfit threshold is
``core.fit_stats.MISFIT_DISTANCE`` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.fit_check import FIT_ROWS, ColumnFitCheck, check_fit
from core.fit_stats import MISFIT_DISTANCE
from core.overlook_why import DiagnosticsWindow, OverlookedWhy, explain_overlooked
from core.records import Evaluation
from core.trainer import Trainer

__all__ = ["MISFIT_DISTANCE", "RunVerdicts", "diagnose_run"]


@dataclass(frozen=True)
class RunVerdicts:
    fits: dict[str, ColumnFitCheck]
    whys: dict[str, OverlookedWhy]  # overlooked columns only

    def to_dict(self) -> dict[str, Any]:
        """What ``metrics.json`` keeps under "verdicts": the threshold, each column's fit
        check, and why each overlooked column is overlooked."""
        return {
            "misfit_distance": MISFIT_DISTANCE,
            "fit": {name: fit.to_dict() for name, fit in self.fits.items()},
            "why_overlooked": {name: why.to_dict() for name, why in self.whys.items()},
        }

    def sentences(self) -> dict[str, str]:
        """One short sentence per column: why it is overlooked, or that it is misfit; "" otherwise."""
        out = {name: f"misfit: {fit.sentence}" if fit.misfit else "" for name, fit in self.fits.items()}
        return {**out, **{name: why.sentence for name, why in self.whys.items()}}

    def summary_lines(self) -> list[str]:
        """One line per misfit column and per overlooked column, for a terminal."""
        lines = [f"misfit {name}: {fit.sentence}" for name, fit in self.fits.items() if fit.misfit]
        lines += [f"why {name} is overlooked: {why.sentence}" for name, why in self.whys.items()]
        return lines


def diagnose_run(
    trainer: Trainer,
    evaluation: Evaluation,
    window: DiagnosticsWindow,
    split: str = "train",
    max_rows: int = FIT_ROWS,
) -> RunVerdicts:
    """The fit check on (at most ``max_rows``) rows of ``split`` and the why of every column
    ``evaluation`` finds overlooked, from the diagnostics in ``window``."""
    fits = check_fit(trainer, split, max_rows=max_rows)
    names = [c.name for c in trainer.features]
    whys = explain_overlooked(names, evaluation.scores, window, fits)
    return RunVerdicts({f.name: f for f in fits}, whys)
