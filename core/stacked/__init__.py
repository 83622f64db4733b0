"""Many training runs of one table and one model, stepped together as one stacked model."""

from core.stacked.forward import NotStackedError
from core.stacked.trainer import PER_RUN_SETTINGS, StackedTrainer, StepOutcome, check_stackable

__all__ = ["PER_RUN_SETTINGS", "NotStackedError", "StackedTrainer", "StepOutcome", "check_stackable"]
