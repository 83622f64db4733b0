"""What every multi-task method is: K per-column gradients (and losses) in, one Combination out.

Methods are small objects with one job, in the style of TorchJD's aggregators. Stateless
methods keep nothing between calls; stateful ones (GradNorm, uncertainty, DWA, GradVac,
Nash-MTL) expose their state through ``state_dict`` / ``load_state_dict``. An empty state
means "not started yet", so loading ``{}`` resets a method to how it was built.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import Tensor

from core.errors import DataError
from core.mtl.combination import Combination
from core.mtl.system import GradientRows, GradientSystem

WEIGHTING = "weighting"
PROJECTION = "projection"


class Method:
    # Set by each class (a cocktail sets them per instance, from its parts).
    name: str
    description: str  # one line, for `python -m core methods`
    # Where the method may stand in a cocktail "weighting+projection".
    kind: str = WEIGHTING
    # Whether ``weights @ grads == direction`` holds (else the weights are a least-squares fit).
    exact_weights: bool = True
    # Whether this instance has warned that its solver stopped at its cap (it warns once).
    _warned_of_cap = False

    def combine(self, grads: Tensor | GradientRows, losses: Tensor, gramian: Tensor | None = None) -> Combination:
        """grads: K x d, one row per column; losses: (K,), possibly negative (a Gaussian NLL);
        gramian: grads @ grads.T in float64 when the caller has it more cheaply."""
        system = GradientSystem(grads, gramian)
        if losses.shape != (system.n_tasks,):
            raise DataError(
                f"losses must have shape ({system.n_tasks},) to match the gradients, got {tuple(losses.shape)}"
            )
        combination = self.combine_system(system, losses.detach())
        self.note_convergence(combination.converged, stacklevel=3)
        return combination

    def note_convergence(self, converged: bool, stacklevel: int = 2) -> None:
        """Warn, the first time only, that this instance's solver stopped at its cap."""
        if not converged and not self._warned_of_cap:
            self._warned_of_cap = True
            warnings.warn(
                f"method {self.name!r}: its solver stopped at its iteration cap; this step uses its last "
                "iterate (Combination.converged is False), and later capped steps are not reported again",
                RuntimeWarning,
                stacklevel=stacklevel,
            )

    def combine_system(self, system: GradientSystem, losses: Tensor) -> Combination:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The method's state as a copy: nothing the method does later changes it (the
        trainers' rollback keeps it as it is, uncopied, for a step they may undo)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise DataError(f"method {self.name!r} keeps no state, got state with keys {sorted(state)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def check_task_count(method: Method, expected: int | None, got: int) -> None:
    """Stateful methods are bound to the number of columns they first saw."""
    if expected is not None and expected != got:
        raise DataError(f"method {method.name!r} was set up for {expected} columns, got {got}")
